/** The requests the simulated clients make of the shipped nodes: decisions, enforcement-point verifications, the final probe. */
import type { AuthorizeRequest, Decision } from '../../src/node/node.ts';
import { WritVerificationError } from '../../src/writ/reasons.ts';
import type { Checker } from './checker.ts';
import type { SimFleet } from './fleet.ts';
import type { SimNode } from './node.ts';
import { ACTION, DOMAIN, PRINCIPALS, RESOURCES, type NodeId, type World } from './world.ts';

export class Workload {
  private readonly world: World;
  private readonly fleet: SimFleet;
  private readonly checker: Checker;
  private readonly task: (label: string, f: () => Promise<void>) => void;
  /** the final probe's answer per node */
  readonly probes = new Map<NodeId, { state: string; decision: Decision | null }>();

  constructor(world: World, fleet: SimFleet, checker: Checker, task: (label: string, f: () => Promise<void>) => void) {
    this.world = world;
    this.fleet = fleet;
    this.checker = checker;
    this.task = task;
  }

  request(principal: string): AuthorizeRequest {
    const req: AuthorizeRequest = { principal, action: ACTION, resource: this.world.prng.pick(RESOURCES), args: { path: `/doc/${this.world.step()}` } };
    const mine = this.checker.writs.filter((w) => w.claims.sub === principal);
    if (this.checker.writs.length > 0 && this.world.prng.chance(0.3)) {
      const parent = mine.length > 0 && this.world.prng.chance(0.85) ? this.world.prng.pick(mine) : this.world.prng.pick(this.checker.writs);
      req.parent = parent.writ;
    }
    return req;
  }

  /** One decision as a task: its gate runs now; it returns when its evidence is acknowledged or the append times out. */
  decide(n: SimNode, req: AuthorizeRequest, done: (d: Decision) => void): void {
    const p = n.p;
    this.world.trace(`${n.id} authorize ${req.principal} ${req.resource}${req.parent ? ' with parent' : ''}`);
    this.task(`${n.id} authorize`, async () => {
      // ActivePolicy.refresh skips re-reading the store for 100 ms of *real* time; refreshing
      // here first makes what the decision sees independent of the host's speed.
      await p.policy.refresh().catch(() => undefined);
      this.checker.checkActive(n);
      const snap = this.checker.snapshot(n);
      const d = await p.gov.authorize(req);
      this.world.trace(`${n.id} ${d.decision} ${req.principal} [${d.reasons.join(',')}] v${d.policy?.version ?? '-'} #${d.ledgerIndex ?? '-'} (gate step ${snap.step})`);
      this.checker.onDecision(n, snap, req, d);
      done(d);
    });
  }

  verify(): void {
    const writs = this.checker.writs;
    const up = this.fleet.nodes.filter((x) => x.serving);
    if (writs.length === 0 || up.length === 0) return;
    const w = this.world.prng.pick(writs);
    const n = this.world.prng.pick(up);
    const step = this.world.step();
    this.task(`${n.id} verify`, async () => {
      try {
        await n.p.gov.verify(w.writ, { audience: w.claims.aud, args: w.args, consume: false });
        this.world.trace(`${n.id} verifies a writ of ${w.claims.sub}: valid`);
        this.checker.onVerified(n.id, w, step);
      } catch (err) {
        if (!(err instanceof WritVerificationError)) throw err;
        this.world.trace(`${n.id} verifies a writ of ${w.claims.sub}: ${err.code}`);
      }
    });
  }

  probe(): void {
    const f = this.fleet;
    const revoked = new Set(f.operator.revocations.filter((r) => r.what === 'principal').map((r) => r.value));
    const principal = PRINCIPALS.find((x) => !revoked.has(x));
    if (!principal) return;
    for (const n of f.nodes) {
      const state = `${n.serving ? 'serving' : 'not serving'}, active v${n.up ? (n.p.policy.active?.bundle.manifest.version ?? 0) : '-'}, anti-rollback floor v${n.state.maxActivatedVersion(DOMAIN)}, operator at v${f.operator.current()?.version}`;
      this.probes.set(n.id, { state, decision: null });
      if (!n.serving) continue;
      const req: AuthorizeRequest = { principal, action: ACTION, resource: 'Doc::"d1"', args: { probe: true } };
      this.decide(n, req, (d) => this.probes.set(n.id, { state, decision: d }));
    }
  }
}

/**
 * Deterministic fault simulation of a Writ fleet (issue 5, point 10), in the manner of
 * TigerBeetle's VOPR and FoundationDB's simulator: one authority, a few nodes and one
 * ledger sequencer exchange messages over a simulated network under a simulated clock.
 * The nodes are the real core modules (GovernanceNode, ActivePolicy, BeaconTracker,
 * SqliteNodeState, Cedar); the authority signs with the real bundle and beacon code;
 * the sequencer keeps the real Merkle tree and signs real checkpoints.
 *
 * One seeded PRNG drives every choice: the fault profile of the run ("swarm testing":
 * each seed picks its own loss, duplication, delay/reordering, partition, crash, clock
 * skew and beacon-interval settings), the workload, and the fate of every message.
 * Events are handled one at a time from a time-ordered queue, each step ending only when
 * the real code has quiesced (scheduler.ts), so a seed replays exactly — the digest of
 * the trace proves it.
 *
 * Faults: per-message loss, delay (a slow message is held 0.1–3 s, so messages overtake
 * each other), duplication; partitions cutting a node off from the authority and/or the
 * sequencer for 1–6 s; node crashes (the process and its in-flight decisions are lost,
 * its SQLite state survives) and restarts with a new clock skew; sequencer crashes and
 * restarts; node clocks skewed by up to ±2 s. Workload: authorize requests at random
 * nodes (some with a parent writ), enforcement-point verifications of issued writs,
 * bundle publications (some short-lived), replays of old bundles (rollback attempts),
 * forged bundles and beacons, revocations of principals and writs.
 *
 * A run: 12 s of workload and faults, then every fault is healed and the fleet gets
 * 5 s of quiet to converge; a final probe asks every node for a permitted decision
 * (liveness, reported as a finding), and the final invariant checks run. The invariants
 * are defined and checked in checker.ts, in the step where what they constrain happens.
 *
 * One departure from a production node: ActivePolicy.refresh() skips re-reading the store
 * for 100 ms of *real* time (performance.now), which would make a decision depend on the
 * host's speed; the simulation calls refresh() before every decision, which is what a
 * real node does whenever 100 ms have passed since its last look.
 *
 * Replay a seed: node test/sim/run.ts --seed N [--mutation M] [--trace]
 */
import { createHash } from 'node:crypto';
import { BeaconError } from '../../src/node/freshness.ts';
import type { AuthorizeRequest, Decision } from '../../src/node/node.ts';
import { newKeyPair, type KeyPair } from '../../src/authority/keys.ts';
import { BundleError } from '../../src/reasons.ts';
import { errorMessage } from '../../src/util.ts';
import { WritVerificationError } from '../../src/writ/reasons.ts';
import { SimAuthority } from './authority.ts';
import { Checker, type Finding, type Violation } from './checker.ts';
import { SimNode } from './node.ts';
import { Prng } from './prng.ts';
import { EventQueue, quiescence, serializeWebCrypto } from './scheduler.ts';
import { SimSequencer } from './sequencer.ts';
import {
  ACTION, BEACON_INTERVALS_MS, BUNDLE_RESEND_MS, CHECKPOINT_INTERVAL_MS, DOMAIN, EPOCH_MS, MAX_SKEW_MS, PRINCIPALS, RESOURCES, RETRY_INTERVAL_MS,
  type Endpoint, type Ev, type Msg, type Mutation, type NodeId, type World,
} from './world.ts';

export const DURATION_MS = 12_000;
export const QUIET_MS = 5_000;

export interface SimOptions {
  seed: number;
  mutation?: Mutation;
  nodes?: number;
  /** keep the whole trace in the result (else only its tail) */
  keepTrace?: boolean;
}

export interface SimResult {
  seed: number;
  mutation: Mutation;
  ok: boolean;
  violations: Violation[];
  findings: Finding[];
  /** SHA-256 of the trace: equal for equal seeds */
  digest: string;
  steps: number;
  profile: Profile;
  counts: Record<string, number>;
  trace: string[];
}

export interface Profile {
  loss: number;
  dup: number;
  slow: number;
  skewMs: number;
  beaconIntervalMs: number;
  partitions: number;
  nodeCrashes: number;
  sequencerCrashes: number;
  authorizes: number;
  verifies: number;
  publishes: number;
  revokes: number;
  rollbacks: number;
  forgeries: number;
}

interface Keys {
  authority: KeyPair;
  rogue: KeyPair;
  nodes: KeyPair[];
}

// Keys do not influence any choice of the simulator, so one set serves every seed.
let keysPromise: Promise<Keys> | null = null;
function keys(n: number): Promise<Keys> {
  keysPromise ??= (async () => ({
    authority: await newKeyPair(),
    rogue: await newKeyPair(),
    nodes: await Promise.all(Array.from({ length: 8 }, () => newKeyPair())),
  }))();
  if (n > 8) throw new Error('sim: at most 8 nodes');
  return keysPromise;
}

const TRACE_TAIL = 60;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const STALL_MS = 10_000;

class Simulation implements World {
  readonly prng: Prng;
  readonly mutation: Mutation;
  private readonly queue = new EventQueue<Ev>();
  private time = 0;
  private steps = 0;
  private readonly hash = createHash('sha256');
  private readonly lines: string[] = [];
  private readonly keepTrace: boolean;
  readonly profile: Profile;
  private loss: number;
  private dup: number;
  private slow: number;
  private readonly cuts = new Map<string, number>();
  private ended = false;
  readonly counts = { messages: 0, lost: 0, duplicated: 0, cut: 0, crashes: 0 };

  // set up in init()
  authority!: SimAuthority;
  sequencer!: SimSequencer;
  nodes: SimNode[] = [];
  checker!: Checker;
  private readonly probes = new Map<NodeId, { state: string; decision: Decision | null }>();
  /** activations in flight per node: version → count (a process's, so reset by a crash) */
  private readonly activating = new Map<NodeId, Map<number, number>>();
  /** when the authority last re-sent the current bundle to each node */
  private readonly resent = new Map<NodeId, number>();

  constructor(o: SimOptions) {
    this.prng = new Prng(o.seed);
    this.mutation = o.mutation ?? 'none';
    this.keepTrace = o.keepTrace ?? false;
    const r = this.prng;
    this.profile = {
      loss: r.pick([0, 0.01, 0.05, 0.15]),
      dup: r.pick([0, 0.02, 0.1]),
      slow: r.pick([0, 0.02, 0.1, 0.25]),
      skewMs: r.pick([0, 250, MAX_SKEW_MS]),
      beaconIntervalMs: r.pick(BEACON_INTERVALS_MS),
      partitions: r.int(0, 4),
      nodeCrashes: r.int(0, 3),
      sequencerCrashes: r.int(0, 2),
      authorizes: r.int(25, 45),
      verifies: r.int(3, 8),
      publishes: r.int(0, 3),
      revokes: r.int(0, 3),
      rollbacks: r.int(0, 2),
      forgeries: r.int(0, 2),
    };
    this.loss = this.profile.loss;
    this.dup = this.profile.dup;
    this.slow = this.profile.slow;
  }

  now(): number {
    return this.time;
  }

  step(): number {
    return this.steps;
  }

  trace(line: string): void {
    const l = `${this.steps} t=${this.time} ${line}`;
    // decision ids and jtis are UUIDv7 (wall clock + randomness, inside the node): not part of the digest
    this.hash.update(l.replace(UUID, '<id>')).update('\n');
    this.lines.push(l);
    if (!this.keepTrace && this.lines.length > 2 * TRACE_TAIL) this.lines.splice(0, this.lines.length - TRACE_TAIL);
  }

  after(delayMs: number, ev: Ev): void {
    this.queue.push(this.time + delayMs, ev);
  }

  // ---- transport

  private linkCut(a: Endpoint, b: Endpoint): boolean {
    const node = a.startsWith('n') ? a : b.startsWith('n') ? b : null;
    const other = node === a ? b : a;
    if (node === null) return false;
    return (this.cuts.get(`${node}:${other}`) ?? -1) > this.time;
  }

  send(from: Endpoint, to: Endpoint, msg: Msg): void {
    this.counts.messages++;
    if (this.linkCut(from, to)) {
      this.counts.cut++;
      return;
    }
    if (this.prng.chance(this.loss)) {
      this.counts.lost++;
      this.trace(`lost ${from}->${to} ${msg.kind}`);
      return;
    }
    const copies = this.prng.chance(this.dup) ? 2 : 1;
    if (copies === 2) this.counts.duplicated++;
    for (let copy = 0; copy < copies; copy++) {
      const delay = this.prng.chance(this.slow) ? this.prng.int(100, 3000) : this.prng.int(1, 30);
      this.after(delay, { kind: 'deliver', from, to, msg, copy });
    }
  }

  private node(id: NodeId): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`sim: no node ${id}`);
    return n;
  }

  private skew(): number {
    return this.prng.int(-this.profile.skewMs, this.profile.skewMs);
  }

  /**
   * Starts a coroutine of the real code. It runs until it waits on the simulator (a ledger
   * append); the step it was started in ends only when it got there (see scheduler.ts).
   * An exception escaping the real code is a simulator failure (invariant 0).
   */
  private task(label: string, fn: () => Promise<void>): void {
    fn().catch((err: unknown) => {
      this.checker.violation(0, `${label}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    });
  }

  // ---- setup

  async init(nodeCount: number): Promise<void> {
    const k = await keys(nodeCount);
    this.authority = new SimAuthority(this, k.authority, k.rogue);
    this.sequencer = new SimSequencer(this);
    this.checker = new Checker(this, this.authority, this.sequencer, this.profile.skewMs);
    this.sequencer.onCheckpoint = (c) => this.checker.onCheckpoint(c);
    const nodeKeys = k.nodes.slice(0, nodeCount);
    const verifierKeys = { keys: nodeKeys.map((x) => x.publicJwk) };
    for (let i = 0; i < nodeCount; i++) {
      const n = new SimNode({ id: `n${i}`, world: this, seq: this.sequencer, key: nodeKeys[i] as KeyPair, verifierKeys, authorityKeys: [k.authority.publicJwk] });
      n.start(this.skew());
      this.nodes.push(n);
    }
    const p = this.profile;
    this.trace(`profile ${JSON.stringify(p)} mutation=${this.mutation}`);

    const first = await this.authority.publish(3600_000);
    this.trace(`authority publishes v${first.version}`);
    for (const n of this.nodes) this.send('authority', n.id, { kind: 'bundle', version: first.version, bytes: first.bytes, why: 'publish' });

    this.after(this.prng.int(0, 200), { kind: 'beacon-tick' });
    this.after(RETRY_INTERVAL_MS / 2, { kind: 'retry-tick' });
    this.after(CHECKPOINT_INTERVAL_MS, { kind: 'checkpoint-tick' });
    if (this.mutation === 'ack-before-durable') this.after(300, { kind: 'flush-tick' });
    const within = (lo: number, hi: number, count: number, ev: Ev) => {
      for (let i = 0; i < count; i++) this.after(this.prng.int(lo, hi), ev);
    };
    within(300, DURATION_MS, p.authorizes, { kind: 'authorize' });
    within(1000, DURATION_MS, p.verifies, { kind: 'verify' });
    within(2000, DURATION_MS - 2000, p.publishes, { kind: 'publish' });
    within(1000, DURATION_MS - 1000, p.revokes, { kind: 'revoke' });
    within(1000, DURATION_MS, p.rollbacks, { kind: 'rollback-attempt' });
    within(500, DURATION_MS, p.forgeries, { kind: 'forgery' });
    within(500, DURATION_MS - 1000, p.partitions, { kind: 'partition' });
    within(500, DURATION_MS - 1000, p.nodeCrashes, { kind: 'crash-node' });
    within(500, DURATION_MS - 1000, p.sequencerCrashes, { kind: 'crash-sequencer' });
    this.after(DURATION_MS, { kind: 'heal' });
    this.after(DURATION_MS + QUIET_MS - 1500, { kind: 'probe' });
    this.after(DURATION_MS + QUIET_MS, { kind: 'end' });
  }

  // ---- the loop

  async run(): Promise<void> {
    // A step that never settles means a task waits on something the simulator does not
    // control (a real timer, a lock held by a parked task, real I/O): fail loudly, not hang.
    let stalled: (err: Error) => void = () => undefined;
    const stall = new Promise<never>((_, reject) => (stalled = reject));
    stall.catch(() => undefined);
    let seen = -1;
    const watchdog = setInterval(() => {
      if (this.steps === seen) stalled(new Error(`sim: step ${this.steps} did not settle within ${STALL_MS / 1000} s of real time; a task waits on something the simulator does not control`));
      seen = this.steps;
    }, STALL_MS);
    try {
      while (!this.ended) {
        const next = this.queue.pop();
        if (!next) throw new Error('sim: the event queue ran dry');
        this.time = next.at;
        this.steps++;
        await Promise.race([this.handle(next.event).then(quiescence), stall]);
      }
    } finally {
      clearInterval(watchdog);
    }
  }

  private async handle(ev: Ev): Promise<void> {
    switch (ev.kind) {
      case 'deliver':
        return this.deliver(ev.from, ev.to, ev.msg);
      case 'beacon-tick': {
        const b = await this.authority.beacon();
        this.trace(`authority beacon seq=${b.seq}`);
        for (const n of this.nodes) this.send('authority', n.id, { kind: 'beacon', seq: b.seq, jws: b.jws });
        this.after(this.profile.beaconIntervalMs, ev);
        return;
      }
      case 'retry-tick':
        await this.retry();
        this.after(RETRY_INTERVAL_MS, ev);
        return;
      case 'checkpoint-tick':
        if (this.sequencer.up) this.sequencer.checkpoint();
        this.after(CHECKPOINT_INTERVAL_MS, ev);
        return;
      case 'flush-tick':
        if (this.sequencer.up) this.sequencer.flush();
        this.after(300, ev);
        return;
      case 'append-timeout': {
        const n = this.node(ev.node);
        if (n.up && n.p.incarnation === ev.incarnation) n.p.ledger.onTimeout(ev.id);
        return;
      }
      case 'authorize':
        return this.authorize();
      case 'verify':
        return this.verify();
      case 'publish':
        return this.publish();
      case 'revoke':
        return this.revoke();
      case 'rollback-attempt': {
        const cur = this.authority.current();
        const n = this.prng.pick(this.nodes);
        if (!cur || cur.version < 2) return;
        const old = this.authority.byVersion(this.prng.int(1, cur.version - 1));
        if (!old) return;
        this.trace(`replay of old bundle v${old.version} to ${n.id}`);
        this.send('authority', n.id, { kind: 'bundle', version: old.version, bytes: old.bytes, why: 'rollback' });
        return;
      }
      case 'forgery': {
        const n = this.prng.pick(this.nodes);
        if (this.prng.chance(0.5)) {
          const bytes = await this.authority.forge();
          this.trace(`forged bundle to ${n.id}`);
          this.send('authority', n.id, { kind: 'bundle', version: 0, bytes, why: 'forged' });
        } else {
          const b = await this.authority.beacon(true);
          this.trace(`forged beacon to ${n.id}`);
          this.send('authority', n.id, { kind: 'beacon', seq: b.seq, jws: b.jws, forged: true });
        }
        return;
      }
      case 'partition': {
        const n = this.prng.pick(this.nodes);
        const which = this.prng.pick(['authority', 'sequencer', 'both'] as const);
        const ms = this.prng.int(1000, 6000);
        for (const link of which === 'both' ? (['authority', 'sequencer'] as const) : [which]) {
          this.cuts.set(`${n.id}:${link}`, Math.max(this.cuts.get(`${n.id}:${link}`) ?? 0, this.time + ms));
          this.after(ms, { kind: 'partition-end', node: n.id, link });
        }
        this.trace(`partition ${n.id} from ${which} for ${ms} ms`);
        return;
      }
      case 'partition-end':
        if ((this.cuts.get(`${ev.node}:${ev.link}`) ?? 0) <= this.time) this.trace(`partition ${ev.node}:${ev.link} heals`);
        return;
      case 'crash-node': {
        const up = this.nodes.filter((n) => n.up);
        if (up.length === 0) return;
        const n = this.prng.pick(up);
        n.crash();
        this.activating.delete(n.id);
        this.counts.crashes++;
        this.trace(`${n.id} crashes`);
        this.after(this.prng.int(200, 4000), { kind: 'restart-node', node: n.id });
        return;
      }
      case 'restart-node':
        return this.restartNode(this.node(ev.node));
      case 'crash-sequencer':
        if (!this.sequencer.up) return;
        this.sequencer.crash();
        this.counts.crashes++;
        this.trace('sequencer crashes');
        this.after(this.prng.int(300, 3000), { kind: 'restart-sequencer' });
        return;
      case 'restart-sequencer':
        if (this.sequencer.up) return;
        this.sequencer.up = true;
        this.trace('sequencer restarts');
        return;
      case 'heal':
        this.trace('heal: every fault ends; quiet until the end');
        this.loss = 0;
        this.dup = 0;
        this.slow = 0;
        this.cuts.clear();
        if (!this.sequencer.up) {
          this.sequencer.up = true;
          this.trace('sequencer restarts');
        }
        for (const n of this.nodes) if (!n.up) await this.restartNode(n);
        {
          // no publication during the quiet: a bundle that would expire before the end is replaced now
          const cur = this.authority.current();
          if (cur && cur.expires < EPOCH_MS + DURATION_MS + QUIET_MS + 5000) await this.publish(3600_000);
        }
        return;
      case 'probe':
        return this.probe();
      case 'end':
        this.end();
        return;
    }
  }

  private async restartNode(n: SimNode): Promise<void> {
    if (n.up) return;
    n.start(this.skew());
    this.trace(`${n.id} restarts (skew ${n.p.skewMs} ms)`);
    this.task(`${n.id} restart`, async () => {
      await n.p.policy.refresh().catch(() => undefined);
      this.checker.checkActive(n);
      this.send(n.id, 'authority', { kind: 'status', node: n.id, version: n.p.policy.active?.bundle.manifest.version ?? 0 });
    });
  }

  private async deliver(from: Endpoint, to: Endpoint, msg: Msg): Promise<void> {
    if (this.linkCut(from, to)) {
      this.counts.cut++;
      return;
    }
    if (to === 'authority') {
      if (msg.kind === 'revoke-ack') {
        if (this.authority.onAck(msg.r, msg.node, this.nodes.length)) this.trace(`revocation ${msg.r} acknowledged fleet-wide`);
      } else if (msg.kind === 'status') {
        this.authority.reported.set(msg.node, msg.version);
      }
      return;
    }
    if (to === 'sequencer') {
      if (!this.sequencer.up || msg.kind !== 'append') return;
      this.sequencer.onAppend(msg.node, msg.id, msg.req);
      return;
    }
    const n = this.node(to);
    if (!n.up) return;
    const p = n.p;
    switch (msg.kind) {
      case 'beacon':
        try {
          await p.tracker.offer(msg.jws);
        } catch (err) {
          if (!(err instanceof BeaconError)) throw err;
          this.trace(`${n.id} refuses beacon seq=${msg.seq}`); // (the message names a key id, random per process)
        }
        if (msg.forged) this.checker.onForgedBeaconOffered(n, msg.seq);
        return;
      case 'bundle':
        return this.activate(n, msg);
      case 'revoke':
        n.applyRevocation(msg.r, msg.what, msg.value);
        this.trace(`${n.id} applies revocation ${msg.r} (${msg.what}); applied up to ${n.appliedRevocations()}`);
        this.send(n.id, 'authority', { kind: 'revoke-ack', r: msg.r, node: n.id });
        return;
      case 'append-ack':
        p.ledger.onAck(msg.id, msg.index);
        return;
      default:
        return;
    }
  }

  private async activate(n: SimNode, msg: Extract<Msg, { kind: 'bundle' }>): Promise<void> {
    const p = n.p;
    const floorAtStart = this.checker.floor(n.id);
    const inFlight = this.activating.get(n.id) ?? new Map<number, number>();
    this.activating.set(n.id, inFlight);
    const busy = [...inFlight].some(([v, count]) => v >= msg.version && count > 0);
    this.task(`${n.id} activate v${msg.version}`, async () => {
      inFlight.set(msg.version, (inFlight.get(msg.version) ?? 0) + 1);
      try {
        const r = await p.policy.activate(msg.bytes);
        const v = r.bundle.manifest.version;
        this.trace(`${n.id} activates v${v} (#${r.ledgerIndex}, ${msg.why})`);
        this.checker.onActivated(n.id, v, msg.why, floorAtStart);
      } catch (err) {
        if (!(err instanceof BundleError)) throw err;
        this.trace(`${n.id} refuses v${msg.version} (${msg.why}): ${err.code}`);
        this.checker.onRefused(n.id, msg.version, msg.why, err.code, busy);
      } finally {
        inFlight.set(msg.version, (inFlight.get(msg.version) ?? 1) - 1);
      }
      this.checker.checkActive(n);
      this.send(n.id, 'authority', { kind: 'status', node: n.id, version: p.policy.active?.bundle.manifest.version ?? 0 });
    });
  }

  private async retry(): Promise<void> {
    const cur = this.authority.current();
    // the authority re-publishes before the current bundle expires
    if (cur && cur.expires - (EPOCH_MS + this.time) < 3000 && !this.ended) await this.publish(3600_000);
    const now = this.authority.current();
    for (const n of this.nodes) {
      const sent = this.resent.get(n.id) ?? -Infinity;
      if (now && (this.authority.reported.get(n.id) ?? 0) < now.version && this.time - Math.max(sent, now.from) >= BUNDLE_RESEND_MS) {
        this.resent.set(n.id, this.time);
        this.send('authority', n.id, { kind: 'bundle', version: now.version, bytes: now.bytes, why: 'resend' });
      }
      for (const r of this.authority.revocations) {
        if (!r.acked.has(n.id)) this.send('authority', n.id, { kind: 'revoke', r: r.r, what: r.what, value: r.value });
      }
    }
  }

  private async publish(lifetimeMs?: number): Promise<void> {
    const life = lifetimeMs ?? (this.prng.chance(0.15) ? this.prng.int(6000, 12000) : 3600_000);
    const b = await this.authority.publish(life);
    this.trace(`authority publishes v${b.version} (expires in ${life} ms)`);
    for (const n of this.nodes) this.send('authority', n.id, { kind: 'bundle', version: b.version, bytes: b.bytes, why: 'publish' });
  }

  private revoke(): void {
    const writs = this.checker.writs;
    const byWrit = writs.length > 0 && this.prng.chance(0.4);
    const r = byWrit ? this.authority.revoke('writ', this.prng.pick(writs).claims.jti) : this.authority.revoke('principal', this.prng.pick(PRINCIPALS));
    this.trace(`authority revokes ${r.what} (revocation ${r.r})`);
    for (const n of this.nodes) this.send('authority', n.id, { kind: 'revoke', r: r.r, what: r.what, value: r.value });
  }

  private request(principal: string): AuthorizeRequest {
    const req: AuthorizeRequest = { principal, action: ACTION, resource: this.prng.pick(RESOURCES), args: { path: `/doc/${this.steps}` } };
    const mine = this.checker.writs.filter((w) => w.claims.sub === principal);
    if (this.checker.writs.length > 0 && this.prng.chance(0.3)) {
      const parent = mine.length > 0 && this.prng.chance(0.85) ? this.prng.pick(mine) : this.prng.pick(this.checker.writs);
      req.parent = parent.writ;
    }
    return req;
  }

  private async authorize(): Promise<void> {
    const n = this.prng.pick(this.nodes);
    const req = this.request(this.prng.pick(PRINCIPALS));
    if (!n.up) {
      this.trace(`${n.id} is down: request not served`);
      return;
    }
    await this.decide(n, req, (d) => void d);
  }

  /** One decision as a task: its gate runs now; it returns when its ledger append is acked or times out. */
  private async decide(n: SimNode, req: AuthorizeRequest, done: (d: Decision) => void): Promise<void> {
    const p = n.p;
    this.trace(`${n.id} authorize ${req.principal} ${req.resource}${req.parent ? ' with parent' : ''}`);
    this.task(`${n.id} authorize`, async () => {
      // ActivePolicy.refresh skips re-reading the store for 100 ms of *real* time; refreshing
      // here first makes what the decision sees independent of the host's speed.
      await p.policy.refresh().catch(() => undefined);
      this.checker.checkActive(n);
      const snap = this.checker.snapshot(n);
      const d = await p.gov.authorize(req);
      this.trace(`${n.id} ${d.decision} ${req.principal} [${d.reasons.join(',')}] v${d.policy?.version ?? '-'} #${d.ledgerIndex ?? '-'} (gate step ${snap.step})`);
      this.checker.onDecision(n, snap, req, d);
      done(d);
    });
  }

  private async verify(): Promise<void> {
    const writs = this.checker.writs;
    const up = this.nodes.filter((x) => x.up);
    if (writs.length === 0 || up.length === 0) return;
    const w = this.prng.pick(writs);
    const n = this.prng.pick(up);
    const step = this.steps;
    this.task(`${n.id} verify`, async () => {
      try {
        await n.p.gov.verify(w.writ, { audience: w.claims.aud, args: w.args, consume: false });
        this.trace(`${n.id} verifies a writ of ${w.claims.sub}: valid`);
        this.checker.onVerified(n.id, w, step);
      } catch (err) {
        if (!(err instanceof WritVerificationError)) throw err;
        this.trace(`${n.id} verifies a writ of ${w.claims.sub}: ${err.code}`);
      }
    });
  }

  private async probe(): Promise<void> {
    const revoked = new Set(this.authority.revocations.filter((r) => r.what === 'principal').map((r) => r.value));
    const principal = PRINCIPALS.find((x) => !revoked.has(x));
    if (!principal) return;
    for (const n of this.nodes) {
      const state = `active v${n.up ? (n.p.policy.active?.bundle.manifest.version ?? 0) : '-'}, anti-rollback floor v${n.state.maxActivatedVersion(DOMAIN)}, authority at v${this.authority.current()?.version}`;
      this.probes.set(n.id, { state, decision: null });
      const req: AuthorizeRequest = { principal, action: ACTION, resource: 'Doc::"d1"', args: { probe: true } };
      await this.decide(n, req, (d) => this.probes.set(n.id, { state, decision: d }));
    }
  }

  private end(): void {
    this.ended = true;
    this.trace('end');
    this.sequencer.checkpoint();
    for (const [id, { state, decision: d }] of this.probes) {
      if (d?.decision !== 'allow') {
        const why = d ? `${d.reasons.join(',')}: ${d.message}` : 'no answer';
        this.checker.finding('not-live', `${id} cannot decide ${QUIET_MS - 1500} ms after every fault healed (${state}): ${why}`, id);
      }
    }
    this.checker.final();
  }

  result(seed: number): SimResult {
    return {
      seed,
      mutation: this.mutation,
      ok: this.checker.violations.length === 0,
      violations: this.checker.violations,
      findings: this.checker.findings,
      digest: this.hash.digest('hex'),
      steps: this.steps,
      profile: this.profile,
      counts: { ...this.counts, ...this.checker.counts, writs: this.checker.writs.length, ledger: this.sequencer.size(), revocations: this.authority.revocations.length, versions: this.authority.bundles.length },
      trace: this.keepTrace ? this.lines : this.lines.slice(-TRACE_TAIL),
    };
  }

  close(): void {
    for (const n of this.nodes) n.close();
  }
}

/** Runs one seed to the end and reports what the invariant checker saw. */
export async function runSeed(o: SimOptions): Promise<SimResult> {
  serializeWebCrypto();
  const sim = new Simulation(o);
  try {
    await sim.init(o.nodes ?? 3);
    try {
      await sim.run();
    } catch (err) {
      sim.checker.violation(0, `the simulator failed: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}`);
    }
    return sim.result(o.seed);
  } finally {
    sim.close();
  }
}

export function describeFailure(r: SimResult): string {
  const lines = [
    `seed ${r.seed} (mutation ${r.mutation}) violates:`,
    ...r.violations.map((v) => `  [invariant ${v.invariant}] step ${v.step} t=${v.time}: ${v.message}`),
    `replay: node test/sim/run.ts --seed ${r.seed}${r.mutation === 'none' ? '' : ` --mutation ${r.mutation}`} --trace`,
    `     or: WRIT_SIM_SEED=${r.seed} node --test test/fleet-simulation.test.ts`,
    'trace tail:',
    ...r.trace.slice(-30).map((l) => `  ${l}`),
  ];
  return lines.join('\n');
}

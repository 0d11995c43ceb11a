/**
 * Deterministic fault simulation of a Writ fleet (issue 5, point 10; issue 11, point 3), in
 * the manner of TigerBeetle's VOPR and FoundationDB's simulator. It runs the code that
 * ships: the authority (authority/fleet-authority.ts), a few nodes (GovernanceNode with
 * the fleet membership of node/fleet-member.ts: every watch step, the keyring, status
 * reports, the evidence ledger and single use over the bus) and the sequencer
 * (ledger/sequencer.ts with the one checkpoint signer), over the shipped in-process bus
 * (sync/in-process-bus.ts) whose network and clock are simulated (sim-bus.ts). Only the
 * operator and attacker around them (operator.ts) and the observers that tell the checker
 * what happened are the simulation's own.
 *
 * One seeded PRNG drives every choice: the fault profile of the run ("swarm testing":
 * each seed picks its own loss, duplication, delay/reordering, partition, crash, clock
 * skew and beacon-interval settings), the workload, and the fate of every message.
 * Events are handled one at a time from a time-ordered queue, each step ending only when
 * the real code has quiesced (scheduler.ts), so a seed replays exactly — the digest of
 * the trace proves it.
 *
 * Faults: loss, delay (a slow message is held 0.1–3 s, so requests overtake each other)
 * and duplication of requests and answers on the bus; deliveries of watches delayed (in
 * order); partitions cutting a node, the authority or the sequencer off from the bus for
 * 1–6 s; node crashes (the process and its in-flight decisions are lost, its SQLite state
 * survives) and restarts with a new clock skew; sequencer crashes and restarts (its store
 * survives); node clocks skewed by up to ±2 s. Workload: authorize requests at random
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
import { BUNDLE_KEY } from '../../src/node/fleet-bus.ts';
import { errorMessage, sha256Hex } from '../../src/util.ts';
import { Checker } from './checker.ts';
import { SimFleet } from './fleet.ts';
import type { SimNode } from './node.ts';
import { Prng } from './prng.ts';
import { Workload } from './workload.ts';
import { pickProfile, type Profile, type SimResult } from './profile.ts';
import { EventQueue, quiescence, serializeWebCrypto } from './scheduler.ts';
import { SimNetwork } from './sim-bus.ts';
import { DOMAIN, EPOCH_MS, OPERATOR_INTERVAL_MS, PRINCIPALS, type Endpoint, type Ev, type Mutation, type World } from './world.ts';

export { describeFailure, type Profile, type SimResult } from './profile.ts';

export const DURATION_MS = 12_000;
export const QUIET_MS = 5_000;

export interface SimOptions {
  seed: number;
  mutation?: Mutation;
  nodes?: number;
  /** keep the whole trace in the result (else only its tail) */
  keepTrace?: boolean;
}

const TRACE_TAIL = 60;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const STALL_MS = 10_000;

class Simulation implements World {
  readonly prng: Prng;
  readonly mutation: Mutation;
  private readonly queue = new EventQueue<Ev>();
  private readonly calls = new Map<number, () => void>();
  private nextCall = 0;
  private time = 0;
  private steps = 0;
  private readonly hash = createHash('sha256');
  private readonly lines: string[] = [];
  private readonly keepTrace: boolean;
  readonly profile: Profile;
  private ended = false;
  readonly counts = { crashes: 0 };
  readonly network: SimNetwork;
  fleet!: SimFleet;
  checker!: Checker;
  workload!: Workload;

  constructor(o: SimOptions) {
    this.prng = new Prng(o.seed);
    this.mutation = o.mutation ?? 'none';
    this.keepTrace = o.keepTrace ?? false;
    this.profile = pickProfile(this.prng);
    this.network = new SimNetwork(this, this.profile);
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

  schedule(delayMs: number, f: () => void): () => void {
    const id = this.nextCall++;
    this.calls.set(id, f);
    this.after(delayMs, { kind: 'call', id });
    return () => void this.calls.delete(id);
  }

  private skew(): number {
    return this.prng.int(-this.profile.skewMs, this.profile.skewMs);
  }

  /**
   * Starts a coroutine of the shipped code. It runs until it waits on the simulator (an
   * answer on the bus, a timer); the step it was started in ends only when it got there
   * (scheduler.ts). An exception escaping it is a simulator failure (invariant 0).
   */
  private task = (label: string, fn: () => Promise<void>): void => {
    fn().catch((err: unknown) => this.checker.violation(0, `${label}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  };

  /** a node process that exited is started again a second later */
  private supervise = (n: SimNode): void => this.after(1000, { kind: 'restart-node', node: n.id });

  // ---- setup

  async init(nodeCount: number): Promise<void> {
    this.fleet = await SimFleet.create(this, this.network, nodeCount, this.task);
    const f = this.fleet;
    this.checker = new Checker(this, f.operator, f.sequencer, () => f.server.evidence(), this.profile.skewMs);
    f.checker = this.checker;
    this.workload = new Workload(this, f, this.checker, this.task);
    f.sequencer.onCheckpoint = (c) => this.checker.onCheckpoint(c);
    this.trace(`profile ${JSON.stringify(this.profile)} mutation=${this.mutation}`);
    f.sequencer.start();
    f.startAuthority(this.profile.beaconIntervalMs);
    for (const n of f.nodes) f.startNode(n, this.skew(), this.supervise);
    this.task('first bundle', async () => void (await f.operator.publish(f.operatorBus, 3600_000)));

    this.after(OPERATOR_INTERVAL_MS, { kind: 'operator-tick' });
    const p = this.profile;
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
        if (this.fleet.authority) this.checker.updateAcks(this.fleet.authority.view, this.fleet.nodes.map((n) => n.id));
      }
    } finally {
      clearInterval(watchdog);
    }
  }

  private async handle(ev: Ev): Promise<void> {
    const f = this.fleet;
    switch (ev.kind) {
      case 'call': {
        const fn = this.calls.get(ev.id);
        this.calls.delete(ev.id);
        fn?.();
        return;
      }
      case 'operator-tick':
        this.operatorLoop();
        this.after(OPERATOR_INTERVAL_MS, ev);
        return;
      case 'authorize': {
        const n = this.prng.pick(f.nodes);
        const req = this.workload.request(this.prng.pick(PRINCIPALS));
        if (!n.serving) return this.trace(`${n.id} is not serving: request not served`);
        return this.workload.decide(n, req, () => undefined);
      }
      case 'verify':
        return this.workload.verify();
      case 'publish':
        return this.publish();
      case 'revoke': {
        const writs = this.checker.writs;
        const byWrit = writs.length > 0 && this.prng.chance(0.4);
        const [what, value] = byWrit ? (['writ', this.prng.pick(writs).claims.jti] as const) : (['principal', this.prng.pick(PRINCIPALS)] as const);
        this.trace(`operator revokes ${what}`);
        this.task('revoke', async () => void (await f.operator.revoke(f.operatorBus, what, value)));
        return;
      }
      case 'rollback-attempt': {
        const cur = f.operator.current();
        if (!cur || cur.version < 2) return;
        const v = this.prng.int(1, cur.version - 1);
        this.trace(`attacker puts old bundle v${v}`);
        this.task('rollback', () => f.operator.rollback(f.attackerBus, v));
        return;
      }
      case 'forgery': {
        const bundle = this.prng.chance(0.5);
        this.trace(`attacker puts a forged ${bundle ? 'bundle' : 'beacon'}`);
        this.task('forgery', () => (bundle ? f.operator.forgeBundle(f.attackerBus) : f.operator.forgeBeacon(f.attackerBus)));
        return;
      }
      case 'partition': {
        const who: Endpoint = this.prng.pick([...f.nodes.map((n) => n.id), 'authority', 'sequencer'] as Endpoint[]);
        const ms = this.prng.int(1000, 6000);
        this.network.cut(who, ms);
        this.after(ms, { kind: 'partition-end', endpoint: who });
        this.trace(`partition ${who} from the bus for ${ms} ms`);
        return;
      }
      case 'partition-end':
        if (!this.network.isCut(ev.endpoint)) this.trace(`partition of ${ev.endpoint} heals`);
        return;
      case 'crash-node': {
        const up = f.nodes.filter((n) => n.up);
        if (up.length === 0) return;
        const n = this.prng.pick(up);
        n.crash();
        this.counts.crashes++;
        this.trace(`${n.id} crashes`);
        this.after(this.prng.int(200, 4000), { kind: 'restart-node', node: n.id });
        return;
      }
      case 'restart-node': {
        const n = f.node(ev.node);
        if (!n.up) f.startNode(n, this.skew(), this.supervise);
        return;
      }
      case 'crash-sequencer':
        if (!f.sequencer.up) return;
        f.sequencer.crash();
        this.counts.crashes++;
        this.trace('sequencer crashes');
        this.after(this.prng.int(300, 3000), { kind: 'restart-sequencer' });
        return;
      case 'restart-sequencer':
        if (f.sequencer.up) return;
        f.sequencer.start();
        this.trace('sequencer restarts');
        return;
      case 'heal':
        this.trace('heal: every fault ends; quiet until the end');
        this.network.heal();
        if (!f.sequencer.up) {
          f.sequencer.start();
          this.trace('sequencer restarts');
        }
        for (const n of f.nodes) if (!n.up) f.startNode(n, this.skew(), this.supervise);
        {
          // no publication during the quiet: a bundle that would expire before the end is replaced now
          const cur = f.operator.current();
          if (cur && cur.expires < EPOCH_MS + DURATION_MS + QUIET_MS + 5000) await this.publish(3600_000);
        }
        return;
      case 'probe':
        return this.workload.probe();
      case 'end':
        return this.end();
    }
  }

  /** `writ policy push` again when the channel does not hold the current bundle (lost, rolled back, forged over); a new version before one expires. */
  private operatorLoop(): void {
    const f = this.fleet;
    const cur = f.operator.current();
    if (!cur || this.ended) return;
    if (cur.expires - (EPOCH_MS + this.time) < 3000) return void this.publish(3600_000);
    const held = f.server.channel(`bundles:${DOMAIN}`).newest(BUNDLE_KEY);
    if (!held || sha256Hex(held.value) !== sha256Hex(cur.bytes)) {
      this.trace(`operator pushes v${cur.version} again`);
      this.task('push again', () => f.operator.push(f.operatorBus, cur.bytes, `v${cur.version}`));
    }
  }

  private async publish(lifetimeMs?: number): Promise<void> {
    const life = lifetimeMs ?? (this.prng.chance(0.15) ? this.prng.int(6000, 12000) : 3600_000);
    this.trace(`operator publishes v${this.fleet.operator.bundles.length + 1} (expires in ${life} ms)`);
    this.task('publish', async () => void (await this.fleet.operator.publish(this.fleet.operatorBus, life)));
  }

  private async end(): Promise<void> {
    this.ended = true;
    this.trace('end');
    await this.fleet.sequencer.checkpoint();
    for (const [id, { state, decision: d }] of this.workload.probes) {
      if (d?.decision !== 'allow') {
        const why = d ? `${d.reasons.join(',')}: ${d.message}` : 'no answer';
        this.checker.finding('not-live', `${id} cannot decide ${QUIET_MS - 1500} ms after every fault healed (${state}): ${why}`, id);
      }
    }
    this.checker.final();
  }

  result(seed: number): SimResult {
    const f = this.fleet;
    return {
      seed,
      mutation: this.mutation,
      ok: this.checker.violations.length === 0,
      violations: this.checker.violations,
      findings: this.checker.findings,
      digest: this.hash.digest('hex'),
      steps: this.steps,
      profile: this.profile,
      counts: { ...this.network.counts, ...this.counts, ...this.checker.counts, writs: this.checker.writs.length, ledger: f.sequencer.size(), stream: f.server.evidence().length, revocations: f.operator.revocations.length, versions: f.operator.bundles.length },
      trace: this.keepTrace ? this.lines : this.lines.slice(-TRACE_TAIL),
    };
  }

  close(): void {
    this.fleet?.close();
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

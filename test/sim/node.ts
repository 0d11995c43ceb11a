/**
 * A simulated fleet node: the shipped node — GovernanceNode, ActivePolicy, BeaconTracker,
 * SqliteNodeState, the evidence ledger over the bus (BusLedger), fleet-wide single use
 * (busSingleUse) and the fleet membership with every watch step, the keyring and status
 * reports (joinFleet) — on its own connection to the simulated bus and its own skewed clock.
 * What the sim adds are observers around two shipped steps (applyBundle, offerBeacon) that
 * tell the checker what happened, and the mutations' broken copies.
 *
 * A crash loses the process: its connection (no answer reaches it, its watches stop), its
 * timers, the beacon tracker, the in-memory active bundle, every decision in flight. The
 * disk survives: the SQLite database (bundles, anti-rollback floor, revocations, consumed jtis).
 */
import { DatabaseSync } from 'node:sqlite';
import type { JWK } from 'jose';
import type { Clock } from '../../src/clock.ts';
import type { KeyPair } from '../../src/authority/keys.ts';
import type { Ledger } from '../../src/ledger/ledger.ts';
import { ActivePolicy } from '../../src/node/active-policy.ts';
import { BusLedger } from '../../src/node/bus-ledger.ts';
import { busSingleUse } from '../../src/node/bus-single-use.ts';
import type { FleetBus } from '../../src/node/fleet-bus.ts';
import { FLEET_HANDLERS, type FleetHandlers } from '../../src/node/fleet-handlers.ts';
import { joinFleet, RevocationCursor, type FleetMember } from '../../src/node/fleet-member.ts';
import { BeaconTracker } from '../../src/node/freshness.ts';
import { GovernanceNode } from '../../src/node/node.ts';
import { certifiedJwk, verifyNodeCertificate } from '../../src/node/node-certificate.ts';
import { layeredSingleUse, stateSingleUse } from '../../src/node/single-use.ts';
import { SqliteNodeState } from '../../src/node/sqlite-state.ts';
import type { InProcessBusServer } from '../../src/sync/in-process-bus.ts';
import { countWithoutRevoking, OptimisticLedger } from './mutations.ts';
import { simClock } from './sim-bus.ts';
import { BUS_TIMEOUT_MS, DOMAIN, type NodeId, type World } from './world.ts';

/** One node process (an incarnation) on top of its surviving disk. */
export interface Process {
  incarnation: number;
  skewMs: number;
  clock: Clock;
  bus: FleetBus;
  policy: ActivePolicy;
  tracker: BeaconTracker;
  cursor: RevocationCursor;
  gov: GovernanceNode;
  /** set once joinFleet resolved: the node serves from then on */
  member: FleetMember | null;
  /** leaf bytes of every evidence append the stream acknowledged to this process, by index */
  acked: Map<number, Uint8Array>;
  alive: boolean;
}

/** What the simulation watches of the shipped steps (it does not change them). */
export interface NodeObserver {
  /** wraps the shipped applyBundle and offerBeacon steps with observation */
  handlers(n: SimNode, shipped: FleetHandlers): Partial<FleetHandlers>;
}

export class SimNode {
  readonly id: NodeId;
  private readonly world: World;
  private readonly server: InProcessBusServer;
  private readonly key: KeyPair;
  private readonly certificate: string;
  private readonly authorityKeys: JWK[];
  private readonly observer: NodeObserver;
  private readonly db = new DatabaseSync(':memory:');
  /** disk: the node's SQLite state */
  readonly state = new SqliteNodeState(this.db);
  private proc: Process | null = null;
  private incarnations = 0;

  constructor(o: { id: NodeId; world: World; server: InProcessBusServer; key: KeyPair; certificate: string; authorityKeys: JWK[]; observer: NodeObserver }) {
    this.id = o.id;
    this.world = o.world;
    this.server = o.server;
    this.key = o.key;
    this.certificate = o.certificate;
    this.authorityKeys = o.authorityKeys;
    this.observer = o.observer;
  }

  get up(): boolean {
    return this.proc !== null;
  }

  /** up and joined: it answers requests */
  get serving(): boolean {
    return this.proc !== null && this.proc.member !== null;
  }

  /** the running process; throws if the node is down */
  get p(): Process {
    if (!this.proc) throw new Error(`sim: node ${this.id} is down`);
    return this.proc;
  }

  /** this node's clock: true simulated time plus its skew */
  clock(): Date {
    return new Date(this.p.clock.now());
  }

  /** Starts a process; it serves once it joined the fleet (`onJoined`). */
  async start(skewMs: number, onJoined: () => void): Promise<void> {
    const incarnation = ++this.incarnations;
    const proc = { alive: true } as Process;
    const clock = simClock(this.world, skewMs, () => proc.alive);
    const now = () => new Date(clock.now());
    const bus = this.server.connect(this.id, { timeoutMs: BUS_TIMEOUT_MS, log: (s) => this.world.trace(`${this.id}: ${s}`) });
    const acked = new Map<number, Uint8Array>();
    // the shipped evidence ledger; the sim only notes what the stream acknowledged
    const stream = bus.evidence;
    const observed = { ...stream, publish: async (subject: string, leaf: Uint8Array, msgId: string) => {
      const seq = await stream.publish(subject, leaf, msgId);
      acked.set(seq - 1, leaf);
      return seq;
    } };
    const busLedger = new BusLedger(observed, bus.evidenceSubject(DOMAIN, this.id));
    const ledger: Ledger = this.world.mutation === 'writ-before-evidence' ? new OptimisticLedger(busLedger) : busLedger;
    const policy = new ActivePolicy({ state: this.state, ledger, trust: { keys: this.authorityKeys, threshold: 1 }, domain: DOMAIN, now });
    const cursor = new RevocationCursor();
    const tracker = new BeaconTracker({ keys: this.authorityKeys, domain: DOMAIN, appliedRevocations: () => cursor.applied });
    const cert = await verifyNodeCertificate(this.certificate, this.authorityKeys, now());
    const gov = new GovernanceNode({
      identity: { nodeId: this.id, domain: DOMAIN, kid: this.key.kid, privateKey: this.key.privateKey, verifierKeys: { keys: [certifiedJwk(cert)] } },
      policy,
      ledger,
      state: this.state,
      clock,
      singleUse: layeredSingleUse(stateSingleUse(this.state), busSingleUse(bus.consumed, { nodeId: this.id, now })),
      ...(this.world.mutation === 'no-freshness' ? {} : { freshness: tracker }),
    });
    Object.assign(proc, { incarnation, skewMs, clock, bus, policy, tracker, cursor, gov, member: null, acked });
    this.proc = proc;
    await policy.refresh().catch(() => undefined);
    const handlers = { ...this.observer.handlers(this, FLEET_HANDLERS), ...(this.world.mutation === 'applied-before-revoked' && { applyRevocation: countWithoutRevoking }) };
    const member = await joinFleet({ bus, node: gov, state: this.state, evidence: ledger, beacons: tracker, cursor, certificate: this.certificate, authorityKeys: this.authorityKeys, clock, log: (s) => this.world.trace(s), handlers });
    if (!proc.alive) return member.stop();
    proc.member = member;
    onJoined();
  }

  crash(): void {
    const p = this.proc;
    if (!p) return;
    p.alive = false;
    p.member?.stop();
    void p.bus.close();
    p.policy.active?.engine.dispose();
    this.proc = null;
  }

  /** end of the run: release the database */
  close(): void {
    this.crash();
    this.db.close();
  }
}

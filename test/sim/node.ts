/**
 * A simulated fleet node: the real GovernanceNode, ActivePolicy, BeaconTracker and
 * SqliteNodeState, wired to the simulated clock (plus this node's skew) and to a ledger
 * whose appends travel through the simulated transport to the sequencer.
 *
 * A crash loses the process: the beacon tracker, the in-memory active bundle, every
 * decision in flight (its pending appends are dropped and never settle: no response ever
 * leaves a dead process). The disk survives: the SQLite database (bundles, anti-rollback
 * floor, revocations, consumed jtis) and the set of revocation-list versions applied.
 */
import { DatabaseSync } from 'node:sqlite';
import type { JSONWebKeySet, JWK } from 'jose';
import type { KeyPair } from '../../src/authority/keys.ts';
import type { AppendRequest, Ledger, LedgerEntry, WritIndexRow } from '../../src/ledger/ledger.ts';
import type { LeafType } from '../../src/ledger/leaf.ts';
import { ActivePolicy } from '../../src/node/active-policy.ts';
import { BeaconTracker } from '../../src/node/freshness.ts';
import { GovernanceNode } from '../../src/node/node.ts';
import { SqliteNodeState } from '../../src/node/sqlite-state.ts';
import type { SimSequencer } from './sequencer.ts';
import { APPEND_TIMEOUT_MS, DOMAIN, EPOCH_MS, type NodeId, type World } from './world.ts';

interface PendingAppend {
  leaf: Uint8Array;
  resolve: (index: number) => void;
  reject: (err: Error) => void;
}

/** The node's view of the ledger: appends go over the network; reads are of the sequencer's database. */
export class SimLedger implements Ledger {
  private readonly world: World;
  private readonly seq: SimSequencer;
  private readonly node: NodeId;
  private readonly incarnation: number;
  private readonly pending = new Map<string, PendingAppend>();
  private counter = 0;
  /** leaf bytes of every append acked to this process, by the index the ack named */
  readonly acked = new Map<number, Uint8Array>();

  constructor(world: World, seq: SimSequencer, node: NodeId, incarnation: number) {
    this.world = world;
    this.seq = seq;
    this.node = node;
    this.incarnation = incarnation;
  }

  append(req: AppendRequest): Promise<number> {
    const id = `${this.node}.${this.incarnation}.${++this.counter}`;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { leaf: req.leaf, resolve, reject });
      this.world.send(this.node, 'sequencer', { kind: 'append', id, node: this.node, req });
      this.world.after(APPEND_TIMEOUT_MS, { kind: 'append-timeout', node: this.node, incarnation: this.incarnation, id });
    });
  }

  /** Delivers the sequencer's ack: the append resolves (its waiter runs before the step ends). */
  onAck(id: string, index: number): void {
    const p = this.pending.get(id);
    if (!p) return; // late (timed out) or duplicate ack
    this.pending.delete(id);
    this.acked.set(index, p.leaf);
    p.resolve(index);
  }

  onTimeout(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.world.trace(`${this.node} append ${id} timed out`);
    p.reject(new Error(`no ack from the sequencer within ${APPEND_TIMEOUT_MS} ms`));
  }

  /** The process died: whatever waited on an append waits forever. */
  abandon(): void {
    this.pending.clear();
  }

  entry(index: number): LedgerEntry | null {
    return this.seq.entry(index);
  }
  size(): number {
    return this.seq.size();
  }
  entries(from: number, limit: number): LedgerEntry[] {
    return this.seq.entries(from, limit);
  }
  findByJti(jti: string, type?: LeafType): LedgerEntry[] {
    return this.seq.findByJti(jti, type);
  }
  findByDecisionId(id: string): LedgerEntry | null {
    return this.seq.findByDecisionId(id);
  }
  writ(jti: string): WritIndexRow | null {
    return this.seq.writ(jti);
  }
  children(jti: string): WritIndexRow[] {
    return this.seq.children(jti);
  }
}

/** One node process (an incarnation) on top of its surviving disk. */
interface Process {
  incarnation: number;
  skewMs: number;
  ledger: SimLedger;
  policy: ActivePolicy;
  tracker: BeaconTracker;
  gov: GovernanceNode;
}

export class SimNode {
  readonly id: NodeId;
  private readonly world: World;
  private readonly seq: SimSequencer;
  private readonly key: KeyPair;
  private readonly verifierKeys: JSONWebKeySet;
  private readonly authorityKeys: JWK[];
  private readonly db = new DatabaseSync(':memory:');
  /** disk: the node's SQLite state */
  readonly state = new SqliteNodeState(this.db);
  /** disk: revocation-list versions applied here (the node's sync cursor) */
  private readonly appliedVersions = new Set<number>();
  private appliedPrefix = 0;
  private proc: Process | null = null;
  private incarnations = 0;

  constructor(o: { id: NodeId; world: World; seq: SimSequencer; key: KeyPair; verifierKeys: JSONWebKeySet; authorityKeys: JWK[] }) {
    this.id = o.id;
    this.world = o.world;
    this.seq = o.seq;
    this.key = o.key;
    this.verifierKeys = o.verifierKeys;
    this.authorityKeys = o.authorityKeys;
  }

  get up(): boolean {
    return this.proc !== null;
  }

  /** the running process; throws if the node is down */
  get p(): Process {
    if (!this.proc) throw new Error(`sim: node ${this.id} is down`);
    return this.proc;
  }

  /** this node's clock: true simulated time plus its skew */
  clock(): Date {
    return new Date(EPOCH_MS + this.world.now() + this.p.skewMs);
  }

  /** Highest revocation-list version r such that every version 1..r has been applied here. */
  appliedRevocations(): number {
    return this.appliedPrefix;
  }

  applyRevocation(r: number, what: 'principal' | 'writ', value: string): void {
    this.state.revoke(what, value, `revocation list version ${r}`);
    this.appliedVersions.add(r);
    while (this.appliedVersions.has(this.appliedPrefix + 1)) this.appliedPrefix++;
  }

  start(skewMs: number): void {
    const incarnation = ++this.incarnations;
    const ledger = new SimLedger(this.world, this.seq, this.id, incarnation);
    const now = () => new Date(EPOCH_MS + this.world.now() + skewMs);
    const policy = new ActivePolicy({ state: this.state, ledger, trust: { keys: this.authorityKeys, threshold: 1 }, domain: DOMAIN, now });
    const tracker = new BeaconTracker({ keys: this.authorityKeys, domain: DOMAIN, appliedRevocations: () => this.appliedRevocations() });
    const gov = new GovernanceNode({
      identity: { nodeId: this.id, domain: DOMAIN, kid: this.key.kid, privateKey: this.key.privateKey, verifierKeys: this.verifierKeys },
      policy,
      ledger,
      state: this.state,
      now,
      ...(this.world.mutation === 'no-freshness' ? {} : { freshness: tracker }),
    });
    this.proc = { incarnation, skewMs, ledger, policy, tracker, gov };
  }

  crash(): void {
    const p = this.proc;
    if (!p) return;
    p.ledger.abandon();
    p.policy.active?.engine.dispose();
    this.proc = null;
  }

  /** end of the run: release the database */
  close(): void {
    this.crash();
    this.db.close();
  }
}

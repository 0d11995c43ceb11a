/**
 * The transparency log over the SQLite ledger: tree heads, signed checkpoints and
 * proofs, all computed from the stored hashes (never from a tree held in memory).
 *
 * `SqliteLogStore` is the SQLite adapter of the log store (log-store.ts): what the one
 * checkpoint signer (checkpoint-signer.ts) and the one set of read routes
 * (server/log-routes.ts) need, answered from synchronous reads. Its checkpoint transaction
 * is `BEGIN IMMEDIATE` … `COMMIT`, run synchronously: nothing else on the connection runs
 * inside it. `TransparencyLog` is the same log with a synchronous face, for the CLI and
 * `writ up`'s checkpoint timer; it signs with the one signer too. Appends are not here
 * (sqlite-batch.ts, sqlite-ledger.ts): the decision path does not go through this file.
 *
 * The store also keeps the witnesses' cosignatures of its checkpoints (CosignatureStore,
 * docs/witness.md) in `ledger_checkpoints.cosignatures`, a JSON object (witness verifier
 * key → cosignature lines). The column is added on the first cosignature stored: a home
 * made before witnesses, or never witnessed, has none and reads as no cosignatures.
 */
import type { DatabaseSync } from 'node:sqlite';
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { CheckpointSigner, type CosignatureStore } from './checkpoint-signer.ts';
import { checkConsistency, checkInclusion, checkTreeSize, LogError, type CheckpointState, type CheckpointStep, type LogEntry, type LogStore, type StoredCheckpoint } from './log-store.ts';
import { proveRecord, proveTree, treeHash, type HashReader } from '../tlog/merkle.ts';
import type { NoteSigner, NoteVerifier } from '../tlog/note.ts';
import { formatProofFile } from '../tlog/proof-file.ts';
import { sqliteHashReader } from './sqlite-batch.ts';
import { systemClock } from '../clock.ts';

export { LogError, type StoredCheckpoint };

interface CheckpointRow {
  size: number;
  root: Uint8Array;
  note: string;
  created: string;
}

const toCheckpoint = (r: CheckpointRow): StoredCheckpoint => ({ size: Number(r.size), root: new Uint8Array(r.root), note: r.note, created: r.created });

/** The SQLite adapter: synchronous reads (`*Sync`), and the asynchronous LogStore over them. */
export class SqliteLogStore implements LogStore, CosignatureStore {
  private readonly db: DatabaseSync;
  /** the cosignatures column was seen (once added it stays; until then each use looks again: another process may add it) */
  private cosignatureColumn = false;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  sizeSync(): number {
    return Number((this.db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ledger_entries').get() as { n: number }).n);
  }

  reader(): HashReader {
    return sqliteHashReader(this.db);
  }

  latestCheckpointSync(): StoredCheckpoint | null {
    const r = this.db.prepare('SELECT size, root, note, created FROM ledger_checkpoints ORDER BY size DESC LIMIT 1').get() as CheckpointRow | undefined;
    return r ? toCheckpoint(r) : null;
  }

  /** every stored checkpoint, oldest first */
  allCheckpointsSync(): StoredCheckpoint[] {
    return (this.db.prepare('SELECT size, root, note, created FROM ledger_checkpoints ORDER BY size').all() as unknown as CheckpointRow[]).map(toCheckpoint);
  }

  entrySync(index: number): Uint8Array | null {
    const r = this.db.prepare('SELECT leaf FROM ledger_entries WHERE idx = ?').get(index) as { leaf: Uint8Array } | undefined;
    return r ? new Uint8Array(r.leaf) : null;
  }

  /** The checkpoint transaction, synchronous: `step` sees the state under the write lock; what it returns is stored before COMMIT. */
  checkpointWithSync(step: (s: CheckpointState) => CheckpointStep, now = new Date(systemClock.now())): StoredCheckpoint | null {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = step({ last: this.latestCheckpointSync(), size: this.sizeSync(), hashes: this.reader() });
      let cp: StoredCheckpoint | null = null;
      if (out && 'keep' in out) cp = out.keep;
      else if (out) {
        cp = { ...out.store, created: now.toISOString() };
        this.db.prepare('INSERT INTO ledger_checkpoints (size, root, note, created) VALUES (?, ?, ?, ?)').run(cp.size, cp.root, cp.note, cp.created);
      }
      this.db.exec('COMMIT');
      return cp;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private hasCosignatureColumn(): boolean {
    this.cosignatureColumn ||= (this.db.prepare('SELECT name FROM pragma_table_info(?)').all('ledger_checkpoints') as { name: string }[]).some((c) => c.name === 'cosignatures');
    return this.cosignatureColumn;
  }

  /** The additive migration, on first use: another process of the home may add the column at the same moment. */
  private addCosignatureColumn(): void {
    if (this.hasCosignatureColumn()) return;
    try {
      this.db.exec('ALTER TABLE ledger_checkpoints ADD COLUMN cosignatures TEXT');
    } catch (err) {
      if (!/duplicate column/i.test((err as Error).message)) throw err;
    }
    this.cosignatureColumn = true;
  }

  saveCosignatureSync(size: number, witnessKey: string, lines: string): void {
    this.addCosignatureColumn();
    // json_patch merges in one statement: two witnesses answering at once both stay
    const r = this.db.prepare("UPDATE ledger_checkpoints SET cosignatures = json_patch(COALESCE(cosignatures, '{}'), json_object(?, ?)) WHERE size = ?").run(witnessKey, lines, size);
    if (Number(r.changes) !== 1) throw new LogError(`no stored checkpoint of size ${size} to cosign`);
  }

  cosignaturesSync(size: number): Map<string, string> {
    if (!this.hasCosignatureColumn()) return new Map();
    const r = this.db.prepare('SELECT cosignatures FROM ledger_checkpoints WHERE size = ?').get(size) as { cosignatures: string | null } | undefined;
    if (!r?.cosignatures) return new Map();
    const o = JSON.parse(r.cosignatures) as unknown;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new LogError(`the stored cosignatures of checkpoint ${size} are not a JSON object`);
    return new Map(Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }

  // CosignatureStore
  async saveCosignature(size: number, witnessKey: string, lines: string): Promise<void> {
    this.saveCosignatureSync(size, witnessKey, lines);
  }

  async cosignatures(size: number): Promise<Map<string, string>> {
    return this.cosignaturesSync(size);
  }

  // LogStore
  async size(): Promise<number> {
    return this.sizeSync();
  }

  async withHashes<T>(f: (reader: HashReader) => T): Promise<T> {
    return f(this.reader());
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    return this.latestCheckpointSync();
  }

  async checkpoints(limit: number): Promise<StoredCheckpoint[]> {
    const rows = this.db.prepare('SELECT size, root, note, created FROM ledger_checkpoints ORDER BY size DESC LIMIT ?').all(limit) as unknown as CheckpointRow[];
    return rows.map(toCheckpoint);
  }

  async entry(index: number): Promise<Uint8Array | null> {
    return this.entrySync(index);
  }

  async entries(from: number, limit: number): Promise<LogEntry[]> {
    const rows = this.db.prepare('SELECT idx, type, leaf FROM ledger_entries WHERE idx >= ? ORDER BY idx LIMIT ?').all(from, limit) as unknown as { idx: number; type: string; leaf: Uint8Array }[];
    return rows.map((r) => ({ index: Number(r.idx), type: r.type, leaf: new Uint8Array(r.leaf) }));
  }

  async checkpointWith(step: (s: CheckpointState) => CheckpointStep, now?: Date): Promise<StoredCheckpoint | null> {
    return this.checkpointWithSync(step, now);
  }
}

export class TransparencyLog {
  readonly origin: string;
  readonly verifier: NoteVerifier;
  /** the log's store, for what is written once over any store (the HTTP routes, the signer) */
  readonly store: SqliteLogStore;
  private readonly signerKey: NoteSigner | null;
  private signer: CheckpointSigner | null = null;

  constructor(db: DatabaseSync, o: { origin: string; verifier: NoteVerifier; signer?: NoteSigner }) {
    this.store = new SqliteLogStore(db);
    this.origin = o.origin;
    this.verifier = o.verifier;
    this.signerKey = o.signer ?? null;
    if (o.verifier.name !== o.origin) throw new LogError(`log key name ${o.verifier.name} is not the origin ${o.origin}`);
  }

  size(): number {
    return this.store.sizeSync();
  }

  treeHash(size: number): Uint8Array {
    checkTreeSize(size, this.size());
    return treeHash(size, this.store.reader());
  }

  latestCheckpoint(): StoredCheckpoint | null {
    return this.store.latestCheckpointSync();
  }

  checkpoints(): StoredCheckpoint[] {
    return this.store.allCheckpointsSync();
  }

  /** the one signer with this log's key (made when first needed: opening a home to read it needs no agreeing key) */
  private checkpointSigner(): CheckpointSigner {
    if (!this.signerKey) throw new LogError('this process holds no log signing key');
    this.signer ??= new CheckpointSigner({ origin: this.origin, verifier: this.verifier, signer: this.signerKey });
    return this.signer;
  }

  /** Signs a checkpoint of the current tree if it grew since the last one (the one signer, synchronously); returns the latest. */
  checkpoint(now = new Date(systemClock.now())): StoredCheckpoint | null {
    const signer = this.checkpointSigner();
    return this.store.checkpointWithSync((s) => signer.next(s), now);
  }

  inclusionProof(index: number, size: number): Uint8Array[] {
    checkInclusion(index, size, this.size());
    return proveRecord(size, index, this.store.reader());
  }

  consistencyProof(from: number, to: number): Uint8Array[] {
    checkConsistency(from, to, this.size());
    return proveTree(to, from, this.store.reader());
  }

  entry(index: number): Uint8Array | null {
    return this.store.entrySync(index);
  }

  /**
   * A C2SP tlog-proof@v1 file for an entry, against the latest checkpoint (signing one if
   * none covers it), with the witnesses' cosignatures stored for it (a verifier checks each
   * against the witness keys it pins).
   */
  proofFile(index: number): string {
    let cp = this.latestCheckpoint();
    if ((!cp || cp.size <= index) && this.signerKey) cp = this.checkpoint();
    if (!cp || cp.size <= index) throw new LogError(`no signed checkpoint covers entry ${index} yet`);
    const cosigned = cp.note + [...this.store.cosignaturesSync(cp.size).values()].join('');
    return formatProofFile({ index, proof: this.inclusionProof(index, cp.size), checkpoint: cosigned });
  }
}

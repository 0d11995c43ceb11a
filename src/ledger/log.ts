/**
 * The transparency log over the SQLite ledger: tree heads, signed checkpoints and
 * proofs, all computed from the stored hashes (never from a tree held in memory).
 *
 * Checkpoints are C2SP tlog-checkpoint bodies signed as C2SP signed notes with the
 * log's Ed25519 key (key name = origin). Before a new checkpoint is signed, the tree
 * it commits to is proven consistent with the last signed one, inside the same
 * transaction: the log never signs two inconsistent checkpoints.
 */
import type { DatabaseSync } from 'node:sqlite';
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { formatCheckpoint, parseCheckpoint } from '../tlog/checkpoint.ts';
import { assertExtends } from './log-identity.ts';
import { proveRecord, proveTree, treeHash } from '../tlog/merkle.ts';
import { encodeBase64, openNote, signNote, type NoteSigner, type NoteVerifier } from '../tlog/note.ts';
import { formatProofFile } from '../tlog/proof-file.ts';
import { sqliteHashReader } from './sqlite-batch.ts';
import { encodeEntryBundle, readHashTile } from '../tlog/tiles.ts';
import { WritError } from '../writ/errors.ts';

export interface StoredCheckpoint {
  size: number;
  root: Uint8Array;
  /** the signed note, exactly as served */
  note: string;
  created: string;
}

export class LogError extends WritError {
  override name = 'LogError';
  constructor(message: string, options?: ErrorOptions) {
    super('log_request_invalid', message, options);
  }
}

interface CheckpointRow {
  size: number;
  root: Uint8Array;
  note: string;
  created: string;
}

const toCheckpoint = (r: CheckpointRow): StoredCheckpoint => ({ size: Number(r.size), root: new Uint8Array(r.root), note: r.note, created: r.created });

export class TransparencyLog {
  readonly origin: string;
  readonly verifier: NoteVerifier;
  private readonly db: DatabaseSync;
  private readonly signer: NoteSigner | null;

  constructor(db: DatabaseSync, o: { origin: string; verifier: NoteVerifier; signer?: NoteSigner }) {
    this.db = db;
    this.origin = o.origin;
    this.verifier = o.verifier;
    this.signer = o.signer ?? null;
    if (o.verifier.name !== o.origin) throw new LogError(`log key name ${o.verifier.name} is not the origin ${o.origin}`);
  }

  size(): number {
    return Number((this.db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ledger_entries').get() as { n: number }).n);
  }

  private reader() {
    return sqliteHashReader(this.db);
  }

  treeHash(size: number): Uint8Array {
    this.checkSize(size);
    return treeHash(size, this.reader());
  }

  latestCheckpoint(): StoredCheckpoint | null {
    const r = this.db.prepare('SELECT size, root, note, created FROM ledger_checkpoints ORDER BY size DESC LIMIT 1').get() as CheckpointRow | undefined;
    return r ? toCheckpoint(r) : null;
  }

  checkpoints(): StoredCheckpoint[] {
    return (this.db.prepare('SELECT size, root, note, created FROM ledger_checkpoints ORDER BY size').all() as unknown as CheckpointRow[]).map(toCheckpoint);
  }

  /** Signs a checkpoint of the current tree if it grew since the last one; returns the latest. */
  checkpoint(now = new Date()): StoredCheckpoint | null {
    if (!this.signer) throw new LogError('this process holds no log signing key');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const last = this.latestCheckpoint();
      const size = this.size();
      if (size === 0 && !last) {
        this.db.exec('COMMIT');
        return null;
      }
      const root = treeHash(size, this.reader());
      // Never sign (nor go on serving as current) a tree that does not extend the last
      // *signed* one: a tree truncated or rewritten under the log throws LogForkError.
      if (last) assertExtends(last.note, this.verifier, this.origin, size, root, (from) => proveTree(size, from, this.reader()));
      if (last && last.size === size) {
        this.db.exec('COMMIT');
        return last;
      }
      const note = signNote(formatCheckpoint({ origin: this.origin, size, rootHash: root }), [this.signer]);
      this.db.prepare('INSERT INTO ledger_checkpoints (size, root, note, created) VALUES (?, ?, ?, ?)').run(size, root, note, now.toISOString());
      this.db.exec('COMMIT');
      return { size, root, note, created: now.toISOString() };
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private checkSize(size: number, max = this.size()): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > max) throw new LogError(`tree size ${size} is not between 0 and ${max}`);
  }

  inclusionProof(index: number, size: number): Uint8Array[] {
    this.checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new LogError(`index ${index} is not in a tree of size ${size}`);
    return proveRecord(size, index, this.reader());
  }

  consistencyProof(from: number, to: number): Uint8Array[] {
    this.checkSize(to);
    if (!Number.isSafeInteger(from) || from < 0 || from > to) throw new LogError(`size ${from} is not between 0 and ${to}`);
    return proveTree(to, from, this.reader());
  }

  entry(index: number): Uint8Array | null {
    const r = this.db.prepare('SELECT leaf FROM ledger_entries WHERE idx = ?').get(index) as { leaf: Uint8Array } | undefined;
    return r ? new Uint8Array(r.leaf) : null;
  }

  /** A C2SP tlog-proof@v1 file for an entry, against the latest checkpoint (signing one if none covers it). */
  proofFile(index: number): string {
    let cp = this.latestCheckpoint();
    if ((!cp || cp.size <= index) && this.signer) cp = this.checkpoint();
    if (!cp || cp.size <= index) throw new LogError(`no signed checkpoint covers entry ${index} yet`);
    return formatProofFile({ index, proof: this.inclusionProof(index, cp.size), checkpoint: cp.note });
  }

  /** A hash tile of the tree as of the latest checkpoint (C2SP tlog-tiles). */
  hashTile(level: number, n: number, width?: number): Uint8Array {
    const size = this.latestCheckpoint()?.size ?? 0;
    return readHashTile(size, level, n, this.reader(), width);
  }

  /** An entry bundle (C2SP tlog-tiles `tile/entries/N`), within the latest checkpoint. */
  entryBundle(n: number, width = 256): Uint8Array {
    const size = this.latestCheckpoint()?.size ?? 0;
    const start = n * 256;
    if (!Number.isSafeInteger(start) || start + width > size || width < 1 || width > 256) {
      throw new LogError(`entry bundle ${n} of width ${width} is not within the checkpointed tree of size ${size}`);
    }
    const rows = this.db.prepare('SELECT leaf FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx').all(start, start + width) as unknown as { leaf: Uint8Array }[];
    return encodeEntryBundle(rows.map((r) => new Uint8Array(r.leaf)));
  }

  /** The checkpoint text (body) parsed, after verifying its note. */
  static parse(note: string, verifier: NoteVerifier) {
    return parseCheckpoint(openNote(note, [verifier]).text);
  }
}

export { encodeBase64 };

/**
 * What a transparency log needs from its storage, whichever it is: the embedded SQLite
 * ledger (`log.ts`, `SqliteLogStore`) or the fleet's PostgreSQL ledger (`pg-log.ts`,
 * `PgLog`). Appending is not here: each store appends its own way, on its own path (the
 * node's group commit, the sequencer's stream batches). Everything else a log does —
 * signing checkpoints (`checkpoint-signer.ts`), serving them, entries, proofs and C2SP
 * tiles (`server/log-routes.ts`) — is written once over this interface, with the request
 * checks below (one validation for both stores).
 *
 * The interface is asynchronous because PostgreSQL is; the SQLite adapter answers from
 * synchronous reads. The Merkle code (tlog/merkle.ts, tlog/tiles.ts) reads stored hashes
 * synchronously: `withHashes` runs such a function with every hash it reads available
 * (SQLite reads them as asked; PostgreSQL prefetches and reruns).
 */
import { proveRecord, proveTree, treeHash, type HashReader } from '../tlog/merkle.ts';
import { encodeEntryBundle, readHashTile, TILE_WIDTH } from '../tlog/tiles.ts';
import { WritError } from '../writ/errors.ts';

export interface StoredCheckpoint {
  size: number;
  root: Uint8Array;
  /** the signed note, exactly as served */
  note: string;
  /** when it was stored (ISO 8601) */
  created: string;
}

/** A request the log cannot answer as asked (a size beyond the log, an index beyond a tree): 400 over HTTP. */
export class LogError extends WritError {
  override name = 'LogError';
  constructor(message: string, options?: ErrorOptions) {
    super('log_request_invalid', message, options);
  }
}

export interface LogEntry {
  index: number;
  type: string;
  leaf: Uint8Array;
}

/** What the one checkpoint signer sees inside a store's checkpoint transaction. */
export interface CheckpointState {
  /** the newest stored checkpoint (null before the first) */
  last: StoredCheckpoint | null;
  /** the current tree size */
  size: number;
  /** the stored hashes of the current tree (synchronous, as the Merkle code reads them) */
  hashes: HashReader;
}

/**
 * The signer's decision inside that transaction: nothing to sign (`null`: an empty log),
 * the newest checkpoint kept as it is, or a new signed checkpoint for the store to store.
 */
export type CheckpointStep = { keep: StoredCheckpoint } | { store: { size: number; root: Uint8Array; note: string } } | null;

export interface LogStore {
  /** the number of entries (also those not yet in a checkpoint) */
  size(): Promise<number>;
  /** Runs a Merkle function over the stored hashes. */
  withHashes<T>(f: (reader: HashReader) => T): Promise<T>;
  latestCheckpoint(): Promise<StoredCheckpoint | null>;
  /** the newest `limit` stored checkpoints, newest first */
  checkpoints(limit: number): Promise<StoredCheckpoint[]>;
  entry(index: number): Promise<Uint8Array | null>;
  /** up to `limit` entries from index `from`, in order */
  entries(from: number, limit: number): Promise<LogEntry[]>;
  /**
   * Runs `step` atomically against the newest stored checkpoint, the current size and the
   * stored hashes (no append or other checkpoint in between; `step` is synchronous and may
   * be rerun) and stores the checkpoint it returns. Returns the latest checkpoint, or null.
   */
  checkpointWith(step: (s: CheckpointState) => CheckpointStep, now?: Date): Promise<StoredCheckpoint | null>;
}

/** Throws LogError unless `size` is a tree size of a log of `max` entries. */
export function checkTreeSize(size: number, max: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > max) throw new LogError(`tree size ${size} is not between 0 and ${max}`);
}

/** Throws LogError unless entry `index` is in a tree of `size` entries (itself within a log of `max`). */
export function checkInclusion(index: number, size: number, max: number): void {
  checkTreeSize(size, max);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new LogError(`index ${index} is not in a tree of size ${size}`);
}

/** Throws LogError unless `from` ≤ `to` are tree sizes of a log of `max` entries. */
export function checkConsistency(from: number, to: number, max: number): void {
  checkTreeSize(to, max);
  if (!Number.isSafeInteger(from) || from < 0 || from > to) throw new LogError(`size ${from} is not between 0 and ${to}`);
}

/** Throws LogError unless entry bundle `n` of `width` entries is within a checkpointed tree of `size`. */
export function checkEntryBundle(n: number, width: number, size: number): void {
  const start = n * TILE_WIDTH;
  if (!Number.isSafeInteger(start) || !Number.isInteger(width) || width < 1 || width > TILE_WIDTH || start + width > size) {
    throw new LogError(`entry bundle ${n} of width ${width} is not within the checkpointed tree of size ${size}`);
  }
}

/** The reads every log serves, over any LogStore, checked the one way. */
export const logReads = {
  async treeHash(store: LogStore, size: number): Promise<Uint8Array> {
    checkTreeSize(size, await store.size());
    return store.withHashes((r) => treeHash(size, r));
  },

  /** An inclusion proof and the root it proves against; `size` defaults to the latest checkpoint's. */
  async inclusion(store: LogStore, index: number, size?: number): Promise<{ index: number; size: number; root: Uint8Array; proof: Uint8Array[] }> {
    const s = size ?? (await store.latestCheckpoint())?.size ?? 0;
    checkInclusion(index, s, await store.size());
    return store.withHashes((r) => ({ index, size: s, root: treeHash(s, r), proof: proveRecord(s, index, r) }));
  },

  async consistency(store: LogStore, from: number, to: number): Promise<Uint8Array[]> {
    checkConsistency(from, to, await store.size());
    return store.withHashes((r) => proveTree(to, from, r));
  },

  /** A hash tile of the tree of the latest checkpoint (C2SP tlog-tiles); RangeError if that tree lacks it. */
  async hashTile(store: LogStore, level: number, n: number, width?: number): Promise<Uint8Array> {
    const size = (await store.latestCheckpoint())?.size ?? 0;
    return store.withHashes((r) => readHashTile(size, level, n, r, width));
  },

  /** An entry bundle (`tile/entries/N`) within the tree of the latest checkpoint. */
  async entryBundle(store: LogStore, n: number, width: number = TILE_WIDTH): Promise<Uint8Array> {
    const size = (await store.latestCheckpoint())?.size ?? 0;
    checkEntryBundle(n, width, size);
    const entries = await store.entries(n * TILE_WIDTH, width);
    if (entries.length !== width || entries.some((e, i) => e.index !== n * TILE_WIDTH + i)) throw new Error(`ledger: entries of bundle ${n} are missing`);
    return encodeEntryBundle(entries.map((e) => e.leaf));
  },
};

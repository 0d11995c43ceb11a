/**
 * A log store in memory (log-store.ts, sequencer.ts): entries, the RFC 6962 tree as stored
 * hashes (the tlog layout the SQLite and PostgreSQL logs use) and checkpoints, appended from
 * the evidence stream with the same order rule as PostgreSQL (nextInOrder). For the
 * deterministic simulation, which keeps one across sequencer restarts as its "disk", and
 * for tests; no production path stores the fleet log here.
 */
import './node-crypto.ts'; // node:crypto's SHA-256 for the tlog modules
import { storedHashes, storedHashIndex, type HashReader } from '../tlog/merkle.ts';
import { nextInOrder, type EvidenceMessage } from './evidence-stream.ts';
import { leafObject } from './leaf.ts';
import type { CheckpointState, CheckpointStep, LogEntry, StoredCheckpoint } from './log-store.ts';
import type { SequencerStore } from './sequencer.ts';

export class MemoryLogStore implements SequencerStore {
  private readonly leaves: LogEntry[] = [];
  private readonly hashes = new Map<number, Uint8Array>();
  private readonly stored: StoredCheckpoint[] = [];

  /** the stored hashes, read synchronously (the Merkle code's reader; tests prove against it directly) */
  readonly reader: HashReader = (indexes) =>
    indexes.map((i) => {
      const h = this.hashes.get(i);
      if (!h) throw new Error(`ledger: stored hash ${i} is missing`);
      return h;
    });

  async size(): Promise<number> {
    return this.leaves.length;
  }

  /** synchronous reads, for tests */
  get length(): number {
    return this.leaves.length;
  }

  leafAt(index: number): Uint8Array | null {
    return this.leaves[index]?.leaf ?? null;
  }

  async append(messages: EvidenceMessage[]): Promise<number> {
    for (const m of nextInOrder(messages, this.leaves.length)) {
      const index = m.seq - 1;
      const hashes = storedHashes(index, m.leaf, this.reader);
      const first = storedHashIndex(0, index);
      hashes.forEach((h, i) => this.hashes.set(first + i, h));
      this.leaves.push({ index, type: String(leafObject(m.leaf).type), leaf: m.leaf });
    }
    return this.leaves.length;
  }

  /**
   * Loses every entry from `size` on (a disk that lost its tail): only a deliberately
   * broken sequencer's store does this — the simulation's lossy-disk mutation.
   */
  truncate(size: number): void {
    const firstHash = storedHashIndex(0, size);
    for (const i of [...this.hashes.keys()]) if (i >= firstHash) this.hashes.delete(i);
    this.leaves.length = Math.min(this.leaves.length, size);
  }

  async withHashes<T>(f: (reader: HashReader) => T): Promise<T> {
    return f(this.reader);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    return this.stored.at(-1) ?? null;
  }

  async checkpoints(limit: number): Promise<StoredCheckpoint[]> {
    return this.stored.slice(-limit).reverse();
  }

  async entry(index: number): Promise<Uint8Array | null> {
    return this.leaves[index]?.leaf ?? null;
  }

  async entries(from: number, limit: number): Promise<LogEntry[]> {
    return this.leaves.slice(from, from + limit);
  }

  /** Synchronous between reading the state and storing: nothing else runs in between. */
  async checkpointWith(step: (s: CheckpointState) => CheckpointStep, now: Date): Promise<StoredCheckpoint | null> {
    const out = step({ last: this.stored.at(-1) ?? null, size: this.leaves.length, hashes: this.reader });
    if (!out) return null;
    if ('keep' in out) return out.keep;
    const cp = { ...out.store, created: now.toISOString() };
    this.stored.push(cp);
    return cp;
  }
}

/**
 * The witness's state: for each log origin, the latest checkpoint it cosigned (size, root,
 * the note as received), in SQLite (WAL, synchronous=FULL, as every Writ store: see
 * openDatabase). C2SP tlog-witness requires the check of the old size against this record
 * and the update to be atomic, or two requests racing could roll the record back; here the
 * check and the write run inside one `BEGIN IMMEDIATE` transaction (a write lock from the
 * start, so even two processes on one file serialise), and the new record is committed, and
 * so fsync'd, before the witness answers.
 *
 * Checkpoints the witness refused although they were validly signed by a log it witnesses,
 * because they conflict with what it cosigned (another root at the cosigned size, or a proof
 * that does not lead from it), are kept in `witness_refusals`: they may be evidence of a log
 * showing different views. One row per (origin, checkpoint text, reason): only the log's
 * key makes a new checkpoint text, so replaying requests cannot grow the table. A stale old
 * size is not kept (an honest log after a restart sends one).
 */
import type { DatabaseSync } from 'node:sqlite';
import { openDatabase } from '../ledger/sqlite-batch.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS witness_checkpoints (
  origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_refusals (
  id INTEGER PRIMARY KEY, origin TEXT NOT NULL, checkpoint TEXT NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, request TEXT NOT NULL, received INTEGER NOT NULL,
  UNIQUE (origin, checkpoint, reason)
);
`;

export interface WitnessedCheckpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  /** the signed checkpoint note as the log sent it */
  note: string;
  /** POSIX seconds of the cosignature */
  cosignedAt: number;
}

export interface WitnessRefusal {
  origin: string;
  /** the refused checkpoint's note text (without signatures) */
  checkpoint: string;
  status: number;
  reason: string;
  request: string;
  received: number;
}

export class WitnessState {
  readonly #db: DatabaseSync;

  constructor(file: string) {
    this.#db = openDatabase(file);
    this.#db.exec(SCHEMA);
  }

  /** The latest cosigned checkpoint for `origin`, or null if none was ever cosigned. */
  latest(origin: string): WitnessedCheckpoint | null {
    const r = this.#db.prepare('SELECT origin, size, root, note, cosigned_at FROM witness_checkpoints WHERE origin = ?').get(origin) as
      | { origin: string; size: number; root: Uint8Array; note: string; cosigned_at: number }
      | undefined;
    return r ? { origin: r.origin, size: Number(r.size), root: new Uint8Array(r.root), note: r.note, cosignedAt: Number(r.cosigned_at) } : null;
  }

  /**
   * Runs `f` on the current record for `origin` in one write transaction; if `f` returns a
   * record it replaces the current one, and the transaction commits before this returns.
   * `f` must be synchronous. Any throw rolls back.
   */
  update<T>(origin: string, f: (current: WitnessedCheckpoint | null) => { next?: WitnessedCheckpoint; result: T }): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const { next, result } = f(this.latest(origin));
      if (next) {
        this.#db
          .prepare('INSERT INTO witness_checkpoints (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, cosigned_at = excluded.cosigned_at')
          .run(next.origin, next.size, next.root, next.note, next.cosignedAt);
      }
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Keeps the first request refused for this checkpoint text and reason; later ones are dropped. */
  recordRefusal(r: WitnessRefusal): void {
    this.#db
      .prepare('INSERT INTO witness_refusals (origin, checkpoint, status, reason, request, received) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin, checkpoint, reason) DO NOTHING')
      .run(r.origin, r.checkpoint, r.status, r.reason, r.request, r.received);
  }

  refusals(origin?: string): WitnessRefusal[] {
    const rows = (origin === undefined
      ? this.#db.prepare('SELECT origin, checkpoint, status, reason, request, received FROM witness_refusals ORDER BY id').all()
      : this.#db.prepare('SELECT origin, checkpoint, status, reason, request, received FROM witness_refusals WHERE origin = ? ORDER BY id').all(origin)) as unknown as WitnessRefusal[];
    return rows.map((r) => ({ ...r, status: Number(r.status), received: Number(r.received) }));
  }

  close(): void {
    this.#db.close();
  }
}

/**
 * A persistent single-use store for verifyWrit's `consume`: SQLite through Node's built-in
 * `node:sqlite` (Node >= 22.13, or 22.5 with --experimental-sqlite; the in-memory store of
 * `@writ/verify` serves older Node). A writ consumed here stays consumed across restarts and
 * across every process that opens the same file.
 *
 * One statement decides: an INSERT that does nothing on a conflicting primary key. SQLite
 * serializes writers, so of two processes consuming the same jti exactly one inserts the row
 * (`changes` 1) and the other finds it (`changes` 0) — no read-then-write race.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';

/** verifyWrit's ConsumeJti: records a jti as used; false if it was used before. */
export type ConsumeJti = (jti: string, exp: number) => boolean;

export interface SqliteJtiStoreOptions {
  /**
   * Seconds a jti is kept past its writ's exp (default 300). verifyWrit refuses a writ past
   * exp + its clock tolerance before it consumes, so a pruned jti cannot be replayed as long
   * as this is at least the verifier's clockToleranceSeconds (default 5).
   */
  graceSeconds?: number;
  /** how long a writer waits for another process's lock, in ms (default 5000) */
  busyTimeoutMs?: number;
  /** current time, for pruning (default: the process clock) */
  now?: () => Date;
}

export interface SqliteJtiStore {
  /** pass as verifyWrit's `consume` */
  consume: ConsumeJti;
  /** pass as verifyWrit's `isConsumed` when inspecting with `consume: false` */
  isConsumed: (jti: string) => boolean;
  /** deletes the jtis past exp + graceSeconds; returns how many (consume also runs it, at most once a minute) */
  prune: () => number;
  close: () => void;
}

const PRUNE_INTERVAL_SECONDS = 60;

/** Opens (creating if needed) the store in the SQLite file at `path`. */
export function sqliteJtiStore(path: string, o: SqliteJtiStoreOptions = {}): SqliteJtiStore {
  const grace = o.graceSeconds ?? 300;
  if (!Number.isInteger(grace) || grace < 0) throw new RangeError('graceSeconds must be a non-negative integer');
  // the standalone library's default clock, used only for pruning
  const now = o.now ?? (() => new Date());
  const db = new DatabaseSync(path);
  // the busy timeout first, so two processes opening a new file wait for each other's setup
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(o.busyTimeoutMs ?? 5000))}`);
  // WAL lets readers run beside the writer; FULL syncs each commit, so a jti consumed before
  // an execution is still consumed after a power loss (NORMAL may lose the last commits)
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS writ_jti (jti TEXT PRIMARY KEY NOT NULL, exp INTEGER NOT NULL) STRICT, WITHOUT ROWID');
  db.exec('CREATE INDEX IF NOT EXISTS writ_jti_exp ON writ_jti (exp)');

  const insert: StatementSync = db.prepare('INSERT INTO writ_jti (jti, exp) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING');
  const select: StatementSync = db.prepare('SELECT 1 AS used FROM writ_jti WHERE jti = ?');
  const remove: StatementSync = db.prepare('DELETE FROM writ_jti WHERE exp < ?');
  let prunedAt = Number.NEGATIVE_INFINITY;

  const nowSec = (): number => Math.floor(now().getTime() / 1000);
  const prune = (): number => {
    prunedAt = nowSec();
    return Number(remove.run(prunedAt - grace).changes);
  };

  return {
    consume: (jti, exp) => {
      if (typeof jti !== 'string' || jti === '') throw new TypeError('jti must be a non-empty string');
      if (!Number.isSafeInteger(exp)) throw new TypeError('exp must be an integer (Unix seconds)');
      // pruning is a separate statement: whether it ran never changes what the insert decides
      if (nowSec() - prunedAt >= PRUNE_INTERVAL_SECONDS) prune();
      return Number(insert.run(jti, exp).changes) === 1;
    },
    isConsumed: (jti) => select.get(jti) !== undefined,
    prune,
    close: () => db.close(),
  };
}

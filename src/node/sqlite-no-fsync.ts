/**
 * One statement committed without an fsync: synchronous = NORMAL for that statement only,
 * on a database in WAL mode, where the commit is still atomic and consistent and becomes
 * durable with the next fsync of the WAL (the next FULL commit, or a checkpoint). For rows
 * that are not the record of anything (the running registry; a fleet node's copy of the
 * revocations bucket): a power loss may take them, never corrupt the file. Inside a
 * transaction of the connection (it commits with that transaction), or on a database not in
 * WAL mode (NORMAL would risk more than durability there), the statement runs as the
 * connection is. The connection's own level is restored before returning.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

const connections = new WeakMap<DatabaseSync, { level: StatementSync; wal: boolean }>();

export function withoutFsync<T>(db: DatabaseSync, statement: () => T): T {
  let c = connections.get(db);
  if (!c) {
    const wal = String((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode).toLowerCase() === 'wal';
    c = { level: db.prepare('PRAGMA synchronous'), wal };
    connections.set(db, c);
  }
  const level = Number((c.level.get() as { synchronous: number | bigint }).synchronous);
  if (db.isTransaction || level <= 1 || !c.wal) return statement();
  db.exec('PRAGMA synchronous = NORMAL');
  try {
    return statement();
  } finally {
    db.exec(`PRAGMA synchronous = ${level}`);
  }
}

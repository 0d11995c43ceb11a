/**
 * One statement committed without an fsync: synchronous = NORMAL for that statement only,
 * on a database in WAL mode, where the commit is still atomic and consistent and becomes
 * durable with the next fsync of the WAL (the next FULL commit, or a checkpoint). For rows
 * that are not the record of anything: a power loss may take them, never corrupt the file.
 * Inside a transaction of the connection (it commits with that transaction), or on a
 * database not in WAL mode (NORMAL would risk more than durability there), the statement
 * runs as the connection is. The connection's own level is restored before returning.
 */
import type { DatabaseSync } from 'node:sqlite';

const walMode = new WeakMap<DatabaseSync, boolean>();

export function withoutFsync<T>(db: DatabaseSync, statement: () => T): T {
  const level = Number((db.prepare('PRAGMA synchronous').get() as { synchronous: number | bigint }).synchronous);
  let wal = walMode.get(db);
  if (wal === undefined) {
    wal = String((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode).toLowerCase() === 'wal';
    walMode.set(db, wal);
  }
  if (db.isTransaction || level <= 1 || !wal) return statement();
  db.exec('PRAGMA synchronous = NORMAL');
  try {
    return statement();
  } finally {
    db.exec(`PRAGMA synchronous = ${level}`);
  }
}

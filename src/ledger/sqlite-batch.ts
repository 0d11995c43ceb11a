/**
 * The SQLite side of ledger appends, shared by the in-thread writer and the writer
 * worker: one transaction per batch, so one fsync (WAL, synchronous=FULL) makes a
 * whole batch durable. Indexes are assigned inside the transaction, in batch order,
 * and the RFC 6962 tree's stored hashes (Go tlog's layout: each leaf hash and each
 * completed subtree hash, about 2 per leaf) are written in the same transaction, so
 * the tree never lags the entries and never needs to be held in memory.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { AppendRequest } from './ledger.ts';
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { storedHashes, storedHashIndex, type HashReader } from '../tlog/merkle.ts';

export const LEDGER_SCHEMA = `
CREATE TABLE IF NOT EXISTS ledger_entries (
  idx INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  leaf BLOB NOT NULL,
  jti TEXT,
  decision_id TEXT
);
CREATE INDEX IF NOT EXISTS ledger_entries_jti ON ledger_entries(jti) WHERE jti IS NOT NULL;
CREATE TABLE IF NOT EXISTS ledger_writs (
  jti TEXT PRIMARY KEY, decision_idx INTEGER NOT NULL REFERENCES ledger_entries(idx), principal TEXT NOT NULL,
  action TEXT NOT NULL, resource TEXT NOT NULL, parent TEXT, root TEXT NOT NULL, depth INTEGER NOT NULL, exp INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_writs_parent ON ledger_writs(parent) WHERE parent IS NOT NULL;
-- stored hashes of the Merkle tree, by storedHashIndex(level, n)
CREATE TABLE IF NOT EXISTS ledger_hashes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
-- signed checkpoints (C2SP tlog-checkpoint in a signed note), one per tree size
CREATE TABLE IF NOT EXISTS ledger_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, created TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_entries_decision ON ledger_entries(decision_id) WHERE decision_id IS NOT NULL AND type = 'decision';
`;

/** How long a connection waits for another's write lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 10_000;

/** Whether `err` is SQLite's SQLITE_BUSY (any extended code): the lock was taken, nothing was done. */
export function isBusy(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && (code & 0xff) === 5;
}

/** Opens a database with the durability every Writ store relies on. */
export function openDatabase(file: string): DatabaseSync {
  const db = new DatabaseSync(file);
  // WAL + synchronous=FULL: a transaction is fsync'd before COMMIT returns. The busy
  // timeout comes first: switching to WAL takes a lock that a closing connection of another
  // thread or process may still hold for a moment.
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;`);
  return db;
}

/** What crosses to the writer: the append minus anything not structured-cloneable. */
export type BatchItem = AppendRequest;

/** Reads stored hashes; throws if one is missing (a damaged store must not yield a proof). */
export function sqliteHashReader(db: DatabaseSync, overlay?: Map<number, Uint8Array>): HashReader {
  return hashReader(db.prepare('SELECT id, hash FROM ledger_hashes WHERE id IN (SELECT value FROM json_each(?))'), overlay);
}

function hashReader(many: StatementSync, overlay?: Map<number, Uint8Array>): HashReader {
  return (indexes) => {
    const wanted = indexes.filter((i) => !overlay?.has(i));
    const found = new Map<number, Uint8Array>();
    if (wanted.length > 0) {
      for (const r of many.all(JSON.stringify(wanted)) as unknown as { id: number; hash: Uint8Array }[]) found.set(Number(r.id), new Uint8Array(r.hash));
    }
    return indexes.map((i) => {
      const h = overlay?.get(i) ?? found.get(i);
      if (!h) throw new Error(`ledger: stored hash ${i} is missing`);
      return h;
    });
  };
}

interface BatchStatements {
  insert: StatementSync;
  insertHash: StatementSync;
  insertWrit: StatementSync;
  exists: StatementSync;
  next: StatementSync;
  reader: (overlay: Map<number, Uint8Array>) => HashReader;
}

/** Prepared once per connection: preparing five statements per commit cost more than the inserts. */
const statements = new WeakMap<DatabaseSync, BatchStatements>();

function batchStatements(db: DatabaseSync): BatchStatements {
  let s = statements.get(db);
  if (!s) {
    const many: StatementSync = db.prepare('SELECT id, hash FROM ledger_hashes WHERE id IN (SELECT value FROM json_each(?))');
    s = {
      insert: db.prepare('INSERT INTO ledger_entries (idx, type, leaf, jti, decision_id) VALUES (?, ?, ?, ?, ?)'),
      insertHash: db.prepare('INSERT INTO ledger_hashes (id, hash) VALUES (?, ?)'),
      insertWrit: db.prepare('INSERT INTO ledger_writs (jti, decision_idx, principal, action, resource, parent, root, depth, exp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      exists: db.prepare('SELECT 1 FROM ledger_entries WHERE jti = ? AND type = ? LIMIT 1'),
      next: db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ledger_entries'),
      reader: (overlay) => hashReader(many, overlay),
    };
    statements.set(db, s);
  }
  return s;
}

/**
 * The index of each append, or null where its oncePerJti rule refused it. `assigned`, if
 * given, learns the indexes after they are fixed (inside the transaction, which holds the
 * write lock) and before the COMMIT that makes them durable: what needs only the index
 * (signing a writ) can run while the fsync does. Nothing learnt there may leave the
 * process until this returns: a failed COMMIT throws, and its indexes never existed.
 */
export function commitBatch(db: DatabaseSync, batch: BatchItem[], assigned?: (indexes: (number | null)[]) => void): (number | null)[] {
  const { insert, insertHash, insertWrit, exists, next: nextIdx, reader: readerOf } = batchStatements(db);
  const indexes: (number | null)[] = [];
  db.exec('BEGIN IMMEDIATE');
  try {
    let next = Number((nextIdx.get() as { n: number }).n);
    const written = new Map<number, Uint8Array>();
    const reader = readerOf(written);
    for (const req of batch) {
      // checked inside the transaction, so concurrent reports (any process) cannot both land
      if (req.oncePerJti && req.jti && exists.get(req.jti, req.type) !== undefined) {
        indexes.push(null);
        continue;
      }
      insert.run(next, req.type, req.leaf, req.jti ?? null, req.decisionId ?? null);
      const base = storedHashIndex(0, next);
      storedHashes(next, req.leaf, reader).forEach((h, k) => {
        insertHash.run(base + k, h);
        written.set(base + k, h);
      });
      const w = req.writ;
      if (w) insertWrit.run(w.jti, next, w.principal, w.action, w.resource, w.parent, w.root, w.depth, w.exp);
      indexes.push(next++);
    }
    assigned?.(indexes);
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
  return indexes;
}

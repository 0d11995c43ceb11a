/**
 * The ledger's writer thread: commits batches (one transaction, one fsync each). It answers
 * twice per batch: the indexes once they are fixed, before the COMMIT (so the node can sign
 * while the fsync runs), and again when the COMMIT returned, which alone makes them durable.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { commitBatch, openDatabase, type BatchItem } from './sqlite-batch.ts';

const db = openDatabase((workerData as { file: string }).file);
// Checkpoint the WAL between batches, not inside a commit a caller is waiting for.
db.exec('PRAGMA wal_autocheckpoint = 0');
let dirty = false;
setInterval(() => {
  if (!dirty) return;
  dirty = false;
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } catch {
    // busy: the next round will do it
  }
}, 500).unref();

parentPort?.on('message', (m: { id: number; batch: BatchItem[] }) => {
  try {
    const indexes = commitBatch(db, m.batch, (assigned) => parentPort?.postMessage({ id: m.id, assigned }));
    parentPort?.postMessage({ id: m.id, indexes });
    dirty = true;
  } catch (err) {
    parentPort?.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});

/**
 * Whole-log audit, trusting nothing but the log's public key: every entry is present
 * (indexes dense from 0), every stored tree hash equals the one recomputed from the
 * entries, every checkpoint's signature verifies, its root is the recomputed root of
 * its size, and each checkpoint is consistent with the one before. Memory does not
 * grow with the log: entries are streamed, and a stored hash is read only after it
 * was itself checked against the recomputation. The derived index columns and the
 * lineage index are checked against the leaves too (audit-index.ts).
 */
import type { DatabaseSync } from 'node:sqlite';
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { parseCheckpoint } from '../tlog/checkpoint.ts';
import { proveTree, storedHashes, storedHashIndex, treeHash, verifyConsistency, type HashReader } from '../tlog/merkle.ts';
import { openNote, type NoteVerifier } from '../tlog/note.ts';
import { sqliteHashReader } from './sqlite-batch.ts';
import { indexAuditor } from './audit-index.ts';
import { leafObject } from './leaf.ts';

export interface LogProblem {
  /** the entry index (or the checkpoint size) where the log first diverges */
  index: number;
  kind: 'missing_entry' | 'type_mismatch' | 'index_mismatch' | 'hash_mismatch' | 'missing_hash' | 'checkpoint_signature' | 'checkpoint_root' | 'checkpoint_inconsistent' | 'checkpoint_malformed';
  message: string;
}

export interface LogAuditReport {
  size: number;
  checkpoints: number;
  problems: LogProblem[];
}


const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

export function auditLog(db: DatabaseSync, o: { origin: string; verifier: NoteVerifier }): LogAuditReport {
  const problems: LogProblem[] = [];
  const checkpointCount = Number((db.prepare('SELECT COUNT(*) AS n FROM ledger_checkpoints').get() as { n: number }).n);
  const stored = sqliteHashReader(db);
  let size = 0;
  const hashAt = db.prepare('SELECT hash FROM ledger_hashes WHERE id = ?');
  // 1. entries and tree hashes, streamed in index order
  const rows = db.prepare('SELECT idx, type, leaf, jti, decision_id FROM ledger_entries ORDER BY idx').iterate() as Iterable<{ idx: number; type: string; leaf: Uint8Array; jti: string | null; decision_id: string | null }>;
  const index = indexAuditor(db);
  for (const row of rows) {
    const idx = Number(row.idx);
    if (idx !== size) {
      problems.push({ index: size, kind: 'missing_entry', message: `entry ${size} is missing (next present is ${idx})` });
      return { size, checkpoints: checkpointCount, problems };
    }
    let recomputed: Uint8Array[];
    try {
      recomputed = storedHashes(idx, new Uint8Array(row.leaf), stored);
    } catch (err) {
      problems.push({ index: idx, kind: 'missing_hash', message: `tree hashes needed for entry ${idx} are missing: ${(err as Error).message}` });
      return { size, checkpoints: checkpointCount, problems };
    }
    const base = storedHashIndex(0, idx);
    for (const [k, h] of recomputed.entries()) {
      const onDisk = hashAt.get(base + k) as { hash: Uint8Array } | undefined;
      if (!onDisk || !equal(new Uint8Array(onDisk.hash), h)) {
        problems.push({ index: idx, kind: 'hash_mismatch', message: `entry ${idx}: the stored tree hash does not match the entry's bytes (altered entry or tree)` });
        return { size, checkpoints: checkpointCount, problems };
      }
    }
    // the type column is an index for queries; it must say what the (hashed) leaf says
    const leaf = leafObject(row.leaf);
    if (leaf.type !== row.type) {
      problems.push({ index: idx, kind: 'type_mismatch', message: `entry ${idx}: indexed as ${row.type} but the leaf says ${String(leaf.type)}` });
      return { size, checkpoints: checkpointCount, problems };
    }
    const wrongIndex = index.check(idx, row, leaf);
    if (wrongIndex) {
      problems.push({ index: idx, kind: 'index_mismatch', message: wrongIndex });
      return { size, checkpoints: checkpointCount, problems };
    }
    size++;
  }
  const orphan = index.orphan();
  if (orphan) {
    problems.push({ index: size, kind: 'index_mismatch', message: orphan });
    return { size, checkpoints: checkpointCount, problems };
  }
  // 2. checkpoints: signature, root, consistency with the previous one
  const reader: HashReader = stored; // every hash it can return was checked above
  const cps = db.prepare('SELECT size, root, note FROM ledger_checkpoints ORDER BY size').all() as unknown as { size: number; root: Uint8Array; note: string }[];
  let previous: { size: number; root: Uint8Array } | null = null;
  for (const cp of cps) {
    const cpSize = Number(cp.size);
    let body;
    try {
      body = parseCheckpoint(openNote(cp.note, [o.verifier]).text);
    } catch (err) {
      problems.push({ index: cpSize, kind: 'checkpoint_signature', message: `checkpoint of size ${cpSize}: ${(err as Error).message}` });
      break;
    }
    if (body.origin !== o.origin || body.size !== cpSize || !equal(body.rootHash, new Uint8Array(cp.root))) {
      problems.push({ index: cpSize, kind: 'checkpoint_malformed', message: `checkpoint of size ${cpSize}: its signed body does not match the stored size/root/origin` });
      break;
    }
    if (cpSize > size || !equal(treeHash(cpSize, reader), body.rootHash)) {
      problems.push({ index: cpSize, kind: 'checkpoint_root', message: `checkpoint of size ${cpSize}: the log's entries do not produce its signed root` });
      break;
    }
    if (previous) {
      try {
        verifyConsistency(previous.size, cpSize, proveTree(cpSize, previous.size, reader), previous.root, body.rootHash);
      } catch (err) {
        problems.push({ index: cpSize, kind: 'checkpoint_inconsistent', message: `checkpoint of size ${cpSize} is not consistent with size ${previous.size}: ${(err as Error).message}` });
        break;
      }
    }
    previous = { size: cpSize, root: body.rootHash };
  }
  return { size, checkpoints: cps.length, problems };
}

/**
 * Checks of the fleet's ledger of record (PostgreSQL, written by `writ sequencer`),
 * made from the outside: the writs returned by the nodes against the stored entries,
 * and the stored tree and checkpoints against a tree recomputed from the entries.
 */
import assert from 'node:assert/strict';
import { readFleetLogVerifierKey } from '../src/ledger/log-identity.ts';
import { parseCheckpoint, type Checkpoint } from '../src/tlog/checkpoint.ts';
import { EMPTY_TREE_HASH, leafHash, nodeHash, treeHash, verifyConsistency, verifyInclusion } from '../src/tlog/merkle.ts';
import { decodeBase64, newVerifier, openNote } from '../src/tlog/note.ts';
import { decodeClaims, waitFor, type TestFleet } from './fleet-harness.ts';

/** The fleet log's own verifier key (kept in the authority home, not its local log's key). */
function fleetLogVerifier(f: TestFleet) {
  return newVerifier(readFleetLogVerifierKey(f.authHome, f.name) ?? assert.fail('no fleet log key in the authority home'));
}

function sequencerUrl(f: TestFleet): string {
  if (!f.sequencer?.url) throw new Error('the fleet has no running sequencer');
  return f.sequencer.url;
}

/** The sequencer's latest checkpoint, its signed note verified with the fleet log's key (kept in the sequencer's home). */
export async function latestCheckpoint(f: TestFleet): Promise<Checkpoint & { note: string }> {
  const res = await fetch(`${sequencerUrl(f)}/v1/log/checkpoint`);
  assert.equal(res.status, 200, 'the sequencer serves a checkpoint');
  const note = await res.text();
  const verifier = fleetLogVerifier(f);
  return { ...parseCheckpoint(openNote(note, [verifier]).text), note };
}

/** Waits until the latest signed checkpoint covers at least `size` entries. */
export async function waitCheckpoint(f: TestFleet, size: number, timeoutMs = 10_000): Promise<Checkpoint & { note: string }> {
  return waitFor(`a checkpoint of size >= ${size}`, async () => {
    const cp = await latestCheckpoint(f);
    return cp.size >= size ? cp : undefined;
  }, timeoutMs, 100);
}

/**
 * Every writ is in PostgreSQL at index `led`: a decision leaf naming the same jti, issued
 * by the writ's node, and in the lineage index at that index.
 */
export async function assertWritsInLedger(f: TestFleet, writs: string[]): Promise<void> {
  const claims = writs.map(decodeClaims);
  const byIdx = new Map<number, { jti: string | null; type: string; leaf: Buffer }>();
  const r = await f.db.query<{ idx: string; jti: string | null; type: string; leaf: Buffer }>(`SELECT idx, jti, type, leaf FROM ${f.name}.entries WHERE idx = ANY($1::bigint[])`, [claims.map((c) => c.led)]);
  for (const row of r.rows) byIdx.set(Number(row.idx), row);
  const w = await f.db.query<{ jti: string; decision_idx: string }>(`SELECT jti, decision_idx FROM ${f.name}.writs WHERE jti = ANY($1::text[])`, [claims.map((c) => c.jti)]);
  const lineage = new Map(w.rows.map((row) => [row.jti, Number(row.decision_idx)]));
  const missing: string[] = [];
  for (const c of claims) {
    const e = byIdx.get(c.led);
    if (!e) {
      missing.push(`${c.jti} (led ${c.led}, from ${c.iss}): no entry`);
      continue;
    }
    const leaf = JSON.parse(e.leaf.toString('utf8')) as { type: string; node: string; writ: { jti: string } | null };
    if (e.type !== 'decision' || e.jti !== c.jti || leaf.writ?.jti !== c.jti || leaf.node !== c.iss) {
      missing.push(`${c.jti} (led ${c.led}, from ${c.iss}): index holds ${e.type} ${e.jti ?? '-'} from ${leaf.node}`);
    }
    if (lineage.get(c.jti) !== c.led) missing.push(`${c.jti}: lineage index says ${lineage.get(c.jti) ?? 'nothing'}, not ${c.led}`);
  }
  assert.deepEqual(missing, [], `${missing.length} of ${writs.length} writs are not in the ledger as returned`);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** RFC 6962 MTH over leaf hashes [lo, hi). */
function mth(leaves: Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 0) return Uint8Array.from(EMPTY_TREE_HASH);
  if (n === 1) return leaves[lo] as Uint8Array;
  let k = 1;
  while (k * 2 < n) k *= 2;
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/**
 * The stored ledger is one consistent tree: entries 0..n-1 without gaps; the stored
 * hashes give the root recomputed from the entries; every stored checkpoint is signed
 * by the sequencer's log key and commits to the recomputed root of its size; the
 * latest served checkpoint covers everything and is consistent with `earlier`.
 */
export async function assertLedgerConsistent(f: TestFleet, earlier: Checkpoint[] = []): Promise<{ size: number; checkpoints: number }> {
  const rows = (await f.db.query<{ idx: string; leaf: Buffer }>(`SELECT idx, leaf FROM ${f.name}.entries ORDER BY idx`)).rows;
  rows.forEach((row, i) => assert.equal(Number(row.idx), i, `entries are contiguous from 0 (index ${i})`));
  const size = rows.length;
  const leaves = rows.map((row) => leafHash(new Uint8Array(row.leaf)));

  const stored = new Map<number, Uint8Array>();
  for (const row of (await f.db.query<{ id: string; hash: Buffer }>(`SELECT id, hash FROM ${f.name}.hashes`)).rows) stored.set(Number(row.id), new Uint8Array(row.hash));
  const root = mth(leaves, 0, size);
  const storedRoot = treeHash(size, (ids) => ids.map((id) => stored.get(id) ?? assert.fail(`stored hash ${id} is missing`)));
  assert.equal(hex(storedRoot), hex(root), 'the stored tree hashes give the root recomputed from the entries');

  const verifier = fleetLogVerifier(f);
  const cps = (await f.db.query<{ size: string; root: Buffer; note: string }>(`SELECT size, root, note FROM ${f.name}.checkpoints ORDER BY size`)).rows;
  assert.ok(cps.length > 0, 'checkpoints were signed');
  for (const cp of cps) {
    const parsed = parseCheckpoint(openNote(cp.note, [verifier]).text);
    assert.equal(parsed.size, Number(cp.size));
    assert.ok(parsed.size <= size, `checkpoint ${parsed.size} is within the log (${size})`);
    assert.equal(hex(parsed.rootHash), hex(cp.root), `checkpoint ${parsed.size}: stored root is the signed one`);
    assert.equal(hex(parsed.rootHash), hex(mth(leaves, 0, parsed.size)), `checkpoint ${parsed.size} commits to the root recomputed from the entries`);
  }

  const latest = await waitCheckpoint(f, size);
  assert.equal(latest.size, size);
  assert.equal(hex(latest.rootHash), hex(root), 'the latest checkpoint commits to the whole ledger');
  for (const e of earlier) {
    const res = await fetch(`${sequencerUrl(f)}/v1/log/proof/consistency?from=${e.size}&to=${latest.size}`);
    assert.equal(res.status, 200);
    const { proof } = (await res.json()) as { proof: string[] };
    verifyConsistency(e.size, latest.size, proof.map((p) => decodeBase64(p) ?? assert.fail('proof hash is not base64')), e.rootHash, latest.rootHash);
  }
  return { size, checkpoints: cps.length };
}

/** Inclusion of entry `index` in the checkpoint `cp`, as the sequencer proves it, checked against PostgreSQL's bytes. */
export async function assertIncluded(f: TestFleet, index: number, cp: Checkpoint): Promise<void> {
  const entry = await fetch(`${sequencerUrl(f)}/v1/log/entries/${index}`);
  assert.equal(entry.status, 200);
  const bytes = new Uint8Array(await entry.arrayBuffer());
  const row = (await f.db.query<{ leaf: Buffer }>(`SELECT leaf FROM ${f.name}.entries WHERE idx = $1`, [index])).rows[0];
  assert.equal(hex(bytes), hex(row?.leaf ?? new Uint8Array()), `entry ${index} served as stored`);
  const res = await fetch(`${sequencerUrl(f)}/v1/log/proof/inclusion?index=${index}&size=${cp.size}`);
  assert.equal(res.status, 200);
  const p = (await res.json()) as { index: number; size: number; proof: string[] };
  assert.equal(p.size, cp.size);
  verifyInclusion(index, cp.size, leafHash(bytes), p.proof.map((h) => decodeBase64(h) ?? assert.fail('proof hash is not base64')), cp.rootHash);
}

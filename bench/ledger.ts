/**
 * The ledger section of `npm run bench` (issue 3, point 9), one table:
 *   durable appends      SqliteLedger.append with group commit (WAL, synchronous=FULL: one fsync per batch),
 *                        1, 16 and 256 concurrent writers each awaiting its append, worker and inline writers,
 *                        allow-decision leaves shaped like GovernanceNode's (encodeLeaf) with their index rows
 *   10^6-leaf log        built with commitBatch, 10,000 leaves per transaction (setup); file size per entry
 *   proofs at 10^6       inclusion proof generation (TransparencyLog / proveRecord over SQLite) and
 *                        verification (verifyInclusion, verifyProofFile)
 *   bytes per decision   a real home (demo policy) after N allowed decisions through GovernanceNode
 *   memory               process RSS while the tree grows: no tree is held in memory, hashes are read from SQLite
 */
import { createHash } from 'node:crypto';
import { v7 as newId } from 'uuid'; // as the node does: time-ordered decision ids and jtis
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { initHome } from '../src/home/init.ts';
import { authoritySigningKeys, openHome } from '../src/home/open.ts';
import { encodeLeaf, LEAF_VERSION } from '../src/ledger/leaf.ts';
import type { AppendRequest } from '../src/ledger/ledger.ts';
import { TransparencyLog } from '../src/ledger/log.ts';
import { leafHash, proveRecord, verifyInclusion } from '../src/tlog/merkle.ts';
import { generateKey, newSigner, newVerifier } from '../src/tlog/note.ts';
import { verifyProofFile } from '../src/tlog/proof-file.ts';
import { commitBatch, LEDGER_SCHEMA, openDatabase, sqliteHashReader } from '../src/ledger/sqlite-batch.ts';
import { SqliteLedger } from '../src/ledger/sqlite-ledger.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import { measure, row, type Stats } from './stats.ts';

const DEMO_POLICY = join(import.meta.dirname, '..', 'demo', 'policy');
const POLICY = { domain: 'default', version: 1, digest: `sha256:${'5e'.repeat(32)}` };
const WIDTHS = [52, 10, 10, 9, 9];
const MB = 1024 * 1024;

interface Line {
  name: string;
  tree: number | string;
  s?: Stats;
  result?: string;
}

const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));
const digest = (s: string) => createHash('sha256').update(s).digest('base64url');
const rss = () => process.memoryUsage.rss();
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const memory = () => `RSS ${mb(rss())}, JS heap used ${mb(process.memoryUsage().heapUsed)}`;

/** An allow decision exactly as GovernanceNode.record writes it (random UUIDs, like the node), with its index keys and writ row. */
export function decisionAppend(i: number, now = new Date()): AppendRequest {
  const id = newId();
  const jti = newId();
  const agent = `a${i % 100}`;
  const tool = `tool-${i % 50}`;
  const principal = `Agent::"${agent}"`;
  const action = 'Action::"tools/call"';
  const resource = `Tool::"${tool}"`;
  const args = { path: `/srv/data/${i % 1000}.txt` };
  const t = Math.floor(now.getTime() / 1000);
  const input = {
    principal: { type: 'Agent', id: agent },
    action: { type: 'Action', id: 'tools/call' },
    resource: { type: 'Tool', id: tool },
    context: { args, now: t, lineage: { depth: 0, parent: '', parentAction: '', rootPrincipal: principal }, attestation: { binaryDigest: '', domain: 'default', node: 'node-1' } },
  };
  const leaf = encodeLeaf({
    type: 'decision',
    v: LEAF_VERSION,
    time: now.toISOString(),
    id,
    node: 'node-1',
    request: { principal, action, resource, args, parent: null },
    input,
    inputDigest: digest(id),
    policy: POLICY,
    result: { decision: 'allow', reasons: ['policy_permit'], policies: [`read-${i % 50}`], errors: [] },
    writ: { jti, aud: resource, exp: t + 60, intent: digest(jti), lin: { parent: null, root: jti, depth: 0 } },
  });
  return { type: 'decision', leaf, decisionId: id, jti, writ: { jti, decisionIndex: -1, principal, action, resource, parent: null, root: jti, depth: 0, exp: t + 60 } };
}

/** `count` durable appends by `concurrency` writers, on a fresh database unless `to` is given; checks every index is distinct and stored. */
async function appends(writer: 'inline' | 'worker', concurrency: number, count: number, to?: { db: DatabaseSync; file: string }): Promise<Stats> {
  const dir = to ? null : tempDir('writ-bench-ledger-');
  const file = to?.file ?? join(dir as string, 'ledger.db');
  const db = to?.db ?? openDatabase(file);
  const ledger = new SqliteLedger(db, { writer, file });
  try {
    const base = ledger.size();
    const warm = Math.min(1000, Math.ceil(count / 10));
    const seen = new Uint8Array(warm + count);
    const append = async (i: number) => {
      const index = (await ledger.append(decisionAppend(base + i))) - base;
      if (seen[index]) throw new Error(`ledger index ${base + index} returned twice`);
      seen[index] = 1;
    };
    await measure(warm, concurrency, append);
    const s = await measure(count, concurrency, (i) => append(warm + i));
    if (ledger.size() !== base + warm + count || !seen.every((x) => x === 1)) throw new Error(`ledger holds ${ledger.size() - base} new entries, want ${warm + count}`);
    return s;
  } finally {
    await ledger.close();
    if (dir) {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** File size after a TRUNCATE checkpoint, and bytes per entry by table (indexes apart), from dbstat. */
function storage(db: DatabaseSync): { bytes: number; entries: number; leafAvg: number; parts: string } {
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const page = db.prepare('SELECT page_count * page_size AS b FROM pragma_page_count(), pragma_page_size()').get() as { b: number };
  const e = db.prepare('SELECT COUNT(*) AS n, AVG(LENGTH(leaf)) AS avg FROM ledger_entries').get() as { n: number; avg: number };
  const tables = db.prepare("SELECT d.name AS name, s.type AS type, SUM(d.pgsize) AS b FROM dbstat d JOIN sqlite_schema s ON s.name = d.name WHERE d.aggregate = TRUE GROUP BY d.name").all() as unknown as { name: string; type: string; b: number }[];
  const sum = (f: (t: { name: string; type: string }) => boolean) => tables.filter(f).reduce((a, t) => a + Number(t.b), 0) / Number(e.n);
  const parts = [
    `entries ${int(sum((t) => t.name === 'ledger_entries'))}`,
    `hashes ${int(sum((t) => t.name === 'ledger_hashes'))}`,
    `writs ${int(sum((t) => t.name === 'ledger_writs'))}`,
    `indexes ${int(sum((t) => t.type === 'index'))}`,
    `other ${int(sum((t) => t.type === 'table' && !['ledger_entries', 'ledger_hashes', 'ledger_writs'].includes(t.name)))}`,
  ].join(', ');
  return { bytes: Number(page.b), entries: Number(e.n), leafAvg: Number(e.avg), parts };
}

/** Builds a `size`-leaf log with large transactions; samples process memory as the tree grows. */
function buildLog(db: DatabaseSync, size: number, out: Line[]): void {
  db.exec(LEDGER_SCHEMA);
  const batch = 10_000;
  out.push({ name: 'process RSS before build', tree: '0', result: memory() });
  const marks = [size / 4, size / 2, size];
  let max = rss();
  const started = performance.now();
  for (let n = 0; n < size; n += batch) {
    commitBatch(db, Array.from({ length: Math.min(batch, size - n) }, (_, k) => decisionAppend(n + k)));
    max = Math.max(max, rss());
    const at = Math.min(n + batch, size);
    if (at >= (marks[0] ?? Infinity) && marks.shift()) out.push({ name: `process RSS while building (max so far ${mb(max)})`, tree: at, result: memory() });
  }
  const seconds = (performance.now() - started) / 1000;
  out.push({ name: `setup: build log, commitBatch ×${int(batch)}/txn`, tree: size, result: `${seconds.toFixed(1)} s (${int(size / seconds)} leaves/s)` });
  const st = storage(db);
  out.push({ name: 'file bytes per entry (after wal_checkpoint)', tree: size, result: `${int(st.bytes / st.entries)} B/entry (leaf ${int(st.leafAvg)} B; ${st.parts}); file ${mb(st.bytes)}` });
}

/** Inclusion proofs at `size`: generation through the log and through proveRecord, then verification. */
function proofs(db: DatabaseSync, size: number, count: number, out: Line[]): void {
  const origin = 'writ.local/bench/node-1';
  const key = generateKey(origin);
  const log = new TransparencyLog(db, { origin, verifier: newVerifier(key.verifierKey), signer: newSigner(key.signerKey) });
  let t = performance.now();
  const cp = log.checkpoint();
  if (!cp || cp.size !== size) throw new Error('checkpoint does not cover the log');
  out.push({ name: 'log.checkpoint() (tree head from SQLite + Ed25519)', tree: size, result: `${int((performance.now() - t) * 1000)} µs once` });
  const indexes = Array.from({ length: count }, () => Math.floor(Math.random() * size));
  const generated: Uint8Array[][] = [];
  const viaLog = measureSync(count, (i) => (generated[i] = log.inclusionProof(indexes[i] as number, size)));
  out.push({ name: 'inclusion proof: log.inclusionProof (HTTP path)', tree: size, s: viaLog, result: `${generated[0]?.length} hashes, random indexes` });
  const reader = sqliteHashReader(db);
  out.push({ name: 'inclusion proof: proveRecord + sqliteHashReader', tree: size, s: measureSync(count, (i) => proveRecord(size, indexes[i] as number, reader)) });
  const leaves = indexes.map((i) => log.entry(i) as Uint8Array);
  const hashes = leaves.map((l) => leafHash(l));
  out.push({ name: 'verifyInclusion (RFC 9162 §2.1.3.2)', tree: size, s: measureSync(count, (i) => verifyInclusion(indexes[i] as number, size, hashes[i] as Uint8Array, generated[i] as Uint8Array[], cp.root)) });
  out.push({ name: 'leafHash + verifyInclusion', tree: size, s: measureSync(count, (i) => verifyInclusion(indexes[i] as number, size, leafHash(leaves[i] as Uint8Array), generated[i] as Uint8Array[], cp.root)) });
  t = performance.now();
  const files = indexes.slice(0, Math.min(count, 500)).map((i) => log.proofFile(i));
  const fileGen = ((performance.now() - t) * 1000) / files.length;
  const verifyFile = measureSync(files.length, (i) => {
    if (!verifyProofFile(files[i] as string, leaves[i] as Uint8Array, key.verifierKey).ok) throw new Error(`proof file ${i} did not verify`);
  });
  out.push({ name: 'verifyProofFile (tlog-proof@v1: note sig + incl.)', tree: size, s: verifyFile, result: `generation ${fileGen.toFixed(0)} µs mean` });
  out.push({ name: 'process RSS after proofs', tree: size, result: memory() });
}

/** measure() for synchronous work, without a promise per call. */
function measureSync(count: number, fn: (i: number) => unknown): Stats {
  for (let i = 0; i < Math.min(count, 200); i++) fn(i); // warm-up
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    fn(i);
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const wall = performance.now() - started;
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN;
  return { ops: count, perSecond: (count / wall) * 1000, p50us: at(0.5), p99us: at(0.99) };
}

/** A home like the tests' fixture(): demo policy signed and active; `count` allowed decisions through the node. */
async function homeBytesPerDecision(count: number, out: Line[]): Promise<void> {
  const home = tempDir('writ-bench-home-');
  try {
    await initHome({ home });
    const h = await openHome(home, { writer: 'worker' });
    const created = new Date(Date.now() - 1000);
    const bundle = await buildBundle(readPolicyFolder(DEMO_POLICY), { domain: h.config.domain, version: 1, created, expires: new Date(created.getTime() + 3600_000) }, await authoritySigningKeys(home, h.config));
    await h.node.policy.activate(new TextEncoder().encode(JSON.stringify(bundle)));
    await measure(count, 16, async (i) => {
      const d = await h.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: `/srv/data/${i}.txt` } });
      if (d.decision !== 'allow') throw new Error(`unexpected deny: ${d.message}`);
    });
    await h.ledger.close();
    const st = storage(h.db);
    h.db.close();
    out.push({ name: `bytes per decision: real home, ${int(count)} allows`, tree: st.entries, result: `${int(st.bytes / st.entries)} B/entry (leaf ${int(st.leafAvg)} B; ${st.parts}); file ${mb(st.bytes)}` });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export async function ledgerBench(quick: boolean): Promise<void> {
  const size = quick ? 100_000 : 1_000_000;
  const counts: Record<number, number> = quick ? { 1: 300, 16: 3000, 256: 20_000 } : { 1: 2000, 16: 20_000, 256: 100_000 };
  const out: Line[] = [];
  for (const writer of ['worker', 'inline'] as const) {
    for (const c of [1, 16, 256]) {
      const s = await appends(writer, c, counts[c] as number);
      out.push({ name: `durable append, ${writer} writer, ${c} writer${c > 1 ? 's' : ''}`, tree: 'fresh', s, result: `${int(s.ops)} appends` });
    }
  }
  const sample = decisionAppend(0).leaf.byteLength;
  const dir = tempDir('writ-bench-log-');
  try {
    const file = join(dir, 'log.db');
    const db = openDatabase(file);
    buildLog(db, size, out);
    proofs(db, size, quick ? 500 : 2000, out);
    for (const c of [16, 256]) {
      const s = await appends('worker', c, (quick ? 5000 : 20_000) / (c === 16 ? 2 : 1), { db, file });
      out.push({ name: `durable append, worker writer, ${c} writers`, tree: size, s, result: `${int(s.ops)} appends onto the built log` });
    }
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await homeBytesPerDecision(quick ? 500 : 2000, out);

  const command = ['node', ...process.argv.slice(1).map((a, i) => (i === 0 ? relative(process.cwd(), a) : a))].join(' ');
  console.log(`\nwrit ledger bench — ${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}; node ${process.version}; decision leaves of ${sample} bytes`);
  console.log(`command: ${command}   (cwd ${process.cwd()}, ${new Date().toISOString()})\n`);
  console.log(`${row(['ledger', 'tree', 'ops/s', 'p50 µs', 'p99 µs'], WIDTHS)}  result`);
  for (const l of out) console.log(`${row([l.name, l.tree, l.s?.perSecond ?? NaN, l.s?.p50us ?? NaN, l.s?.p99us ?? NaN], WIDTHS)}  ${l.result ?? ''}`);
  console.log(
    '\ntargets: ≥ 20,000 durable appends/s; inclusion proof verification ≤ 100 µs; memory independent of tree size' +
      ' (the tree lives in SQLite: proofs and checkpoints read O(log n) stored hashes, the process holds none).',
  );
}

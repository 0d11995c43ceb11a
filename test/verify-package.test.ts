/**
 * @writ/verify as an executor gets it: packed from packages/verify (its prepack builds it from
 * src/writ), installed into an empty folder with nothing but its declared dependencies, and
 * used there by plain .mjs executors in their own processes — on the system's Node 20 where
 * the library promises Node >= 20, on Node 24 for the node:sqlite store — against writs from
 * a real node (a fixture home with the demo policy); and @writ/verify/proof on Node 20 with
 * a proof file from the node's own log, cosigned by real witnesses (WebCrypto only: the
 * package brings no SHA-256 library).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { embeddedRevocationList } from '../src/server/revocation-list-route.ts';
import { revoke } from '../src/node/evidence.ts';
import { generateCosignerKey, newCosigner } from '../src/tlog/cosignature.ts';
import { formatAddCheckpoint } from '../src/witness/request.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { fixture, tempDir, type Fixture } from './helpers.ts';

const PACKAGE = join(import.meta.dirname, '..', 'packages', 'verify');
const NODE20 = '/usr/bin/node';
const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };

// The executor: verify.mjs <writ file> <args json> [memory | sqlite <db> | list <list file>]
const EXECUTOR = `
import { readFileSync } from 'node:fs';
import { verifyWrit, memoryJtiStore, verifyRevocationList } from '@writ/verify';
const [writFile, argsJson, mode, extra] = process.argv.slice(2);
const keys = JSON.parse(readFileSync('jwks.json', 'utf8'));
const options = { keys, audience: 'Tool::"fs/read"', args: JSON.parse(argsJson), consume: memoryJtiStore() };
let store = null;
if (mode === 'sqlite') {
  const { sqliteJtiStore } = await import('@writ/verify/sqlite');
  store = sqliteJtiStore(extra);
  options.consume = store.consume;
}
try {
  // a list that does not verify throws stale_policy, as a missing one would
  if (mode === 'list') options.revocationList = await verifyRevocationList(readFileSync(extra, 'utf8'), { keys });
  const v = await verifyWrit(readFileSync(writFile, 'utf8'), options);
  console.log(JSON.stringify({ ok: true, jti: v.claims.jti, node: process.versions.node }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, message: err.message, node: process.versions.node }));
} finally {
  store?.close();
}
`;

// The auditor: proof.mjs <proof file> <entry file> <log key> <K> <witness key>... — @writ/verify/proof alone
const AUDITOR = `
import { readFileSync } from 'node:fs';
import { verifyProof, ProofVerificationError } from '@writ/verify/proof';
const [proofFile, entryFile, logKey, k, ...witnesses] = process.argv.slice(2);
try {
  const v = await verifyProof(readFileSync(proofFile), readFileSync(entryFile), { logKey, witnesses, minWitnesses: Number(k) });
  console.log(JSON.stringify({ ok: true, index: v.index, size: v.checkpoint.size, witnesses: v.witnesses.map((w) => w.name), node: process.versions.node }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, check: err.check, typed: err instanceof ProofVerificationError, node: process.versions.node }));
}
`;

let f: Fixture;
let consumer: string;
let scratch: string;

interface Verdict { ok: boolean; code?: string; jti?: string; node: string }

function run(node: string, ...args: string[]): Verdict {
  const r = spawnSync(node, ['verify.mjs', ...args], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `executor failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Verdict;
}

/** The executor in a process of its own, not waited for: for several at once. */
function runAsync(node: string, ...args: string[]): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const c = spawn(node, ['verify.mjs', ...args], { cwd: consumer, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Verdict) : reject(new Error(`executor exited ${code}`))));
  });
}

async function writFile(name: string, args: unknown): Promise<{ file: string; jti: string }> {
  const d = await f.node.authorize({ ...READ, args });
  assert.equal(d.decision, 'allow', d.message);
  assert.ok(d.writ !== undefined && d.claims !== undefined);
  const file = join(scratch, name);
  writeFileSync(file, d.writ);
  return { file, jti: d.claims.jti };
}

/** Every package installed in a node_modules folder (scoped ones as @scope/name). */
function installed(dir: string): string[] {
  const out: string[] = [];
  const walk = (nm: string): void => {
    if (!existsSync(nm)) return;
    for (const e of readdirSync(nm)) {
      if (e.startsWith('.')) continue;
      if (e.startsWith('@')) {
        for (const s of readdirSync(join(nm, e))) {
          out.push(`${e}/${s}`);
          walk(join(nm, e, s, 'node_modules'));
        }
      } else {
        out.push(e);
        walk(join(nm, e, 'node_modules'));
      }
    }
  };
  walk(join(dir, 'node_modules'));
  return out.sort();
}

before(async () => {
  scratch = tempDir('writ-verify-pkg-');
  consumer = tempDir('writ-verify-consumer-');
  // npm pack runs the package's prepack: the build from src/writ and src/canonical
  const packed = execFileSync('npm', ['pack', '--pack-destination', scratch, '--json'], { cwd: PACKAGE, encoding: 'utf8', timeout: 120_000 });
  const [info] = JSON.parse(packed.slice(packed.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  assert.ok(info !== undefined);
  const tarball = join(scratch, info.filename);
  assert.ok(info.files.some((x) => x.path === 'dist/writ/verify.js') && info.files.some((x) => x.path === 'dist/sqlite/sqlite-jti-store.d.ts'), 'the tarball holds the built JS and types');
  assert.ok(info.files.some((x) => x.path === 'dist/tlog/verify-proof.js') && info.files.some((x) => x.path === 'dist/tlog/verify-proof.d.ts'), 'and ./proof');
  assert.ok(!info.files.some((x) => x.path === 'dist/tlog/sha256.js'), 'no @noble/hashes SHA-256 in the package: WebCrypto');
  assert.ok(!info.files.some((x) => x.path.endsWith('.ts') && !x.path.endsWith('.d.ts')), 'no TypeScript source in the tarball');
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'executor', private: true, type: 'module' }));
  // jose and canonicalize are in the npm cache (the repository depends on them); the registry otherwise
  execFileSync('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: consumer, encoding: 'utf8', timeout: 120_000 });
  writeFileSync(join(consumer, 'verify.mjs'), EXECUTOR);
  writeFileSync(join(consumer, 'proof.mjs'), AUDITOR);
  f = await fixture();
  writeFileSync(join(consumer, 'jwks.json'), JSON.stringify(f.jwks));
});

after(() => {
  f?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
  rmSync(consumer, { recursive: true, force: true });
});

test('the installed package brings jose and canonicalize and nothing of the server', () => {
  const names = installed(consumer);
  assert.deepEqual(names, ['@writ/verify', 'canonicalize', 'jose']);
  for (const n of names) assert.doesNotMatch(n, /fastify|^pg$|nats|cedar/);
  const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules', '@writ', 'verify', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.deepEqual(Object.keys(manifest.dependencies).sort(), ['canonicalize', 'jose']);
});

test('a writ from a node verifies in an executor on Node 20; other arguments are refused', async () => {
  const args = { path: '/srv/report.txt' };
  const w = await writFile('w1', args);
  const ok = run(NODE20, w.file, JSON.stringify(args), 'memory');
  assert.deepEqual(ok, { ok: true, jti: w.jti, node: ok.node });
  assert.match(ok.node, /^20\./);
  const other = run(NODE20, w.file, JSON.stringify({ path: '/etc/shadow' }), 'memory');
  assert.equal(other.code, 'writ_intent_mismatch');
});

test('the SQLite store refuses a replay from a second process', async () => {
  const args = { path: '/srv/a.txt' };
  const w = await writFile('w2', args);
  const db = join(scratch, 'jti.db');
  const first = run(process.execPath, w.file, JSON.stringify(args), 'sqlite', db);
  assert.deepEqual(first, { ok: true, jti: w.jti, node: process.versions.node });
  const second = run(process.execPath, w.file, JSON.stringify(args), 'sqlite', db);
  assert.equal(second.ok, false);
  assert.equal(second.code, 'writ_replayed');
  // another writ is still fresh in the same file: the store refuses the jti, not everything
  const w3 = await writFile('w3', args);
  assert.equal(run(process.execPath, w3.file, JSON.stringify(args), 'sqlite', db).ok, true);
  // four processes racing for one fresh jti on a new file: exactly one executes
  const w4 = await writFile('w3b', args);
  const raced = join(scratch, 'raced.db');
  const verdicts = await Promise.all([1, 2, 3, 4].map(() => runAsync(process.execPath, w4.file, JSON.stringify(args), 'sqlite', raced)));
  assert.equal(verdicts.filter((v) => v.ok).length, 1, JSON.stringify(verdicts));
  assert.deepEqual(verdicts.filter((v) => !v.ok).map((v) => v.code), ['writ_replayed', 'writ_replayed', 'writ_replayed']);
  // the in-memory store of a new process would have accepted the replay: the file is what refuses it
  assert.equal(run(process.execPath, w.file, JSON.stringify(args), 'memory').ok, true);
});

test('the SQLite store prunes a jti only past its exp plus the grace, and reports consumed ones', () => {
  const script = `
    import { sqliteJtiStore } from '@writ/verify/sqlite';
    let now = 1_000_000;
    const s = sqliteJtiStore(process.argv[1], { graceSeconds: 300, now: () => new Date(now * 1000) });
    const out = [s.consume('old', now - 301), s.consume('recent', now - 299), s.consume('live', now + 60)];
    out.push(s.isConsumed('old'), s.isConsumed('never'));
    out.push(s.prune());
    out.push(s.isConsumed('old'), s.isConsumed('recent'), s.isConsumed('live'), s.consume('recent', now - 299));
    s.close();
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, join(scratch, 'prune.db')], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  // consumed three; old and not-yet-seen; one row pruned; old gone, the others kept and still refused
  assert.deepEqual(JSON.parse(r.stdout), [true, true, true, true, false, 1, false, true, true, false]);
});

test('a writ revoked at the node is refused through its signed revocation list', async () => {
  const args = { path: '/srv/b.txt' };
  const revoked = await writFile('w4', args);
  const kept = await writFile('w5', args);
  await revoke(f.evidence, f.state, { kind: 'writ', value: revoked.jti, reason: 'test: leaked', by: 'test' });
  const list = await embeddedRevocationList(f.node, f.state)();
  const listFile = join(scratch, 'revocations.jwt');
  writeFileSync(listFile, list.jws);
  const refused = run(NODE20, revoked.file, JSON.stringify(args), 'list', listFile);
  assert.equal(refused.ok, false);
  assert.equal(refused.code, 'writ_revoked');
  assert.equal(run(NODE20, kept.file, JSON.stringify(args), 'list', listFile).ok, true, 'a writ not on the list passes');
  // the same revoked writ without the list: nothing else tells this executor
  assert.equal(run(NODE20, revoked.file, JSON.stringify(args), 'memory').ok, true);
  // a list that does not verify is never "not revoked"
  writeFileSync(listFile, `${list.jws.slice(0, -4)}AAAA`);
  assert.equal(run(NODE20, kept.file, JSON.stringify(args), 'list', listFile).code, 'stale_policy');
});

test('@writ/verify/proof on Node 20: a cosigned proof from the node log passes K of N, and fails short of K or with a tampered cosignature', async () => {
  const w = await writFile('w6', { path: '/srv/proof.txt' });
  const stored = f.log.checkpoint();
  assert.ok(stored !== null);
  const cp = stored.note;
  const origin = f.log.origin;
  const logKey = f.config.log.verifierKey;
  const keys = [1, 2, 3].map((i) => generateCosignerKey(`witness.example/pkg${i}`));
  let note = cp;
  for (const [i, k] of keys.slice(0, 2).entries()) {
    const witness = new Witness({ cosigner: newCosigner(k.signerKey), logs: [{ origin, verifierKeys: [logKey] }], state: new WitnessState(join(scratch, `pkg-w${i}.db`)) });
    const r = witness.addCheckpoint(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: cp }));
    assert.equal(r.status, 200, r.body);
    note += r.body;
  }
  const size = stored.size;
  const index = size - 1; // the writ's decision is the newest entry
  const proofFile = join(scratch, 'p.tlog-proof');
  const entryFile = join(scratch, 'p.entry');
  // the log's own proof file (its checkpoint, no cosignature stored) with the witnesses' lines added
  const proofOf = (n: string): string => f.log.proofFile(index).replace(cp, n);
  writeFileSync(proofFile, proofOf(note));
  writeFileSync(entryFile, f.log.entry(index) as Uint8Array);
  const wk = keys.map((k) => k.verifierKey);
  const audit = (...args: string[]): { ok: boolean; code?: string; check?: string; typed?: boolean; index?: number; witnesses?: string[]; node: string } => {
    const r = spawnSync(NODE20, ['proof.mjs', ...args], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `auditor failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const ok = audit(proofFile, entryFile, logKey, '2', ...wk);
  assert.deepEqual(ok, { ok: true, index, size, witnesses: ['witness.example/pkg1', 'witness.example/pkg2'], node: ok.node });
  assert.match(ok.node, /^20\./);
  assert.ok(new TextDecoder().decode(f.log.entry(index) as Uint8Array).includes(w.jti), 'the proven entry is the writ decision');
  assert.deepEqual(audit(proofFile, entryFile, logKey, '3', ...wk), { ok: false, code: 'witness_quorum_not_met', check: 'witnesses', typed: true, node: ok.node });
  // the second cosignature's timestamp moved by one second
  const lines = note.split('\n');
  const at = lines.findIndex((l) => l.startsWith('\u2014 witness.example/pkg2 '));
  const raw = Buffer.from(lines[at]?.split(' ').at(-1) as string, 'base64');
  raw[11] = (raw[11] as number) ^ 1;
  lines[at] = `\u2014 witness.example/pkg2 ${raw.toString('base64')}`;
  writeFileSync(proofFile, proofOf(lines.join('\n')));
  assert.deepEqual(audit(proofFile, entryFile, logKey, '1', ...wk), { ok: false, code: 'cosignature_invalid', check: 'witnesses', typed: true, node: ok.node });
  // another entry in its place
  writeFileSync(proofFile, proofOf(note));
  writeFileSync(entryFile, f.log.entry(0) as Uint8Array);
  assert.equal(audit(proofFile, entryFile, logKey, '2', ...wk).code, 'inclusion_proof_invalid');
});

/**
 * Whole-log audit and offline proofs through the CLI (issue 3, points 3, 5, 6):
 * `writ audit verify` passes on an honest home and exits 1, naming the index and the
 * kind of the first divergence, when the SQLite file is tampered with directly;
 * `writ audit entry`, `prove` and `verify-proof`; `writ keys --log`.
 * Each tampering runs on its own copy of one honest home (built once, for speed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { before, describe, it } from 'node:test';
import { readConfig } from '../src/home/config.ts';
import { authoritySigningKeys, openHome } from '../src/home/open.ts';
import { storedHashes, storedHashIndex } from '../src/tlog/merkle.ts';
import { sqliteHashReader } from '../src/ledger/sqlite-batch.ts';
import { decodeBase64, encodeBase64, generateKey, newVerifier } from '../src/tlog/note.ts';
import { revoke } from '../src/node/evidence.ts';
import type { AuthorizeRequest } from '../src/node/node.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import { canonicalJson } from '../src/writ/intent.ts';
import { copyHome, out, scratchDir, tamper, writ } from './audit-helpers.ts';
import { bundleBytes, CLI, DEMO_POLICY, fixture, policyFolder, tempDir } from './helpers.ts';

const A1 = 'Agent::"a1"';
const READ = (path: string): AuthorizeRequest => ({ principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path } });
const WRITE: AuthorizeRequest = { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/w' } };

interface Template {
  home: string;
  /** a decision allowed by Cedar (replayable) */
  allowIdx: number;
  allowJti: string;
  /** a decision denied by Cedar */
  denyIdx: number;
  /** the first decision that was evaluated (replay starts there) */
  firstEvaluated: number;
  size: number;
  checkpointSizes: number[];
}

/** An honest home with decisions, an exec outcome, a revocation, a gate denial and three checkpoints. */
async function buildTemplate(): Promise<Template> {
  const f = await fixture(); // 0: bundle activation
  const allow = async (req: AuthorizeRequest) => {
    const d = await f.node.authorize(req);
    assert.equal(d.decision, 'allow', d.message);
    return d as typeof d & { writ: string; claims: { jti: string } };
  };
  const a1 = await allow(READ('/srv/a'));
  const d1 = await f.node.authorize(WRITE);
  assert.equal(d1.decision, 'deny');
  assert.ok(f.log.checkpoint());
  const a2 = await allow(READ('/srv/b'));
  const ex = writ(['exec', '--home', f.home, '--principal', A1, '--', '/usr/bin/echo', 'hi']);
  assert.equal(ex.status, 0, out(ex));
  assert.equal(ex.stdout, 'hi\n');
  await revoke(f.ledger, f.state, { kind: 'writ', value: a2.claims.jti, reason: 'test', by: 'test' });
  const gate = await f.node.authorize({ ...READ('/srv/c'), parent: a2.writ });
  assert.deepEqual(gate.reasons, ['parent_revoked']);
  assert.ok(f.log.checkpoint());
  await allow(READ('/srv/d'));
  assert.equal((await f.node.authorize(READ('/srv/secret'))).decision, 'deny');
  assert.ok(f.log.checkpoint());
  const types = f.ledger.entries(0, 100).map((e) => e.type);
  assert.deepEqual(types.slice(types.indexOf('bundle_activation')), ['bundle_activation', 'decision', 'decision', 'decision', 'decision', 'outcome', 'revocation', 'decision', 'decision', 'decision']);
  const t: Template = {
    home: f.home,
    allowIdx: a1.ledgerIndex as number,
    allowJti: a1.claims.jti,
    denyIdx: d1.ledgerIndex as number,
    firstEvaluated: a1.ledgerIndex as number,
    size: f.log.size(),
    checkpointSizes: f.log.checkpoints().map((c) => c.size),
  };
  assert.equal(t.checkpointSizes.length, 3);
  assert.equal(t.checkpointSizes.at(-1), t.size);
  f.close();
  scratchDir(t.home);
  return t;
}

const freshHome = (t: Template): string => copyHome(t.home);

function leafOf(db: DatabaseSync, idx: number): Uint8Array {
  const r = db.prepare('SELECT leaf FROM ledger_entries WHERE idx = ?').get(idx) as { leaf: Uint8Array } | undefined;
  assert.ok(r, `entry ${idx}`);
  return new Uint8Array(r.leaf);
}

function verifyFails(home: string, index: number, kind: string): string {
  const r = writ(['audit', 'verify', '--home', home]);
  assert.equal(r.status, 1, `audit verify should fail: ${out(r)}`);
  assert.match(r.stdout, new RegExp(`FIRST DIVERGENCE at ${index}: ${kind}:`), out(r));
  assert.match(r.stdout, /FAILED/);
  return r.stdout;
}

describe('writ audit verify', () => {
  let t: Template;
  before(async () => {
    t = await buildTemplate();
  });

  it('exits 0 on an honest home with decisions, outcomes, revocations and checkpoints', () => {
    const r = writ(['audit', 'verify', '--home', freshHome(t)]);
    assert.equal(r.status, 0, out(r));
    assert.match(r.stdout, new RegExp(`: ${t.size} entries, 3 checkpoints`));
    assert.match(r.stdout, /7 decisions: 6 replayed, 1 denied before evaluation \(nothing to replay\), 0 differ/);
    assert.match(r.stdout, /^ok: the log is intact/m);
    const j = writ(['audit', 'verify', '--home', freshHome(t), '--json']);
    assert.equal(j.status, 0, out(j));
    const report = JSON.parse(j.stdout) as { ok: boolean; log: { size: number; checkpoints: number; problems: unknown[] } };
    assert.deepEqual({ ok: report.ok, size: report.log.size, checkpoints: report.log.checkpoints, problems: report.log.problems }, { ok: true, size: t.size, checkpoints: 3, problems: [] });
  });

  it('(a) one flipped byte in a leaf: hash_mismatch at that index', () => {
    const home = freshHome(t);
    tamper(home, (db) => {
      const leaf = leafOf(db, t.allowIdx);
      const at = Buffer.from(leaf).indexOf('/srv/a') + 5; // 'a' -> '`': still valid JSON
      leaf[at] = (leaf[at] as number) ^ 0x01;
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(leaf, t.allowIdx);
    });
    verifyFails(home, t.allowIdx, 'hash_mismatch');
  });

  it('(a) a flipped byte that breaks the leaf JSON is still reported at its index', () => {
    const home = freshHome(t);
    tamper(home, (db) => {
      const leaf = leafOf(db, t.allowIdx);
      leaf[0] = 0x5b; // '{' -> '['
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(leaf, t.allowIdx);
    });
    verifyFails(home, t.allowIdx, 'hash_mismatch');
  });

  it('(b) an altered checkpoint note: checkpoint_signature; an altered stored root: checkpoint_malformed', () => {
    const [first, mid] = t.checkpointSizes as [number, number, number];
    const home = freshHome(t);
    tamper(home, (db) => {
      const r = db.prepare('SELECT note FROM ledger_checkpoints WHERE size = ?').get(mid) as { note: string };
      const lines = r.note.split('\n');
      lines[1] = String(mid + 1); // the signed size
      db.prepare('UPDATE ledger_checkpoints SET note = ? WHERE size = ?').run(lines.join('\n'), mid);
    });
    assert.match(verifyFails(home, mid, 'checkpoint_signature'), /signature/i);

    const home2 = freshHome(t);
    tamper(home2, (db) => {
      const r = db.prepare('SELECT root FROM ledger_checkpoints WHERE size = ?').get(first) as { root: Uint8Array };
      const root = new Uint8Array(r.root);
      root[31] = (root[31] as number) ^ 0x80;
      db.prepare('UPDATE ledger_checkpoints SET root = ? WHERE size = ?').run(root, first);
    });
    verifyFails(home2, first, 'checkpoint_malformed');
  });

  it('(c) a stored bundle replaced by an altered one (unsigned, or re-signed): replay reports the decisions it recorded', async () => {
    const altered = (bytes: Uint8Array): Uint8Array => {
      const b = JSON.parse(new TextDecoder().decode(bytes)) as { files: Record<string, string> };
      const name = Object.keys(b.files).find((n) => n.endsWith('.cedar'));
      assert.ok(name);
      const text = Buffer.from(b.files[name] as string, 'base64').toString('utf8');
      const changed = text.replace('"/srv/*"', '"/nowhere/*"');
      assert.notEqual(changed, text, 'the policy text changed');
      b.files[name] = Buffer.from(changed).toString('base64');
      return new TextEncoder().encode(JSON.stringify(b));
    };
    const home = freshHome(t);
    tamper(home, (db) => {
      const r = db.prepare('SELECT digest, bytes FROM bundles').get() as { digest: string; bytes: Uint8Array };
      db.prepare('UPDATE bundles SET bytes = ? WHERE digest = ?').run(altered(new Uint8Array(r.bytes)), r.digest);
    });
    const r = writ(['audit', 'verify', '--home', home]);
    assert.equal(r.status, 1, out(r));
    assert.match(r.stdout, new RegExp(`#${t.firstEvaluated} [0-9a-f-]{36}: recorded allow .* replayed error: `), out(r));
    assert.match(r.stdout, /6 differ/);

    // a bundle validly signed by the authority, but not the one recorded, under the recorded digest
    const dir = policyFolder({
      'policy.cedar': readFileSync(join(DEMO_POLICY, 'policy.cedar'), 'utf8').replace('"/srv/*"', '"/nowhere/*"'),
      'entities.json': readFileSync(join(DEMO_POLICY, 'entities.json'), 'utf8'),
    });
    scratchDir(dir);
    const home2 = freshHome(t);
    const config = readConfig(home2);
    const resigned = await buildBundle(
      readPolicyFolder(dir),
      { domain: config.domain, version: 1, created: new Date(Date.now() - 1000), expires: new Date(Date.now() + 3600_000) },
      await authoritySigningKeys(home2, config),
    );
    tamper(home2, (db) => {
      db.prepare('UPDATE bundles SET bytes = ?').run(bundleBytes(resigned));
    });
    const r2 = writ(['audit', 'verify', '--home', home2]);
    assert.equal(r2.status, 1, out(r2));
    assert.match(r2.stdout, new RegExp(`#${t.firstEvaluated} [0-9a-f-]{36}: recorded allow .* replayed error: .*does not match its digest`), out(r2));
  });

  it('(d) a deleted entry: missing_entry at its index; a truncated log: checkpoint_root', () => {
    const home = freshHome(t);
    tamper(home, (db) => {
      db.prepare('DELETE FROM ledger_entries WHERE idx = ?').run(t.denyIdx);
    });
    verifyFails(home, t.denyIdx, 'missing_entry');

    const home2 = freshHome(t);
    tamper(home2, (db) => {
      db.prepare('DELETE FROM ledger_entries WHERE idx = ?').run(t.size - 1);
    });
    verifyFails(home2, t.size, 'checkpoint_root');
  });

  it('(f) a decision hidden from replay by relabelling its (unauthenticated) type column is still replayed or reported', () => {
    const home = freshHome(t);
    tamper(home, (db) => {
      db.prepare("UPDATE ledger_entries SET type = 'outcome' WHERE idx = ?").run(t.denyIdx);
    });
    const r = writ(['audit', 'verify', '--home', home]);
    if (r.status === 0) assert.match(r.stdout, /7 decisions: 6 replayed/, `a decision escaped replay, yet the audit passed:\n${out(r)}`);
    else assert.match(r.stdout, new RegExp(`\\b${t.denyIdx}\\b`), out(r));
  });

  it('(e) a rewritten decision with a recomputed, self-consistent tree: the signed checkpoint catches it', async () => {
    const home = freshHome(t);
    const i = t.denyIdx;
    tamper(home, (db) => {
      const leaf = JSON.parse(new TextDecoder().decode(leafOf(db, i))) as { result: { decision: string; reasons: string[]; policies: string[] } };
      leaf.result = { ...leaf.result, decision: 'allow', reasons: ['policy_permit'] };
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(new TextEncoder().encode(canonicalJson(leaf)), i);
      // rebuild every stored tree hash from entry i on, exactly as an append would
      db.prepare('DELETE FROM ledger_hashes WHERE id >= ?').run(storedHashIndex(0, i));
      const reader = sqliteHashReader(db);
      const insert = db.prepare('INSERT INTO ledger_hashes (id, hash) VALUES (?, ?)');
      for (let n = i; n < t.size; n++) {
        storedHashes(n, leafOf(db, n), reader).forEach((h, k) => insert.run(storedHashIndex(0, n) + k, h));
      }
    });
    const stdout = verifyFails(home, t.checkpointSizes.find((s) => s > i) as number, 'checkpoint_root');
    assert.doesNotMatch(stdout, /hash_mismatch|missing_entry/, 'the tree itself is self-consistent');
    assert.match(stdout, new RegExp(`#${i} [0-9a-f-]{36}: recorded allow policy_permit`), 'replay also disagrees with the rewritten result');

    // and the log refuses to sign a checkpoint that does not extend the last signed one
    const h = await openHome(home);
    try {
      assert.equal((await h.node.authorize(READ('/srv/e'))).decision, 'allow');
      const before = h.log.checkpoints().length;
      assert.throws(() => h.log.checkpoint());
      assert.equal(h.log.checkpoints().length, before, 'no inconsistent checkpoint was stored');
    } finally {
      h.close();
    }
  });
});

describe('writ audit entry / prove / verify-proof, writ keys --log', () => {
  let t: Template;
  let home: string;
  let dir: string;
  let logKey: string;
  before(async () => {
    t = await buildTemplate();
    home = freshHome(t);
    dir = tempDir('writ-proof-');
    scratchDir(dir);
  });

  it('writ keys --log prints the verifier key as name+8hex+base64, named after the origin', () => {
    const r = writ(['keys', '--log', '--home', home]);
    assert.equal(r.status, 0, out(r));
    assert.match(r.stdout, /^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+={0,2}\n$/);
    logKey = r.stdout.trim();
    const v = newVerifier(logKey);
    const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { log: { origin: string; verifierKey: string } };
    assert.equal(v.name, config.log.origin);
    assert.equal(logKey, config.log.verifierKey);
    const b64 = logKey.slice(logKey.indexOf('+', logKey.indexOf('+') + 1) + 1);
    assert.equal(decodeBase64(b64)?.length, 33, 'algorithm byte + 32-byte Ed25519 key');
    assert.equal(decodeBase64(b64)?.[0], 0x01, 'algorithm byte: Ed25519');
  });

  it('writ audit entry N prints exactly the stored bytes', () => {
    const db = new DatabaseSync(join(home, 'state.db'), { readOnly: true });
    try {
      for (const i of [0, t.allowIdx, t.allowIdx + 4, t.size - 1]) {
        const r = spawnSync(process.execPath, [CLI, 'audit', 'entry', String(i), '--home', home], { timeout: 30_000 });
        assert.equal(r.status, 0, r.stderr.toString());
        assert.deepEqual(new Uint8Array(r.stdout), leafOf(db, i), `entry ${i}`);
      }
    } finally {
      db.close();
    }
    const missing = writ(['audit', 'entry', String(t.size), '--home', home]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no entry/);
  });

  it('prove by jti, then verify-proof offline: every check ok; tampering fails the right check', () => {
    const proof = join(dir, 'a1.tlog-proof');
    const entry = join(dir, 'a1.entry');
    const p = writ(['audit', 'prove', t.allowJti, '--out', proof, '--entry-out', entry, '--home', home]);
    assert.equal(p.status, 0, out(p));
    const text = readFileSync(proof, 'utf8');
    assert.ok(text.startsWith(`c2sp.org/tlog-proof@v1\nindex ${t.allowIdx}\n`), text);
    const verify = (proofFile: string, entryFile: string, key: string) => writ(['audit', 'verify-proof', proofFile, '--entry', entryFile, '--log-key', key]);

    const good = verify(proof, entry, logKey);
    assert.equal(good.status, 0, out(good));
    const lines = good.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[1]), ['format:', 'log-key:', 'signature:', 'checkpoint:', 'origin:', 'index:', 'inclusion:']);
    for (const l of lines) assert.match(l, /^ok +/, l);
    // the key may also be given as a file
    const keyFile = join(dir, 'log.vkey');
    writeFileSync(keyFile, `${logKey}\n`);
    assert.equal(verify(proof, entry, keyFile).status, 0);

    // a tampered entry
    const badEntry = join(dir, 'bad.entry');
    const bytes = readFileSync(entry);
    bytes[bytes.length - 2] = (bytes[bytes.length - 2] as number) ^ 0x01;
    writeFileSync(badEntry, bytes);
    const e = verify(proof, badEntry, logKey);
    assert.equal(e.status, 1, out(e));
    assert.match(e.stdout, /^FAIL +inclusion: /m);
    assert.match(e.stdout, /^ok +signature: /m);

    // a tampered proof hash (still a well-formed base64 hash)
    const hashLine = text.split('\n')[2] as string;
    const h = decodeBase64(hashLine);
    assert.ok(h && h.length === 32, 'the proof has hashes');
    h[0] = (h[0] as number) ^ 0x01;
    const badProof = join(dir, 'bad.tlog-proof');
    writeFileSync(badProof, text.replace(`\n${hashLine}\n`, `\n${encodeBase64(h)}\n`));
    const pr = verify(badProof, entry, logKey);
    assert.equal(pr.status, 1, out(pr));
    assert.match(pr.stdout, /^FAIL +inclusion: /m);

    // a wrong log key (same name, other key)
    const other = generateKey(newVerifier(logKey).name).verifierKey;
    const k = verify(proof, entry, other);
    assert.equal(k.status, 1, out(k));
    assert.match(k.stdout, /^FAIL +signature: /m);
    assert.match(k.stdout, /^skip +inclusion: /m);
  });

  it('prove by index works too, and the proof is against a signed checkpoint covering it', () => {
    const proof = join(dir, 'idx.tlog-proof');
    const entry = join(dir, 'idx.entry');
    const p = writ(['audit', 'prove', String(t.size - 1), '--out', proof, '--entry-out', entry, '--home', home]);
    assert.equal(p.status, 0, out(p));
    const v = writ(['audit', 'verify-proof', proof, '--entry', entry, '--log-key', logKey, '--json']);
    assert.equal(v.status, 0, out(v));
    const r = JSON.parse(v.stdout) as { ok: boolean; index: number };
    assert.deepEqual({ ok: r.ok, index: r.index }, { ok: true, index: t.size - 1 });
  });
});

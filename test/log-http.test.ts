/**
 * The transparency log over HTTP (issue 3, points 7 and 8): the signed checkpoint,
 * inclusion and consistency proofs that verify against its root, raw entries, the
 * C2SP tlog-tiles read endpoints, and lineage (HTTP and `writ lineage`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parseCheckpoint } from '../src/tlog/checkpoint.ts';
import { leafHash, nodeHash, verifyConsistency, verifyInclusion } from '../src/tlog/merkle.ts';
import { decodeBase64, newVerifier, openNote } from '../src/tlog/note.ts';
import { decodeEntryBundle } from '../src/tlog/tiles.ts';
import { recordOutcome } from '../src/node/evidence.ts';
import type { Lineage } from '../src/lineage/lineage.ts';
import type { AuthorizeRequest, Decision } from '../src/node/node.ts';
import { buildApp } from '../src/server/app.ts';
import { auth, withTestCaller } from './server-fixture.ts';
import { CLI, fixture, type Fixture } from './helpers.ts';

const READ = (path: string): AuthorizeRequest => ({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path } });

function b64(s: string): Uint8Array {
  const h = decodeBase64(s);
  assert.ok(h && h.length === 32, `a base64 SHA-256 hash: ${s}`);
  return new Uint8Array(h);
}

async function grow(f: Fixture, n: number, tag: string): Promise<Decision[]> {
  const out: Decision[] = [];
  for (let i = 0; i < n; i += 50) {
    const chunk = Array.from({ length: Math.min(50, n - i) }, (_, k) => f.node.authorize(READ(`/srv/${tag}-${i + k}`)));
    out.push(...(await Promise.all(chunk)));
  }
  return out;
}

/** byte equality regardless of Buffer vs Uint8Array */
function sameBytes(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined, message?: string): void {
  assert.ok(a && b, message);
  assert.equal(Buffer.from(a).toString('hex'), Buffer.from(b).toString('hex'), message);
}

const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function leaves(f: Fixture, from: number, to: number): Uint8Array[] {
  return f.ledger.entries(from, to - from).map((e) => e.leaf);
}

describe('HTTP: checkpoint, proofs, entries', () => {
  let f: Fixture;
  let app: FastifyInstance;
  before(async () => {
    f = await fixture();
    app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });

  it('GET /v1/log/checkpoint: 404 before any checkpoint, then a signed note that verifies with the log key', async () => {
    const none = await get('/v1/log/checkpoint');
    assert.equal(none.statusCode, 404);
    assert.equal(none.json<{ error: string }>().error, 'not_found');
    await grow(f, 30, 'cp');
    assert.ok(f.log.checkpoint());
    const res = await get('/v1/log/checkpoint');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/plain/);
    const cp = parseCheckpoint(openNote(res.body, [newVerifier(f.config.log.verifierKey)]).text);
    assert.equal(cp.origin, f.config.log.origin);
    assert.equal(cp.size, f.log.size());
    sameBytes(cp.rootHash, f.log.treeHash(cp.size));
    // the note is exactly the stored one
    assert.equal(res.body, f.log.latestCheckpoint()?.note);
  });

  it('inclusion proofs verify against the root, for every index at several sizes', async () => {
    const size = f.log.size();
    for (const s of [1, 2, 3, Math.ceil(size / 2), size]) {
      for (let i = 0; i < s; i++) {
        const res = await get(`/v1/log/proof/inclusion?index=${i}&size=${s}`);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json<{ index: number; size: number; root: string; proof: string[] }>();
        assert.deepEqual([body.index, body.size], [i, s]);
        sameBytes(b64(body.root), f.log.treeHash(s));
        const leaf = f.log.entry(i);
        assert.ok(leaf);
        verifyInclusion(i, s, leafHash(leaf), body.proof.map(b64), b64(body.root));
        // a wrong index does not verify
        if (s > 1) assert.throws(() => verifyInclusion((i + 1) % s, s, leafHash(leaf), body.proof.map(b64), b64(body.root)));
      }
    }
    // without size: against the latest checkpoint
    const latest = f.log.latestCheckpoint();
    assert.ok(latest);
    const res = await get('/v1/log/proof/inclusion?index=0');
    assert.equal(res.statusCode, 200);
    const body = res.json<{ size: number; root: string; proof: string[] }>();
    assert.equal(body.size, latest.size);
    const leaf0 = f.log.entry(0);
    assert.ok(leaf0);
    verifyInclusion(0, latest.size, leafHash(leaf0), body.proof.map(b64), latest.root);
  });

  it('consistency proofs verify between any two sizes', async () => {
    const size = f.log.size();
    for (let from = 0; from <= size; from++) {
      for (const to of [from, Math.min(size, from + 1), size]) {
        const res = await get(`/v1/log/proof/consistency?from=${from}&to=${to}`);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json<{ from: number; to: number; proof: string[] }>();
        assert.deepEqual([body.from, body.to], [from, to]);
        verifyConsistency(from, to, body.proof.map(b64), f.log.treeHash(from), f.log.treeHash(to));
      }
    }
  });

  it('bad proof parameters: 400 JSON, never 500', async () => {
    const size = f.log.size();
    const bad = [
      `/v1/log/proof/inclusion?index=${size}&size=${size}`,
      `/v1/log/proof/inclusion?index=2&size=2`,
      `/v1/log/proof/inclusion?index=0&size=${size + 1}`,
      '/v1/log/proof/inclusion?index=0&size=0',
      '/v1/log/proof/inclusion?index=abc&size=3',
      '/v1/log/proof/inclusion?index=-1&size=3',
      '/v1/log/proof/inclusion?index=1.5&size=3',
      '/v1/log/proof/inclusion?index=0&size=99999999999999999999',
      '/v1/log/proof/inclusion?index=0&size=9999999999999999',
      '/v1/log/proof/inclusion?index=9007199254740993&size=3',
      '/v1/log/proof/inclusion?size=3',
      '/v1/log/proof/inclusion?index=0&size=3&extra=1',
      '/v1/log/proof/inclusion?index=&size=3',
      '/v1/log/proof/consistency?from=3&to=2',
      `/v1/log/proof/consistency?from=0&to=${size + 1}`,
      '/v1/log/proof/consistency?from=x&to=2',
      '/v1/log/proof/consistency?from=-1&to=2',
      '/v1/log/proof/consistency?from=0&to=9999999999999999',
      '/v1/log/proof/consistency?from=0&to=99999999999999999999',
      '/v1/log/proof/consistency?from=1',
    ];
    for (const url of bad) {
      const res = await get(url);
      assert.equal(res.statusCode, 400, `${url}: ${res.statusCode} ${res.body}`);
      assert.match(res.headers['content-type'] ?? '', /^application\/json/, url);
      assert.equal(typeof res.json<{ error: string }>().error, 'string', url);
    }
  });

  it('GET /v1/log/entries/<i>: the exact leaf bytes; 404 beyond the log; 400 for a non-index', async () => {
    const size = f.log.size();
    for (let i = 0; i < size; i++) {
      const res = await get(`/v1/log/entries/${i}`);
      assert.equal(res.statusCode, 200);
      sameBytes(new Uint8Array(res.rawPayload), f.log.entry(i), `entry ${i}`);
    }
    assert.equal((await get(`/v1/log/entries/${size}`)).statusCode, 404);
    assert.equal((await get('/v1/log/entries/9999999999999999')).statusCode, 404);
    for (const i of ['x', '-1', '1e3', '99999999999999999999']) {
      const res = await get(`/v1/log/entries/${i}`);
      assert.equal(res.statusCode, 400, `${i}: ${res.statusCode}`);
    }
  });
});

describe('HTTP: C2SP tlog-tiles', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let size: number;
  before(async () => {
    f = await fixture();
    app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
    const ds = await grow(f, 300, 't');
    assert.ok(ds.every((d) => d.decision === 'allow'));
    size = f.log.size();
    assert.ok(size > 256 && size < 512);
    assert.equal(f.log.checkpoint()?.size, size);
    await grow(f, 20, 'after'); // beyond the checkpoint: not served as tiles
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });
  it('tile/0/000 is the 256 leaf hashes; tile/0/001.p/W the rest; tile/1/000.p/1 the first 256-leaf subtree', async () => {
    const full = await get('/tile/0/000');
    assert.equal(full.statusCode, 200);
    assert.equal(full.rawPayload.length, 256 * 32);
    assert.match(full.headers['cache-control'] ?? '', /immutable/);
    const hashes = leaves(f, 0, 256).map(leafHash);
    sameBytes(new Uint8Array(full.rawPayload), concat(hashes));

    const w = size - 256;
    const partial = await get(`/tile/0/001.p/${w}`);
    assert.equal(partial.statusCode, 200);
    sameBytes(new Uint8Array(partial.rawPayload), concat(leaves(f, 256, size).map(leafHash)));
    // a narrower partial tile is that of an earlier tree
    const narrow = await get('/tile/0/001.p/3');
    assert.equal(narrow.statusCode, 200);
    sameBytes(new Uint8Array(narrow.rawPayload), concat(leaves(f, 256, 259).map(leafHash)));

    const level1 = await get('/tile/1/000.p/1');
    assert.equal(level1.statusCode, 200);
    assert.equal(level1.rawPayload.length, 32);
    sameBytes(new Uint8Array(level1.rawPayload), mth(hashes));
    sameBytes(new Uint8Array(level1.rawPayload), f.log.treeHash(256));
  });

  it('tile/entries/000 decodes into the first 256 leaves; tile/entries/001.p/W into the rest', async () => {
    const res = await get('/tile/entries/000');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(decodeEntryBundle(new Uint8Array(res.rawPayload)), leaves(f, 0, 256));
    const p = await get(`/tile/entries/001.p/${size - 256}`);
    assert.equal(p.statusCode, 200);
    assert.deepEqual(decodeEntryBundle(new Uint8Array(p.rawPayload)), leaves(f, 256, size));
  });

  it('tiles beyond the checkpoint: 404; malformed tile paths: 400', async () => {
    const w = size - 256;
    for (const url of ['/tile/0/001', `/tile/0/001.p/${w + 1}`, '/tile/0/002', '/tile/1/000', '/tile/1/000.p/2', '/tile/2/000.p/1', '/tile/entries/001', `/tile/entries/001.p/${w + 1}`, '/tile/entries/002.p/1', '/tile/0/x001/000']) {
      const res = await get(url);
      assert.equal(res.statusCode, 404, `${url}: ${res.statusCode} ${res.body}`);
    }
    for (const url of ['/tile/0/1', '/tile/0/0000', '/tile/00/000', '/tile/64/000', '/tile/x/000', '/tile/0/000.p/0', '/tile/0/000.p/256', '/tile/0/000.p/01', '/tile/0/x000/001', '/tile/0/000/', '/tile/0', '/tile/entries/abc', '/tile/-1/000', '/tile/0/000.p/']) {
      const res = await get(url);
      assert.equal(res.statusCode, 400, `${url}: ${res.statusCode} ${res.body}`);
      assert.equal(res.json<{ error: string }>().error, 'bad_tile_path', url);
    }
  });
});

/** RFC 6962 MTH over leaf hashes, computed independently of the stored tree (for a power-of-two count). */
function mth(hashes: Uint8Array[]): Uint8Array {
  assert.ok(hashes.length > 0 && (hashes.length & (hashes.length - 1)) === 0);
  let level = hashes;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i] as Uint8Array, level[i + 1] as Uint8Array));
    level = next;
  }
  return level[0] as Uint8Array;
}

interface DecisionBody {
  decision: string;
  writ?: string;
  policies: string[];
  reasons: string[];
  ledgerIndex: number | null;
  claims?: { jti: string; led: number; lin: { parent: string | null; root: string; depth: number } };
}

describe('lineage: HTTP and writ lineage', () => {
  let f: Fixture;
  let app: FastifyInstance;
  const w = {} as Record<'p' | 'c1' | 'c2' | 'g', { writ: string; jti: string; led: number }>;
  before(async () => {
    f = await fixture();
    app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
    const authorize = async (path: string, parent?: string) => {
      const res = await app.inject({ method: 'POST', url: '/v1/authorize', headers: auth(app), payload: { ...READ(path), ...(parent && { parent }) } });
      const b = res.json<DecisionBody>();
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(b.writ && b.claims);
      return { writ: b.writ, jti: b.claims.jti, led: b.claims.led };
    };
    w.p = await authorize('/srv/p');
    w.c1 = await authorize('/srv/c1', w.p.writ);
    w.c2 = await authorize('/srv/c2', w.p.writ);
    w.g = await authorize('/srv/g', w.c1.writ);
    await recordOutcome(f.ledger, { jti: w.g.jti, exitCode: 0, signal: null, durationMs: 3, status: 'ok', reason: null, node: 'node-1' });
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  const lineage = async (jti: string) => {
    const res = await app.inject({ method: 'GET', url: `/v1/lineage/${jti}` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<Lineage>();
  };
  type Node = Lineage['tree'];
  const shape = (n: Node): unknown => ({ jti: n.jti, depth: n.depth, children: n.children.map(shape) });

  it('every decision records its parent, root and depth; the lineage of the root is the whole tree', async () => {
    const l = await lineage(w.p.jti);
    assert.deepEqual(l.ancestors, []);
    assert.deepEqual(shape(l.tree), {
      jti: w.p.jti,
      depth: 0,
      children: [
        { jti: w.c1.jti, depth: 1, children: [{ jti: w.g.jti, depth: 2, children: [] }] },
        { jti: w.c2.jti, depth: 1, children: [] },
      ],
    });
    const t = l.tree;
    assert.equal(t.decisionIndex, w.p.led);
    assert.deepEqual([t.principal, t.action, t.resource], ['Agent::"a1"', 'Action::"tools/call"', 'Tool::"fs/read"']);
    const g = t.children[0]?.children[0];
    assert.ok(g);
    assert.equal(g.decisionIndex, w.g.led);
    assert.equal(g.outcome?.status, 'ok');
    assert.equal(g.outcome?.exitCode, 0);
    // the decision leaf itself names the parent
    const leaf = JSON.parse(new TextDecoder().decode(f.log.entry(w.g.led) ?? new Uint8Array())) as { request: { parent: string | null }; writ: { lin: unknown } };
    assert.equal(leaf.request.parent, w.c1.jti);
    assert.deepEqual(leaf.writ.lin, { parent: w.c1.jti, root: w.p.jti, depth: 2, anc: [w.c1.jti, w.p.jti] });
  });

  it('the lineage of a descendant lists its ancestors, root first, and its own subtree', async () => {
    const c1 = await lineage(w.c1.jti);
    assert.deepEqual(c1.ancestors.map((a) => a.jti), [w.p.jti]);
    assert.deepEqual(shape(c1.tree), { jti: w.c1.jti, depth: 1, children: [{ jti: w.g.jti, depth: 2, children: [] }] });
    const g = await lineage(w.g.jti);
    assert.deepEqual(g.ancestors.map((a) => [a.jti, a.depth]), [[w.p.jti, 0], [w.c1.jti, 1]]);
    assert.deepEqual(shape(g.tree), { jti: w.g.jti, depth: 2, children: [] });
    const none = await app.inject({ method: 'GET', url: '/v1/lineage/no-such-writ' });
    assert.equal(none.statusCode, 404);
  });

  it('policies narrow children through context.lineage: a child may not exec', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/authorize',
      headers: auth(app),
      payload: { principal: 'Agent::"a1"', action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"', args: { argv: ['hi'] }, parent: w.p.writ },
    });
    assert.equal(res.statusCode, 403, res.body);
    assert.deepEqual(res.json<DecisionBody>().policies, ['children-never-exec']);
    const root = await app.inject({ method: 'POST', url: '/v1/authorize', headers: auth(app), payload: { principal: 'Agent::"a1"', action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"', args: { argv: ['hi'] } } });
    assert.equal(root.statusCode, 200, 'the same request without a parent is allowed');
  });

  it('writ lineage prints the tree; --json prints the same structure as the HTTP API', async () => {
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, 'lineage', ...args, '--home', f.home], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const text = run([w.p.jti]).trimEnd().split('\n');
    assert.equal(text.length, 4, text.join('\n'));
    assert.ok(text[0]?.startsWith(`* ${w.p.jti}  Agent::"a1" Action::"tools/call" Tool::"fs/read"  (depth 0, ledger #${w.p.led})`), text[0]);
    assert.ok(text[1]?.startsWith(`  └─ ${w.c1.jti} `), text[1]);
    assert.ok(text[2]?.startsWith(`    └─ ${w.g.jti} `), text[2]);
    assert.match(text[2] ?? '', /ok exit 0\)$/);
    assert.ok(text[3]?.startsWith(`  └─ ${w.c2.jti} `), text[3]);

    const g = run([w.g.jti]).trimEnd().split('\n');
    assert.deepEqual(g.map((l) => l.split('  Agent')[0]), [w.p.jti, `  └─ ${w.c1.jti}`, `    └─ * ${w.g.jti}`]);

    for (const jti of [w.p.jti, w.c1.jti, w.g.jti]) assert.deepEqual(JSON.parse(run([jti, '--json'])), await lineage(jti));
    const missing = spawnSync(process.execPath, [CLI, 'lineage', 'nope', '--home', f.home], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(missing.status, 1);
  });
});

/** The console's server side without a browser: assets, headers, reads, the admin-only approval, live stats. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { DecisionStats } from '../src/telemetry/decision-stats.ts';
import { nodeConsoleSource } from '../src/console/node-source.ts';
import { CONSOLE_CSP, registerConsole } from '../src/console/routes.ts';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n@id("read")\npermit (principal, action, resource == Tool::"fs/read");\n',
});
const WRITE = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/a' } };

describe('console routes', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let assets: string;

  before(async () => {
    f = await fixture({ policyDir: POLICY });
    assets = tempDir('writ-console-assets-');
    mkdirSync(join(assets, 'assets'));
    writeFileSync(join(assets, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(assets, 'assets', 'app-1234.js'), 'export {};');
    app = Fastify();
    const source = nodeConsoleSource({ node: f.node, ledger: f.ledger, state: f.state, log: f.log, software: 'test' });
    await registerConsole(app, { source, adminTokenSha256: f.config.admin.tokenSha256, consoleAssets: assets });
    await app.ready();
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  it('serves the page and its assets with a strict CSP and no caching of the page', async () => {
    const page = await app.inject({ method: 'GET', url: '/console/' });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['content-security-policy'], CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /default-src 'self'/);
    assert.doesNotMatch(CONSOLE_CSP, /unsafe|\*|http/);
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const js = await app.inject({ method: 'GET', url: '/console/assets/app-1234.js' });
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal((await app.inject({ method: 'GET', url: '/' })).headers.location, '/console/');
  });

  it('serves nothing outside the built console', async () => {
    for (const url of ['/console/..%2findex.html', '/console/assets/..%2f..%2f..%2fetc%2fpasswd', '/console/%2e%2e/x.js', '/console/nope.js', '/console/api/nothing', '/console/index.html.map']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 404, url);
      if (!url.includes('%2e')) assert.equal(r.headers['content-security-policy'], CONSOLE_CSP, url); // %2e%2e is resolved before routing: outside /console
    }
  });

  it('reads carry no secret', async () => {
    await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' });
    for (const url of ['/console/api/about', '/console/api/governance', '/console/api/health', '/console/api/entries', '/console/api/checkpoints', '/console/api/lineage?q=Agent%3A%3A%22a1%22']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 200, url);
      assert.ok(!r.body.includes(f.adminToken) && !r.body.includes('PRIVATE') && !r.body.includes('"d":'), url);
    }
    const g = (await app.inject({ method: 'GET', url: '/console/api/governance' })).json<{ bundles: { version: number; files: { name: string }[] }[]; activations: { version: number }[] }>();
    assert.equal(g.bundles[0]?.version, 1);
    assert.deepEqual(g.bundles[0]?.files.map((x) => x.name), ['p.cedar']);
    assert.deepEqual(g.activations.map((a) => a.version), [1]);
  });

  it('approves only with the admin credential, records it, and only once', async () => {
    const id = (await f.node.authorize(WRITE)).approvalId as string;
    const post = (token: string | null, body: unknown = { decision: 'approve' }, target = id) =>
      app.inject({ method: 'POST', url: `/console/api/approvals/${target}`, headers: token === null ? {} : { authorization: `Bearer ${token}` }, payload: body as object });
    assert.equal((await post(null)).statusCode, 401);
    assert.equal((await post('writ_admin_wrong')).statusCode, 401);
    assert.equal((await post(null, 'not json')).statusCode, 401, 'credential checked before the body');
    assert.equal(f.state.approval(id)?.status, 'pending');
    assert.equal((await post(f.adminToken, { decision: 'maybe' })).statusCode, 400);
    const ok = await post(f.adminToken);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(f.state.approval(id)?.status, 'approved');
    assert.equal(f.state.approval(id)?.decidedBy, 'console-admin');
    assert.equal((await post(f.adminToken, { decision: 'reject' })).statusCode, 409);
    assert.equal((await post(f.adminToken, { decision: 'reject' }, 'no-such-id')).statusCode, 404);
    const leaves = f.ledger.entries(0, 1000).map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as { type: string; id?: string; status?: string });
    assert.equal(leaves.filter((l) => l.type === 'approval' && l.id === id).length, 1);
  });

  it('lineage search finds a writ, its children and its denied children', async () => {
    const root = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' });
    await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', parent: root.writ as string });
    await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/delete"', parent: root.writ as string });
    const r = await app.inject({ method: 'GET', url: `/console/api/lineage?q=${root.claims?.jti}` });
    const g = r.json<{ kind: string; vertices: { kind: string; decision: string; matched: boolean }[]; edges: unknown[] }>();
    assert.equal(g.kind, 'writ');
    assert.deepEqual(g.vertices.map((v) => `${v.kind}:${v.decision}:${v.matched}`), ['writ:allow:true', 'denied:deny:false', 'writ:allow:false']);
    assert.equal(g.edges.length, 2);
  });
});

describe('live decision statistics', () => {
  it('counts per second, denies by reason, p50 and p99', () => {
    let now = 1_000_000_000;
    const s = new DecisionStats(() => now);
    for (let i = 1; i <= 100; i++) s.add('allow', ['policy_permit'], i / 1000);
    s.add('deny', ['no_permit'], 0.5);
    now += 1000;
    s.add('deny', ['policy_forbid', 'no_permit'], 0.002);
    const snap = s.snapshot(3);
    assert.equal(snap.series.length, 3);
    const [, first, second] = snap.series;
    assert.deepEqual([first?.allow, first?.deny, first?.denyReasons], [100, 1, { no_permit: 1 }]);
    assert.equal(first?.p50, 51);
    assert.equal(first?.p99, 100);
    assert.deepEqual(second?.denyReasons, { policy_forbid: 1, no_permit: 1 });
    assert.deepEqual(snap.totals, { allow: 100, deny: 2, denyReasons: { no_permit: 2, policy_forbid: 1 } });
    now += 400_000;
    assert.ok(s.snapshot(300).series.every((p) => p.allow === 0 && p.deny === 0), 'old seconds age out');
  });
});

/**
 * The demo's HTTP routes (src/console/demo-routes.ts) on the real app with a real node:
 * served only with the demo; anonymous visitors stay in the sandbox (401 beyond it, 403
 * with a credential that is not the admin's, which is never ignored); bad input is 400 and
 * records nothing; each client address is rate-limited (429 with Retry-After) while another
 * address is not; the approval step is decided over HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerDemoRoutes } from '../src/console/demo-routes.ts';
import type { DemoChain, DemoOverview } from '../src/demo/contract.ts';
import { DemoRunner } from '../src/demo/runner.ts';
import { buildApp } from '../src/server/app.ts';
import { sha256Hex } from '../src/util.ts';
import { fixture, type Fixture } from './helpers.ts';

const A1 = 'Agent::"a1"';
const SANDBOX_TRY = { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read_text_file"', args: { path: 'notes/readme.txt' } };
const OUTSIDE_TRY = { principal: 'User::"root"', action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"', args: {} };

describe('demo routes', { timeout: 120_000 }, () => {
  let f: Fixture;
  let runner: DemoRunner;
  let app: FastifyInstance;
  let plain: FastifyInstance;

  before(async () => {
    f = await fixture();
    runner = new DemoRunner({ node: f.node, ledger: f.ledger, state: f.state, home: f.home, approvalTimeoutMs: 20_000 });
    app = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, demo: runner });
    plain = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log });
  });
  after(async () => {
    await app?.close();
    await plain?.close();
    await runner?.close();
    f?.cleanup();
  });

  const post = (url: string, body: unknown, headers: Record<string, string> = {}, a = app) => a.inject({ method: 'POST', url, payload: body as object, headers: { 'content-type': 'application/json', ...headers } });

  it('exist only with the demo, and the console lists the Demo page only then', async () => {
    assert.equal((await plain.inject('/console/api/demo')).statusCode, 404);
    assert.equal((await post('/console/api/demo/try', SANDBOX_TRY, {}, plain)).statusCode, 404);
    const about = (a: FastifyInstance) => a.inject('/console/api/about').then((r) => (r.json() as { pages: string[] }).pages);
    assert.ok((await about(app)).includes('demo'));
    assert.ok(!(await about(plain)).includes('demo'));
  });

  it('the overview names the steps, the sandbox and what an anonymous visitor may try', async () => {
    const o = (await app.inject('/console/api/demo')).json() as DemoOverview;
    assert.equal(o.v, 1);
    assert.equal(o.steps.length, 8);
    assert.deepEqual(o.principals, [A1]);
    assert.ok(o.resources.includes('Tool::"fs/read_text_file"'));
    assert.equal(o.sandbox, runner.sandbox.root);
  });

  it('runs a step and answers its chain; an unknown step is 404', async () => {
    const r = await post('/console/api/demo/steps/write-denied/run', {});
    assert.equal(r.statusCode, 200);
    const c = r.json() as DemoChain;
    assert.deepEqual([c.step, c.decision.decision, c.outcome.status], ['write-denied', 'deny', 'not-run']);
    const u = await post('/console/api/demo/steps/nope/run', {});
    assert.equal(u.statusCode, 404);
    assert.equal((u.json() as { error: { code: string } }).error.code, 'demo_no_such_step');
  });

  it('the approval step waits, and is approved over HTTP; a bad body is 400', async () => {
    const c = (await post('/console/api/demo/steps/approval/run', {})).json() as DemoChain;
    assert.ok(c.pending);
    assert.equal((await post('/console/api/demo/steps/approval/run', {})).statusCode, 409, 'one waiting approval at a time');
    assert.equal((await post(`/console/api/demo/approvals/${c.pending.approvalId}`, { approve: 'yes' })).statusCode, 400);
    assert.equal((await post('/console/api/demo/approvals/someone-elses', { approve: true })).statusCode, 404);
    const done = await post(`/console/api/demo/approvals/${c.pending.approvalId}`, { approve: true });
    assert.equal(done.statusCode, 200);
    assert.equal((done.json() as DemoChain).outcome.status, 'ok');
  });

  it('try your own: the sandbox anonymously; beyond it 401 without a credential, 403 with a wrong one, allowed with the admin token', async () => {
    const from = f.ledger.size();
    assert.equal((await post('/console/api/demo/try', SANDBOX_TRY)).statusCode, 200);
    const anon = await post('/console/api/demo/try', OUTSIDE_TRY);
    assert.equal(anon.statusCode, 401);
    assert.equal(anon.headers['www-authenticate'], 'Bearer');
    assert.equal((await post('/console/api/demo/try', OUTSIDE_TRY, { authorization: 'Bearer not-the-admin' })).statusCode, 403);
    assert.equal((await post('/console/api/demo/try', SANDBOX_TRY, { authorization: 'Bearer not-the-admin' })).statusCode, 403, 'a wrong credential is refused, not ignored');
    assert.equal(f.ledger.size(), from + 1, 'refused requests decided nothing');
    const admin = await post('/console/api/demo/try', OUTSIDE_TRY, { authorization: `Bearer ${f.adminToken}` });
    assert.equal(admin.statusCode, 200);
    assert.equal(sha256Hex(f.adminToken), f.config.admin.tokenSha256);
    const bad = await post('/console/api/demo/try', { ...SANDBOX_TRY, principal: 'not a uid' });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { error: { code: string } }).error.code, 'request_invalid');
  });
});

describe('demo routes: the per-address rate limit', { timeout: 60_000 }, () => {
  let f: Fixture;
  let runner: DemoRunner;
  let app: FastifyInstance;
  before(async () => {
    f = await fixture();
    runner = new DemoRunner({ node: f.node, ledger: f.ledger, state: f.state, home: f.home });
    app = Fastify();
    await registerDemoRoutes(app, { runner, adminTokenSha256: f.config.admin.tokenSha256, perMinute: 3, trackedClients: 2 });
  });
  after(async () => {
    await app?.close();
    await runner?.close();
    f?.cleanup();
  });

  it('answers 429 with Retry-After beyond the limit, per client address', async () => {
    const tryFrom = (ip: string) => app.inject({ method: 'POST', url: '/console/api/demo/try', payload: SANDBOX_TRY, remoteAddress: ip });
    for (let i = 0; i < 3; i++) assert.equal((await tryFrom('10.0.0.1')).statusCode, 200);
    const from = f.ledger.size();
    const limited = await tryFrom('10.0.0.1');
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After in seconds');
    assert.equal((limited.json() as { error: { code: string } }).error.code, 'rate_limited');
    assert.equal(f.ledger.size(), from, 'a limited request decides nothing');
    assert.equal((await tryFrom('10.0.0.2')).statusCode, 200, 'another address is not limited');
    // the overview is a read: not limited
    for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/console/api/demo', remoteAddress: '10.0.0.1' })).statusCode, 200);
  });
});

/**
 * Issue 10, point 1, over the HTTP API: POST /v1/authorize, /v1/verify and /v1/outcome need a
 * caller token (`writ caller add`). Without a valid one: 401 caller_unauthenticated, recorded;
 * with one that lacks the role or may not assert the principal: 403 caller_not_permitted,
 * recorded. The admin token is not a caller token. `writ up --demo` lets a request without any
 * Authorization header authorize the demo's sandbox agents only.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { CallerStore } from '../../src/node/callers.ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CLI, fixture, startUp, tempDir, type Fixture } from '../helpers.ts';
import { AUD, leafAt, makeApp, READ, type DecisionBody } from '../server-fixture.ts';

describe('callers over HTTP: 401 and 403, recorded', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let agent: string;
  let ep: string;
  before(async () => {
    f = await fixture();
    app = await makeApp(f);
    const store = new CallerStore(f.db);
    agent = `Bearer ${store.add('agent-a1', { roles: ['authorize'], principals: ['Agent::"a1"'] }).token}`;
    ep = `Bearer ${store.add('ep', { roles: ['verify'], principals: [] }).token}`;
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });
  const post = (url: string, payload: object, authorization?: string) => app.inject({ method: 'POST', url, payload, headers: authorization === undefined ? {} : { authorization } });
  const lastReasons = () => leafAt(f, f.ledger.size() - 1).result?.reasons;

  it('no token, a wrong one, another scheme or the admin token: 401 caller_unauthenticated, recorded as a denial', async () => {
    for (const h of [undefined, 'Bearer writ_' + 'A'.repeat(43), `Basic ${agent.slice(7)}`, `Bearer ${f.adminToken}`]) {
      const size = f.ledger.size();
      const r = await post('/v1/authorize', READ, h);
      assert.equal(r.statusCode, 401, String(h));
      assert.equal(r.headers['www-authenticate'], 'Bearer');
      const d = r.json<DecisionBody>();
      assert.equal(d.decision, 'deny');
      assert.deepEqual(d.reasons, ['caller_unauthenticated']);
      assert.equal(d.writ, undefined);
      assert.equal(f.ledger.size(), size + 1, 'recorded');
      assert.deepEqual(lastReasons(), ['caller_unauthenticated']);
    }
    for (const url of ['/v1/verify', '/v1/outcome']) {
      const body = url === '/v1/verify' ? { writ: 'a.b.c', audience: AUD } : { writ: 'a.b.c', outcomeToken: 'x', status: 'ok', durationMs: 1 };
      const size = f.ledger.size();
      const r = await post(url, body);
      assert.equal(r.statusCode, 401, url);
      assert.equal(f.ledger.size(), size + 1, `${url} refusal recorded`);
      assert.deepEqual(lastReasons(), ['caller_unauthenticated']);
    }
  });

  it('an agent token naming another principal, or an enforcement point token at /v1/authorize: 403 caller_not_permitted, recorded', async () => {
    for (const [body, h] of [[{ ...READ, principal: 'Agent::"a2"' }, agent], [{ ...READ, principal: 'User::"a1"' }, agent], [READ, ep]] as const) {
      const size = f.ledger.size();
      const r = await post('/v1/authorize', body, h);
      assert.equal(r.statusCode, 403);
      assert.deepEqual(r.json<DecisionBody>().reasons, ['caller_not_permitted']);
      assert.equal(f.ledger.size(), size + 1);
    }
    const ok = await post('/v1/authorize', { ...READ, args: { path: '/srv/c.txt' } }, agent);
    assert.equal(ok.statusCode, 200, ok.body);
    const writ = ok.json<DecisionBody>().writ as string;
    // the agent may not verify or report; the enforcement point may
    const refused = await post('/v1/verify', { writ, audience: AUD, args: { path: '/srv/c.txt' } }, agent);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json<{ reason: string }>().reason, 'caller_not_permitted');
    const used = await post('/v1/verify', { writ, audience: AUD, args: { path: '/srv/c.txt' } }, ep);
    assert.equal(used.statusCode, 200, used.body);
    const outcomeToken = used.json<{ outcomeToken: string }>().outcomeToken;
    assert.equal((await post('/v1/outcome', { writ, outcomeToken, status: 'ok', durationMs: 1 }, agent)).statusCode, 403);
    assert.equal((await post('/v1/outcome', { writ, outcomeToken, status: 'ok', durationMs: 1 }, ep)).statusCode, 201);
  });

  it('a removed token is refused at the next request', async () => {
    const store = new CallerStore(f.db);
    const h = `Bearer ${store.add('short-lived', { roles: ['authorize'], principals: ['*'] }).token}`;
    const body = { ...READ, args: { path: '/srv/r.txt' } };
    assert.equal((await post('/v1/authorize', body, h)).statusCode, 200);
    store.remove('short-lived');
    assert.equal((await post('/v1/authorize', body, h)).statusCode, 401);
  });

});

describe('callers over HTTP: writ up without --demo, and the open demo of writ up --demo', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
    f.close();
  });
  after(() => rmSync(f.home, { recursive: true, force: true }));

  it('writ up (no --demo): a request without a token is 401', async () => {
    const u = await startUp(f.home);
    try {
      const r = await fetch(`${u.url}/v1/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(READ) });
      assert.equal(r.status, 401);
    } finally {
      u.child.kill('SIGTERM');
      await u.exited;
    }
  });

  it('writ up --demo: without a token only the sandbox agents may be named (and logged so); verify still needs a token', async () => {
    const dir = tempDir('writ-open-demo-');
    const child = spawn(process.execPath, [CLI, 'up', '--home', join(dir, 'home'), '--port', '0', '--demo'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`writ up --demo did not start: ${err}`)), 30_000);
        child.stderr?.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          const m = /listening on (http:\/\/\S+)/.exec(err);
          if (m?.[1]) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
      });
      assert.match(err, /OPEN DEMO: requests without a caller token may authorize Agent::"a1"/);
      const post = (path: string, body: object) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const a1 = await post('/v1/authorize', { ...READ, args: { path: '/srv/data/report.txt' } });
      assert.equal(a1.status, 200, await a1.clone().text());
      const { writ } = (await a1.json()) as { writ: string };
      const other = await post('/v1/authorize', { ...READ, principal: 'User::"root"' });
      assert.equal(other.status, 401, 'not a sandbox agent');
      assert.deepEqual(((await other.json()) as DecisionBody).reasons, ['caller_unauthenticated']);
      const v = await post('/v1/verify', { writ, audience: AUD, args: { path: '/srv/data/report.txt' } });
      assert.equal(v.status, 401);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * writ/http-guard's framework adapters over real HTTP, with writs from a real node:
 *   - Fastify (httpGuardPlugin): a JSON body bound by digest reaches the route parsed from the
 *     exact verified bytes; another body, no writ, a replay → 403 and the route never runs;
 *     body-less GET passes; the guard applies app-wide though registered as a plugin.
 *   - Express (httpGuardMiddleware, connect-style): mounted under /api, the writ binds the
 *     path the gateway saw (originalUrl), not the router's stripped one; no writ → 403.
 *   - node:http with `report`: the outcome of a guarded request is recorded at the node
 *     (POST /v1/outcome as a verify caller for the audience), and the writ is then used there.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { guardedOfFastify, httpGuardPlugin } from '../src/enforce/http-guard-fastify.ts';
import { CallerStore } from '../src/node/callers.ts';
import { guardedOf, guardNodeHandler, httpGuardMiddleware, type NodeRequestLike, type NodeResponseLike } from '../src/writ/http-guard-node.ts';
import { EMPTY_BODY_DIGEST } from '../src/writ/http-guard.ts';
import { bodyDigest, httpAction, httpArgs, WRIT_HEADER } from '../src/writ/http-request.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { makeApp } from './server-fixture.ts';
import { waitFor } from './wait.ts';

const AUDIENCE = 'orders';

/** the slice of Express used here (express is installed, through the MCP SDK, without types) */
interface ExpressApp {
  use(path: string, fn: (req: NodeRequestLike, res: NodeResponseLike, next: (err?: unknown) => void) => void): void;
  get(path: string, fn: (req: NodeRequestLike & { url: string }, res: NodeResponseLike & { send(b: string): void }) => void): void;
  listen(port: number, host: string, cb: () => void): Server;
}

describe('writ/http-guard adapters: Fastify and Express', () => {
  let f: Fixture;
  let fastify: FastifyInstance;
  let fastifyUrl: string;
  const ran: string[] = [];

  async function writFor(method: string, path: string, body: string | null = null): Promise<string> {
    const digest = body === null ? null : await bodyDigest(new TextEncoder().encode(body));
    const d = await f.node.authorize({ principal: 'User::"alice"', action: httpAction(method), resource: 'Route::"orders"', args: httpArgs({ method, host: '', path, query: '', bodyDigest: digest }), audience: AUDIENCE });
    assert.ok(d.writ, d.message);
    return d.writ;
  }

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'p.cedar': 'permit (principal, action, resource);' }) });
    fastify = Fastify();
    await fastify.register(httpGuardPlugin, { keys: f.jwks, audience: AUDIENCE });
    fastify.post('/orders', async (req) => {
      ran.push('POST /orders');
      return { got: req.body, sub: guardedOfFastify(req)?.claims.sub, bytes: guardedOfFastify(req)?.body.length };
    });
    fastify.get('/orders', async () => {
      ran.push('GET /orders');
      return { ok: true };
    });
    fastifyUrl = await fastify.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await fastify.close();
    f.cleanup();
  });

  it('a writ bound to the digest of zero bytes (a gateway that forwarded the empty body) passes a request without one; EMPTY_BODY_DIGEST is that digest', async () => {
    assert.equal(EMPTY_BODY_DIGEST, await bodyDigest(new Uint8Array(0)));
    const w = await writFor('GET', '/orders', '');
    const r = await fetch(`${fastifyUrl}/orders`, { headers: { [WRIT_HEADER]: w } });
    assert.equal(r.status, 200, await r.text());
    // bound to some other body's digest: refused
    const other = await writFor('GET', '/orders', 'x');
    assert.equal((await fetch(`${fastifyUrl}/orders`, { headers: { [WRIT_HEADER]: other } })).status, 403);
  });

  it('Fastify: a body bound by digest reaches the route parsed from the verified bytes; another body, no writ, a replay: 403', async () => {
    const body = '{"qty": 1,  "item":"book"}';
    const w = await writFor('POST', '/orders', body);
    ran.length = 0;
    const other = await fetch(`${fastifyUrl}/orders`, { method: 'POST', headers: { [WRIT_HEADER]: w, 'content-type': 'application/json' }, body: '{"qty":1000,"item":"book"}' });
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'writ_intent_mismatch');
    const none = await fetch(`${fastifyUrl}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(none.status, 403);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'writ_malformed');
    assert.deepEqual(ran, []);
    const ok = await fetch(`${fastifyUrl}/orders`, { method: 'POST', headers: { [WRIT_HEADER]: w, 'content-type': 'application/json' }, body });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { got: { qty: 1, item: 'book' }, sub: 'User::"alice"', bytes: body.length });
    const again = await fetch(`${fastifyUrl}/orders`, { method: 'POST', headers: { [WRIT_HEADER]: w, 'content-type': 'application/json' }, body });
    assert.equal(again.status, 403);
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'writ_replayed');
    assert.deepEqual(ran, ['POST /orders']);
  });

  it('Fastify: a body-less GET with its writ passes; a body over the limit is refused', async () => {
    ran.length = 0;
    const ok = await fetch(`${fastifyUrl}/orders`, { headers: { [WRIT_HEADER]: await writFor('GET', '/orders') } });
    assert.equal(ok.status, 200);
    const big = 'x'.repeat(1024 * 1024 + 1);
    const res = await fetch(`${fastifyUrl}/orders`, { method: 'POST', headers: { [WRIT_HEADER]: await writFor('POST', '/orders', big), 'content-type': 'text/plain' }, body: big });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'body_too_large');
    assert.deepEqual(ran, ['GET /orders']);
  });

  it('Express: connect-style middleware under a mount path binds the original path; no writ: 403', async () => {
    const express = ((await import('express' as string)) as { default: () => ExpressApp }).default;
    const app = express();
    app.use('/api', httpGuardMiddleware({ keys: f.jwks, audience: AUDIENCE }));
    const seen: string[] = [];
    app.get('/api/orders', (req, res) => {
      seen.push(`${req.url} ${guardedOf(req)?.claims.sub}`);
      res.send('ok');
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const mounted = await writFor('GET', '/orders'); // the path the router strips to: not what the gateway saw
      assert.equal((await fetch(`${url}/api/orders`, { headers: { [WRIT_HEADER]: mounted } })).status, 403);
      assert.equal((await fetch(`${url}/api/orders`)).status, 403);
      assert.deepEqual(seen, []);
      const ok = await fetch(`${url}/api/orders`, { headers: { [WRIT_HEADER]: await writFor('GET', '/api/orders') } });
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'ok');
      assert.deepEqual(seen, ['/api/orders User::"alice"']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('node:http with report: the outcome is recorded at the node, by the upstream, and the writ is used there', async () => {
    const node = await makeApp(f);
    const nodeUrl = await node.listen({ port: 0, host: '127.0.0.1' });
    const { token } = new CallerStore(f.db).add('orders-upstream', { roles: ['verify'], principals: [], audiences: [AUDIENCE] });
    const errors: Error[] = [];
    const server = createServer(guardNodeHandler((_req, res) => res.end('done'), { keys: f.jwks, audience: AUDIENCE, report: { url: nodeUrl, token, onError: (e) => errors.push(e) } }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const w = await writFor('GET', '/orders');
      const jti = (JSON.parse(Buffer.from(w.split('.')[1] as string, 'base64url').toString()) as { jti: string }).jti;
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`, { headers: { [WRIT_HEADER]: w } });
      assert.equal(await res.text(), 'done');
      const leaf = await waitFor('the outcome leaf', () =>
        f.ledger
          .entries(0, 100_000)
          .map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as { type: string; jti?: string; status?: string; reportedBy?: string })
          .find((l) => l.type === 'outcome' && l.jti === jti),
      );
      assert.equal(leaf.status, 'ok');
      assert.equal(leaf.reportedBy, 'orders-upstream');
      assert.deepEqual(errors, []);
      await assert.rejects(f.node.verify(w, { audience: AUDIENCE, args: httpArgs({ method: 'GET', host: '', path: '/orders', query: '', bodyDigest: null }), consume: true }), (e: Error & { code?: string }) => e.code === 'writ_replayed');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await node.close();
    }
  });
});

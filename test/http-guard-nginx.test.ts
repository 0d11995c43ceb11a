/**
 * The real gateway (issue 12, point 3): Debian's nginx with `auth_request` to Writ's
 * forward-auth endpoint (a `writ up --gate` child process, src/server/forward-auth.ts), in
 * front of a small node:http upstream that verifies with writ/http-guard.
 *   - allowed: the client gets exactly the upstream's response (status, headers, body bytes);
 *     the upstream saw the writ and ran the handler once;
 *   - denied by policy: 403 from nginx, and the upstream never saw the request; no
 *     credential: 401 with the gate's challenge, never seen either;
 *   - a body through nginx (auth_request forwards none, so the writ binds `bodyDigest: null`):
 *     the upstream refuses it (bindBody default), the handler never runs;
 *   - calling the upstream directly, around nginx, without a writ: 403;
 *   - replaying the writ header the upstream received, directly: refused (writ_replayed);
 *   - nginx keeps its connections alive (the docs' config): requests in a row share one;
 *   - Writ stopped: nginx answers 5xx and never passes the request on.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { guardNodeHandler } from '../src/writ/http-guard-node.ts';
import { WRIT_HEADER } from '../src/writ/http-request.ts';
import { tempDir } from './helpers.ts';
import { startNginx, type Nginx } from './nginx-harness.ts';
import { startWrit, AUDIENCE, type WritSide } from './http-guard-nginx-writ.ts';

interface Arrival {
  method: string;
  url: string;
  writ: string | undefined;
}

describe('nginx auth_request → Writ, in front of an upstream using writ/http-guard', () => {
  const dir = tempDir('writ-nginx-');
  let writ: WritSide;
  let nginx: Nginx;
  let upstream: Server;
  let upstreamUrl: string;
  let writRelay: TcpServer;
  let writConnections = 0;
  /** every request that reached the upstream's socket, before the guard */
  const arrivals: Arrival[] = [];
  /** every request the handler ran for */
  const handled: string[] = [];

  before(async () => {
    writ = await startWrit(dir);
    const handler = guardNodeHandler((req: IncomingMessage, res: ServerResponse, g) => {
      handled.push(`${req.method} ${req.url}`);
      res.statusCode = 201;
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('x-upstream', 'orders-1');
      res.end(Buffer.from([0, 1, 2, 255, ...Buffer.from(` for ${g.claims.sub}`)]));
    }, { keys: writ.jwks, audience: AUDIENCE });
    upstream = createServer((req, res) => {
      const w = req.headers[WRIT_HEADER];
      arrivals.push({ method: req.method ?? '', url: req.url ?? '', writ: typeof w === 'string' ? w : undefined });
      void handler(req, res);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    // nginx reaches Writ through a TCP relay that counts the connections nginx opens
    writRelay = createTcpServer((socket) => {
      writConnections++;
      const to = connect({ host: '127.0.0.1', port: writ.port });
      socket.pipe(to).pipe(socket);
      socket.once('error', () => to.destroy());
      to.once('error', () => socket.destroy());
    });
    await new Promise<void>((r) => writRelay.listen(0, '127.0.0.1', r));
    nginx = await startNginx({ dir: join(dir, 'nginx'), upstreamPort: (upstream.address() as AddressInfo).port, writPort: (writRelay.address() as AddressInfo).port, authPath: writ.authPath });
  });
  after(async () => {
    await nginx?.stop();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    await writ?.stop();
    writRelay?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const reset = () => {
    arrivals.length = 0;
    handled.length = 0;
  };

  it('allowed: the client gets exactly the upstream response; the upstream verified the writ and ran once', async () => {
    reset();
    const res = await fetch(`${nginx.url}/orders/7?expand=items`, { headers: await writ.credential('alice') });
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 201, nginx.errorLog());
    assert.equal(res.headers.get('x-upstream'), 'orders-1');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual([...body], [0, 1, 2, 255, ...Buffer.from(' for User::"alice"')]);
    assert.deepEqual(handled, ['GET /orders/7?expand=items']);
    assert.equal(arrivals.length, 1);
    assert.ok(arrivals[0]?.writ, 'nginx passed the writ upstream');
  });

  it('replaying the writ header the upstream received, directly or through nginx: refused', async () => {
    reset();
    const ok = await fetch(`${nginx.url}/orders/8`, { headers: await writ.credential('alice') });
    assert.equal(ok.status, 201);
    const captured = arrivals[0]?.writ;
    assert.ok(captured);
    reset();
    const direct = await fetch(`${upstreamUrl}/orders/8`, { headers: { [WRIT_HEADER]: captured } });
    assert.equal(direct.status, 403);
    assert.equal(((await direct.json()) as { error: { code: string } }).error.code, 'writ_replayed');
    // through nginx the client's own X-Writ is replaced by the one Writ issued for this request
    const via = await fetch(`${nginx.url}/orders/8`, { headers: { ...(await writ.credential('alice')), [WRIT_HEADER]: captured } });
    assert.equal(via.status, 201);
    assert.notEqual(arrivals.at(-1)?.writ, captured);
    assert.deepEqual(handled, ['GET /orders/8']);
  });

  it('denied by policy: 403 from nginx, and the upstream never saw the request; denials keep nginx\'s connection to Writ', async () => {
    reset();
    const toWrit = writConnections;
    const res = await fetch(`${nginx.url}/orders/7`, { method: 'DELETE', headers: await writ.credential('alice') });
    assert.equal(res.status, 403);
    await res.arrayBuffer();
    for (let i = 0; i < 4; i++) {
      const other = await fetch(`${nginx.url}/orders/7`, { headers: await writ.credential('mallory') });
      assert.equal(other.status, 403);
      await other.arrayBuffer();
    }
    assert.deepEqual(arrivals, []);
    assert.deepEqual(handled, []);
    // a denial asked as nginx asks is answered without a body (forward-auth.ts): nginx keeps the connection
    assert.ok(writConnections - toWrit <= 1, `nginx opened ${writConnections - toWrit} connections to Writ for 5 denials`);
  });

  it('no credential: 401 with the challenge from nginx, and the upstream never saw the request', async () => {
    reset();
    const res = await fetch(`${nginx.url}/orders/7`);
    await res.arrayBuffer();
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.deepEqual(arrivals, []);
  });

  it('a body through nginx: the writ binds no body, so the upstream refuses the body (bindBody default)', async () => {
    reset();
    const res = await fetch(`${nginx.url}/orders`, { method: 'POST', headers: { ...(await writ.credential('alice')), 'content-type': 'application/json' }, body: '{"qty":1000}' });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'writ_intent_mismatch');
    assert.equal(arrivals.length, 1, 'nginx allowed it and passed it on');
    assert.deepEqual(handled, []);
  });

  it('around the gateway: the upstream called directly without a writ answers 403', async () => {
    reset();
    const res = await fetch(`${upstreamUrl}/orders/7?expand=items`);
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'writ_malformed');
    assert.deepEqual(handled, []);
  });

  it('kept-alive connections (the docs config): five requests in a row reach Writ over one connection, and the upstream over one', async () => {
    let opened = 0;
    const count = () => opened++;
    upstream.on('connection', count);
    try {
      reset();
      const toWrit = writConnections;
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${nginx.url}/orders/${i}`, { headers: await writ.credential('alice') });
        await res.arrayBuffer();
        assert.equal(res.status, 201, nginx.errorLog());
      }
      assert.equal(handled.length, 5);
      // without `keepalive` + HTTP/1.1 + an empty Connection header, nginx opens one per request
      assert.ok(opened <= 1, `nginx opened ${opened} connections to the upstream for 5 requests`);
      // and to Writ: only an allow answered without a body lets nginx keep the connection
      assert.ok(writConnections - toWrit <= 1, `nginx opened ${writConnections - toWrit} connections to Writ for 5 requests`);
    } finally {
      upstream.off('connection', count);
    }
  });

  it('Writ stopped: nginx answers 5xx and never passes the request on', async () => {
    await writ.stop();
    reset();
    const res = await fetch(`${nginx.url}/orders/7`, { headers: await writ.credential('alice') });
    await res.arrayBuffer();
    assert.ok(res.status >= 500 && res.status <= 599, `status ${res.status}`);
    assert.deepEqual(arrivals, []);
    assert.deepEqual(handled, []);
  });
});

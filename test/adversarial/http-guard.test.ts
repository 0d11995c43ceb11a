/**
 * Adversarial: writ/http-guard in front of a real node:http upstream (guardNodeHandler), with
 * writs issued by a real node for the HTTP request they bind (httpAction / httpArgs, as the
 * forward-auth endpoint asks for them). Each attack is answered 403 {error:{code,message}} with
 * its exact code, and the handler never runs:
 *   wrong method, path, query, body, audience; expired; replayed; revoked (signed revocation
 *   list); tampered signature; missing header; header given twice; body over the limit; a body
 *   on a writ bound to no body (bindBody default) — and, as controls, the genuine request passes
 *   once, a body passes with bindBody: false, an empty body matches either binding.
 * Also: the bounded single-use store refuses rather than forgets; a stale revocation list
 * refuses everything; a body already read by a parser is refused.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { CryptoKey } from 'jose';
import { readPrivateKey } from '../../src/authority/keys.ts';
import { paths } from '../../src/home/config.ts';
import { signRevocationList } from '../../src/node/revocation-list.ts';
import { boundedJtiStore, RevocationListHolder, type HttpGuardOptions } from '../../src/writ/http-guard.ts';
import { guardNodeHandler, guardNodeRequest, type NodeGuardOptions } from '../../src/writ/http-guard-node.ts';
import { bodyDigest, httpAction, httpArgs, WRIT_HEADER } from '../../src/writ/http-request.ts';
import { fixture, policyFolder, type Fixture } from '../helpers.ts';

const AUDIENCE = 'orders';
const RESOURCE = 'Route::"orders"';

interface Answer {
  status: number;
  body: string;
  json: { error?: { code: string; message: string } };
}

/** node:http, not fetch: a header twice, a raw path and a body of any method are sent as given */
function send(port: number, method: string, target: string, headers: Record<string, string | string[]>, body?: Uint8Array | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: target, headers: { ...headers, ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Answer['json'] = {};
        try {
          json = JSON.parse(text) as Answer['json'];
        } catch {
          /* not JSON: the handler's own answer */
        }
        resolve({ status: res.statusCode ?? 0, body: text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('adversarial: writ/http-guard in front of a node:http upstream', () => {
  let f: Fixture;
  let nodeKey: CryptoKey;
  const servers: Server[] = [];
  let handled: string[] = [];

  /** an upstream guarded with `o`; each handler run is recorded */
  async function upstream(o: Partial<NodeGuardOptions> = {}): Promise<number> {
    const options: NodeGuardOptions = { keys: f.jwks, audience: AUDIENCE, ...o };
    const s = createServer(
      guardNodeHandler((req: IncomingMessage, res: ServerResponse, g) => {
        handled.push(`${req.method} ${req.url} ${g.body.length}`);
        res.setHeader('content-type', 'text/plain');
        res.end(`ran for ${g.claims.sub}`);
      }, options),
    );
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    return (s.address() as AddressInfo).port;
  }

  /** a writ from the node for exactly this request (what forward-auth asks for) */
  async function writFor(method: string, path: string, query = '', digest: string | null = null, o: { audience?: string; ttlSeconds?: number } = {}): Promise<string> {
    const d = await f.node.authorize({
      principal: 'User::"alice"',
      action: httpAction(method),
      resource: RESOURCE,
      args: httpArgs({ method, host: 'shop.example', path, query, bodyDigest: digest }),
      audience: o.audience ?? AUDIENCE,
      ...(o.ttlSeconds !== undefined && { ttlSeconds: o.ttlSeconds }),
    });
    assert.equal(d.decision, 'allow', d.message);
    assert.ok(d.writ);
    return d.writ;
  }

  async function refused(p: Promise<Answer>, code: string): Promise<void> {
    handled = [];
    const a = await p;
    assert.equal(a.status, 403, a.body);
    assert.equal(a.json.error?.code, code, a.body);
    assert.equal(typeof a.json.error?.message, 'string');
    assert.deepEqual(handled, [], 'the handler never ran');
  }

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'p.cedar': 'permit (principal, action, resource);' }) });
    nodeKey = await readPrivateKey(paths(f.home).nodeKey);
  });
  after(async () => {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    f.cleanup();
  });

  it('the genuine request passes once, with the handler run; its replay is writ_replayed', async () => {
    const port = await upstream();
    const w = await writFor('GET', '/orders/7', 'expand=items&x=1');
    handled = [];
    const a = await send(port, 'GET', '/orders/7?expand=items&x=1', { [WRIT_HEADER]: w });
    assert.equal(a.status, 200, a.body);
    assert.equal(a.body, 'ran for User::"alice"');
    assert.deepEqual(handled, ['GET /orders/7?expand=items&x=1 0']);
    await refused(send(port, 'GET', '/orders/7?expand=items&x=1', { [WRIT_HEADER]: w }), 'writ_replayed');
  });

  it('another method, path, query or audience than the writ binds: writ_intent_mismatch / writ_audience_mismatch', async () => {
    const port = await upstream();
    const w = await writFor('GET', '/orders/7', 'x=1');
    await refused(send(port, 'DELETE', '/orders/7?x=1', { [WRIT_HEADER]: w }), 'writ_intent_mismatch');
    await refused(send(port, 'GET', '/orders/8?x=1', { [WRIT_HEADER]: w }), 'writ_intent_mismatch');
    // not decoded, not normalised: the same path spelt otherwise is another path
    await refused(send(port, 'GET', '/orders/%37?x=1', { [WRIT_HEADER]: w }), 'writ_intent_mismatch');
    await refused(send(port, 'GET', '/orders/7?x=2', { [WRIT_HEADER]: w }), 'writ_intent_mismatch');
    await refused(send(port, 'GET', '/orders/7', { [WRIT_HEADER]: w }), 'writ_intent_mismatch');
    const other = await writFor('GET', '/orders/7', 'x=1', null, { audience: 'billing' });
    await refused(send(port, 'GET', '/orders/7?x=1', { [WRIT_HEADER]: other }), 'writ_audience_mismatch');
    // none of the refusals spent the writ: the request it binds still passes
    handled = [];
    assert.equal((await send(port, 'GET', '/orders/7?x=1', { [WRIT_HEADER]: w })).status, 200);
    assert.equal(handled.length, 1);
  });

  it('the body: a writ bound to no body refuses a body (bindBody default); one bound to a digest refuses another body', async () => {
    const port = await upstream();
    const noBody = await writFor('POST', '/orders');
    await refused(send(port, 'POST', '/orders', { [WRIT_HEADER]: noBody }, '{"qty":1000}'), 'writ_intent_mismatch');
    const body = '{"qty":1}';
    const bound = await writFor('POST', '/orders', '', await bodyDigest(new TextEncoder().encode(body)));
    await refused(send(port, 'POST', '/orders', { [WRIT_HEADER]: bound }, '{"qty":2}'), 'writ_intent_mismatch');
    await refused(send(port, 'POST', '/orders', { [WRIT_HEADER]: bound }), 'writ_intent_mismatch');
    handled = [];
    assert.equal((await send(port, 'POST', '/orders', { [WRIT_HEADER]: bound }, body)).status, 200);
    assert.deepEqual(handled, [`POST /orders ${body.length}`]);
    // an empty body matches a writ bound to null (nginx) and one bound to the digest of zero bytes
    handled = [];
    assert.equal((await send(port, 'POST', '/orders', { [WRIT_HEADER]: noBody }, '')).status, 200);
    const empty = await writFor('POST', '/orders', '', await bodyDigest(new Uint8Array(0)));
    assert.equal((await send(port, 'POST', '/orders', { [WRIT_HEADER]: empty })).status, 200);
    assert.equal(handled.length, 2);
  });

  it('bindBody: false lets a writ bound to no body carry a body, and says the body was not bound; options built per request still single use', async () => {
    let bodyBound: boolean | undefined;
    const s = createServer(async (req, res) => {
      const g = await guardNodeRequest(req, res, { keys: f.jwks, audience: AUDIENCE, bindBody: false });
      if (!g) return;
      bodyBound = g.bodyBound;
      res.end('ok');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    const port = (s.address() as AddressInfo).port;
    const w = await writFor('POST', '/orders');
    assert.equal((await send(port, 'POST', '/orders', { [WRIT_HEADER]: w }, 'anything')).status, 200);
    assert.equal(bodyBound, false);
    // options built per request: the default single-use store is the process's, so the replay is still refused
    const again = await send(port, 'POST', '/orders', { [WRIT_HEADER]: w }, 'anything');
    assert.equal(again.json.error?.code, 'writ_replayed');
  });

  it('expired (on the guard clock), tampered signature, missing header, header given twice: refused', async () => {
    const later = await upstream({ now: () => new Date(Date.now() + 3600_000) });
    await refused(send(later, 'GET', '/a', { [WRIT_HEADER]: await writFor('GET', '/a') }), 'writ_expired');
    const port = await upstream();
    const w = await writFor('GET', '/a');
    const [h, p, sig] = w.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
    await refused(send(port, 'GET', '/a', { [WRIT_HEADER]: flipped }), 'writ_signature_invalid');
    await refused(send(port, 'GET', '/a', {}), 'writ_malformed');
    await refused(send(port, 'GET', '/a', { [WRIT_HEADER]: [w, w] }), 'writ_malformed');
    await refused(send(port, 'GET', '/a', { [WRIT_HEADER]: [w, await writFor('GET', '/b')] }), 'writ_malformed');
    // a refusal for two headers did not spend the writ
    assert.equal((await send(port, 'GET', '/a', { [WRIT_HEADER]: w })).status, 200);
  });

  it('a body over the limit: 403 body_too_large, declared or streamed', async () => {
    const port = await upstream({ maxBodyBytes: 16 });
    const w = await writFor('POST', '/big', '', await bodyDigest(new Uint8Array(17)));
    await refused(send(port, 'POST', '/big', { [WRIT_HEADER]: w }, new Uint8Array(17)), 'body_too_large');
    // chunked: no content-length to refuse up front, so the count while reading does
    handled = [];
    const a = await new Promise<Answer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/big', headers: { [WRIT_HEADER]: w, 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, json: JSON.parse(text) as Answer['json'] }));
      });
      req.on('error', reject);
      req.write(new Uint8Array(10));
      req.end(new Uint8Array(10));
    });
    assert.equal(a.status, 403);
    assert.equal(a.json.error?.code, 'body_too_large');
    assert.deepEqual(handled, []);
  });

  it('revoked: a signed revocation list naming the writ refuses it; no list, or an expired one, refuses everything (stale_policy)', async () => {
    const holder = new RevocationListHolder({ keys: f.jwks, issuer: f.config.nodeId });
    const port = await upstream({ revocationList: holder.current });
    const w = await writFor('GET', '/r');
    await refused(send(port, 'GET', '/r', { [WRIT_HEADER]: w }), 'stale_policy');
    const jti = (JSON.parse(Buffer.from(w.split('.')[1] as string, 'base64url').toString()) as { jti: string }).jti;
    const t = Math.floor(Date.now() / 1000);
    const key = { kid: f.config.node.kid, key: nodeKey };
    await holder.offer(await signRevocationList({ v: 1, iss: f.config.nodeId, seq: 1, iat: t, exp: t + 60, entries: [{ kind: 'writ', value: jti }] }, key));
    await refused(send(port, 'GET', '/r', { [WRIT_HEADER]: w }), 'writ_revoked');
    // the same held list, read by a guard whose clock is past the list's exp: it vouches for nothing any more
    const stalePort = await upstream({ revocationList: holder.current, now: () => new Date(Date.now() + 90_000) });
    await refused(send(stalePort, 'GET', '/s', { [WRIT_HEADER]: await writFor('GET', '/s') }), 'stale_policy');
  });

  it('a pinned resource: a writ for another route entity is refused', async () => {
    const port = await upstream({ resource: 'Route::"billing"' });
    await refused(send(port, 'GET', '/a', { [WRIT_HEADER]: await writFor('GET', '/a') }), 'writ_intent_mismatch');
  });

  it('a body a parser read before the guard: 403 body_unavailable, never checked as "no body"', async () => {
    const options: HttpGuardOptions = { keys: f.jwks, audience: AUDIENCE };
    const s = createServer(async (req, res) => {
      for await (const _ of req) void _; // a body parser that ran first
      const g = await guardNodeRequest(req, res, options);
      if (g) handled.push('ran');
      if (g) res.end('ran');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    const port = (s.address() as AddressInfo).port;
    await refused(send(port, 'POST', '/orders', { [WRIT_HEADER]: await writFor('POST', '/orders') }, '{"qty":1000}'), 'body_unavailable');
  });

  it('the bounded single-use store: full of unexpired writs it refuses (single_use_unavailable), it never forgets one; expired ones make room', async () => {
    let now = new Date();
    const store = boundedJtiStore({ maxEntries: 2, graceSeconds: 0, now: () => now });
    const exp = Math.floor(now.getTime() / 1000) + 60;
    assert.equal(await store('a', exp), true);
    assert.equal(await store('b', exp), true);
    assert.equal(await store('a', exp), false);
    assert.throws(() => store('c', exp), (e: Error & { code?: string }) => e.code === 'single_use_unavailable');
    now = new Date(now.getTime() + 120_000);
    assert.equal(await store('c', exp + 600), true);
    const port = await upstream({ consume: boundedJtiStore({ maxEntries: 0 }) });
    await refused(send(port, 'GET', '/a', { [WRIT_HEADER]: await writFor('GET', '/a') }), 'single_use_unavailable');
  });

  it('a key source that fails: 503 writ_unverifiable, the handler never runs', async () => {
    const port = await upstream({ keys: () => Promise.reject(new Error('jwks fetch failed')) });
    handled = [];
    const a = await send(port, 'GET', '/a', { [WRIT_HEADER]: await writFor('GET', '/a') });
    assert.equal(a.status, 503);
    assert.equal(a.json.error?.code, 'writ_unverifiable');
    assert.deepEqual(handled, []);
  });
});

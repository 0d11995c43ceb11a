/**
 * `writ mcp --listen --oidc-issuer ... --oidc-audience ... --jwks-file ...`: bearer JWTs name
 * the principal (issue 17, point 3). A valid token (an RFC 9068 `at+jwt`) is decided for
 * `Agent::"<sub>"` with its claims as principal attributes, recorded (iss, sub) in the leaf's
 * input; an expired, wrong-audience, wrong-issuer, badly signed, unsigned (alg none) or unknown
 * token is a 401 `invalid_token`, and the upstream sees nothing of it. `--tokens` still works.
 * The writ the upstream receives names the token (`idt`: its iss and sub); with
 * `--require-at-jwt` a plain JWT of the issuer is refused.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { connectHttp, decisionsSince, EVERYTHING, mcpError, serve, serveProxy, SESSION_PERMIT, tool, WRIT_DENIED, type Served } from './mcp-helpers.ts';
import { freePort } from '../scripts/ports.ts';

const ISS = 'https://issuer.example';
const AUD = 'writ-mcp';
const POLICY = `${SESSION_PERMIT}
@id("alice-echo")
permit (principal == Agent::"alice", action == Action::"tools/call", resource == ${tool('echo')})
when { principal has email && principal.email == "alice@example.com" && principal.iss == "${ISS}" };
`;

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('writ mcp --listen with --oidc-issuer (bearer JWTs)', () => {
  let f: Fixture;
  let upstream: Served;
  let counter: Server;
  let forwarded = 0;
  /** the POST bodies that reached the upstream (a governed call's carries its writ in _meta) */
  const bodies: string[] = [];
  let proxy: Served;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  const token = (o: { sub?: string; iss?: string; aud?: string; exp?: number; typ?: string; key?: CryptoKey; claims?: Record<string, unknown> } = {}) =>
    new SignJWT({ email: 'alice@example.com', ...o.claims })
      .setProtectedHeader({ alg: 'ES256', typ: o.typ ?? 'at+jwt', kid: 'k1' })
      .setIssuer(o.iss ?? ISS)
      .setAudience(o.aud ?? AUD)
      .setSubject(o.sub ?? 'alice')
      .setIssuedAt()
      .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300)
      .sign(o.key ?? key);

  /** The decoded claims of the writ with this jti, as it reached the upstream in a tools/call's _meta. */
  const forwardedWrit = (jti: string): Record<string, unknown> => {
    for (const b of bodies) {
      const m = (JSON.parse(b) as { params?: { _meta?: Record<string, unknown> } }).params?._meta?.['writ/authorization'];
      if (typeof m !== 'string') continue;
      const claims = decodeJwt(m) as Record<string, unknown>;
      if (claims.jti === jti) return claims;
    }
    assert.fail(`no forwarded writ ${jti}`);
  };

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const dir = tempDir('writ-mcp-jwt-');
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    const tokens = join(dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ 'token-bob': 'Agent::"bob"' }));
    const port = await freePort();
    upstream = await serve([process.execPath, EVERYTHING, 'streamableHttp'], /listening on port (\d+)/, { env: { PORT: String(port) } });
    // a counting pass-through in front of the upstream: what reached it at all
    counter = createServer((req, res) => {
      // POSTs carry the calls; an earlier test's session closing reaches the upstream as a DELETE, later
      if (req.method === 'POST') forwarded++;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'POST') bodies.push(Buffer.concat(chunks).toString('utf8'));
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k, v]) => typeof v === 'string' && k !== 'host' && k !== 'content-length')) as Record<string, string>;
        const body = chunks.length > 0 ? Buffer.concat(chunks) : null;
        fetch(`http://127.0.0.1:${upstream.url}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body && req.method !== 'GET' && { body }) })
          .then((r) => {
            res.writeHead(r.status, Object.fromEntries(r.headers));
            // an event stream the upstream ends at shutdown is cut off here too, not an error
            if (r.body) Readable.fromWeb(r.body as import('node:stream/web').ReadableStream).on('error', () => res.destroy()).pipe(res);
            else res.end();
          })
          .catch(() => res.writeHead(502).end());
      });
    });
    await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
    const counterUrl = `http://127.0.0.1:${(counter.address() as AddressInfo).port}/mcp`;
    proxy = await serveProxy(f.home, ['--oidc-issuer', ISS, '--oidc-audience', AUD, '--jwks-file', jwks, '--tokens', tokens], { url: counterUrl });
  });
  after(async () => {
    await Promise.allSettled([proxy?.stop(), upstream?.stop()]);
    counter?.closeAllConnections();
    await new Promise<void>((r) => (counter ? counter.close(() => r()) : r()));
    f?.cleanup();
  });

  it('a valid at+jwt: decided for Agent::"<sub>" with its claims; the leaf records iss and sub', async () => {
    const from = f.ledger.size();
    const c = await connectHttp(proxy.url, { token: await token() });
    try {
      const r = (await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as { content: { text: string }[] };
      assert.match(r.content[0]?.text ?? '', /hi/);
      const leaves = decisionsSince(f, from) as (ReturnType<typeof decisionsSince>[number] & { input: { principalEntity?: { attrs: Record<string, unknown> } } | null })[];
      const echo = leaves.find((l) => l.request.resource === tool('echo'));
      assert.ok(echo, 'no decision for echo');
      assert.equal(echo.request.principal, 'Agent::"alice"');
      assert.equal(echo.result.decision, 'allow');
      assert.equal(echo.input?.principalEntity?.attrs.iss, ISS);
      assert.equal(echo.input?.principalEntity?.attrs.sub, 'alice');
      // the session root carries them too
      assert.equal(leaves.find((l) => l.request.action === 'Action::"mcp/session"')?.input?.principalEntity?.attrs.sub, 'alice');
      // the writ the upstream received names the token it was issued for (idt: its iss and sub)
      const writ = forwardedWrit(echo.writ?.jti ?? '');
      assert.deepEqual(writ.idt, { iss: ISS, sub: 'alice' });
      assert.equal(writ.sub, 'Agent::"alice"');
    } finally {
      await c.close();
    }
  });

  it("the claims are what policies see: another sub, or a different email, is denied", async () => {
    const c = await connectHttp(proxy.url, { token: await token({ claims: { email: 'mallory@example.com' } }) });
    try {
      const e = await mcpError(c.client.callTool({ name: 'echo', arguments: { message: 'hi' } }));
      assert.equal(e.code, WRIT_DENIED);
    } finally {
      await c.close();
    }
  });

  it('expired, wrong aud, wrong iss, bad signature, alg none, unknown opaque, malformed: 401 invalid_token, nothing upstream', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = await token();
    const [h, p] = good.split('.');
    const cases: [string, string][] = [
      ['expired', await token({ exp: now - 120 })],
      ['wrong aud', await token({ aud: 'someone-else' })],
      ['wrong iss', await token({ iss: 'https://evil.example' })],
      ['bad signature', await token({ key: otherKey })],
      ['alg none', `${b64({ alg: 'none', typ: 'at+jwt' })}.${p}.`],
      ['header swapped to HS256', `${b64({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${p}.${good.split('.')[2]}`],
      ['unknown opaque token', 'not-a-known-token'],
      ['Basic scheme', ''],
    ];
    assert.ok(h);
    const before = forwarded;
    for (const [what, t] of cases) {
      const authorization = what === 'Basic scheme' ? 'Basic YWxpY2U6eA==' : `Bearer ${t}`;
      const r = await fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization, 'x-forwarded-user': 'alice' }, body: JSON.stringify(INITIALIZE) });
      assert.equal(r.status, 401, what);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"', what);
      assert.equal(r.headers.get('mcp-session-id'), null, what);
    }
    // no credential at all (only a header naming someone): 401, plain challenge
    const r = await fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-forwarded-user': 'alice', 'x-user': 'alice' }, body: JSON.stringify(INITIALIZE) });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    assert.equal(forwarded, before, 'the upstream received a request');
  });

  it("a session is its token's: another sub's valid token gets 403 on it", async () => {
    const c = await connectHttp(proxy.url, { token: await token() });
    try {
      const sid = c.transport.sessionId;
      assert.ok(sid);
      const r = await fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${await token({ sub: 'bob' })}`, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) });
      assert.equal(r.status, 403);
    } finally {
      await c.close();
    }
  });

  it("every request of a session is checked: an expired token on an open session is 401, the session's own is not", async () => {
    const c = await connectHttp(proxy.url, { token: await token() });
    try {
      const sid = c.transport.sessionId;
      assert.ok(sid);
      const ping = async (t: string) =>
        fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${t}`, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' }) });
      const expired = await ping(await token({ exp: Math.floor(Date.now() / 1000) - 120 }));
      assert.equal(expired.status, 401);
      assert.equal(expired.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      const fresh = await ping(await token());
      assert.equal(fresh.status, 200);
      await fresh.text();
    } finally {
      await c.close();
    }
  });

  it('--tokens keeps working next to --oidc-issuer (no claims recorded for an opaque token)', async () => {
    const from = f.ledger.size();
    const c = await connectHttp(proxy.url, { token: 'token-bob' });
    try {
      const e = await mcpError(c.client.callTool({ name: 'echo', arguments: { message: 'hi' } }));
      assert.equal(e.code, WRIT_DENIED);
      const leaves = decisionsSince(f, from) as (ReturnType<typeof decisionsSince>[number] & { input: { principalEntity?: unknown } | null })[];
      const echo = leaves.find((l) => l.request.resource === tool('echo'));
      assert.equal(echo?.request.principal, 'Agent::"bob"');
      assert.equal(echo?.input?.principalEntity, undefined);
    } finally {
      await c.close();
    }
  });
});

describe('writ mcp --listen --require-at-jwt (RFC 9068 access tokens only)', () => {
  let f: Fixture;
  let proxy: Served;
  let key: CryptoKey;
  const token = (typ: string) =>
    new SignJWT({ email: 'alice@example.com' }).setProtectedHeader({ alg: 'ES256', typ, kid: 'k1' }).setIssuer(ISS).setAudience(AUD).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(key);
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwks = join(tempDir('writ-mcp-at-'), 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    proxy = await serveProxy(f.home, ['--oidc-issuer', ISS, '--oidc-audience', AUD, '--jwks-file', jwks, '--require-at-jwt'], [EVERYTHING, 'stdio']);
  });
  after(async () => {
    await proxy?.stop();
    f?.cleanup();
  });

  it('a plain JWT (typ JWT) is 401 invalid_token with the reason; an at+jwt opens a session and its call is decided', async () => {
    for (const typ of ['JWT', 'id_token+jwt']) {
      const r = await fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${await token(typ)}` }, body: JSON.stringify(INITIALIZE) });
      assert.equal(r.status, 401, typ);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      assert.match(((await r.json()) as { error: { message: string } }).error.message, /not an RFC 9068 access token: its header typ is "(JWT|id_token\+jwt)"/);
    }
    const from = f.ledger.size();
    const c = await connectHttp(proxy.url, { token: await token('at+jwt') });
    try {
      const r = (await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as { content: { text: string }[] };
      assert.match(r.content[0]?.text ?? '', /hi/);
      assert.equal(decisionsSince(f, from).find((l) => l.request.resource === tool('echo'))?.result.decision, 'allow');
    } finally {
      await c.close();
    }
  });
});

describe('jwt-identity: keys by --jwks-uri and by discovery; configuration errors', () => {
  let server: Server;
  let base: string;
  let key: CryptoKey;
  let fetched = 0;
  before(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] };
    server = createServer((req, res) => {
      fetched++;
      const body = req.url === '/.well-known/openid-configuration' ? { issuer: base, jwks_uri: `${base}/keys` } : req.url === '/keys' ? jwks : null;
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  const sign = (iss: string, sub = 'carol') =>
    new SignJWT({ scope: 'tools' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }).setIssuer(iss).setAudience(AUD).setSubject(sub).setExpirationTime('5m').sign(key);

  it('--jwks-uri and discovery both verify; the principal type is configurable', async () => {
    const { jwtIdentifier, mcpJwtIssuer } = await import('../src/enforce/mcp/jwt-identity.ts');
    const byUri = jwtIdentifier(mcpJwtIssuer({ issuer: base, audience: AUD, jwksUri: `${base}/keys`, principalType: 'Acme::Bot' }));
    const a = await byUri(await sign(base));
    assert.deepEqual(a.ok && { principal: a.principal, iss: a.attrs.iss, scope: a.attrs.scope }, { principal: 'Acme::Bot::"carol"', iss: base, scope: 'tools' });
    const before = fetched;
    const discovered = jwtIdentifier(mcpJwtIssuer({ issuer: base, audience: AUD }));
    const b = await discovered(await sign(base));
    assert.equal(b.ok && b.principal, 'Agent::"carol"');
    assert.ok(fetched >= before + 2, 'the discovery document and the keys were fetched');
    const star = await discovered(await sign(base, 'car*'));
    assert.equal(star.ok, false, 'a sub with * is refused');
  });

  it('refuses a bad configuration before serving', async () => {
    const { mcpJwtIssuer } = await import('../src/enforce/mcp/jwt-identity.ts');
    assert.throws(() => mcpJwtIssuer({ issuer: 'http://idp.example.com', audience: AUD }), /https only/);
    assert.throws(() => mcpJwtIssuer({ issuer: ISS, audience: ' ' }), /audience/);
    assert.throws(() => mcpJwtIssuer({ issuer: ISS, audience: AUD, principalType: 'Agent::"x"' }), /not a Cedar entity type/);
    assert.throws(() => mcpJwtIssuer({ issuer: ISS, audience: AUD, jwksFile: 'a', jwksUri: `${ISS}/k` }), /not both/);
  });
});

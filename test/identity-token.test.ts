/**
 * Issue 17, point 3: the writ records the token's issuer and subject. A principal named by a
 * verified bearer JWT (the HTTP gate here; writ mcp --listen in mcp-http-jwt.test.ts) gets a
 * writ whose `idt` is that token's {iss, sub}; an API key's writ has none; nothing a client
 * sends besides the verified token (identity headers, a body member) can put one there. The
 * claim is an addition to format 1: verifiers accept writs with and without it, and refuse a
 * malformed one. RFC 9068: an issuer configured with accessTokenType "at+jwt" takes only
 * access tokens; and the tokens an attacker would try (HS256 keyed with the public key, among
 * others already covered in adversarial/forward-auth.test.ts) are refused.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import { readGateConfig } from '../src/enforce/http-gate/config.ts';
import { HttpGate } from '../src/enforce/http-gate/gate.ts';
import { jwtIdentifier, mcpJwtIssuer } from '../src/enforce/mcp/jwt-identity.ts';
import { claimsProblem, type WritClaims } from '../src/writ/claims.ts';
import { WRIT_HEADER, type HttpFacts } from '../src/writ/http-request.ts';
import { signWrit } from '../src/writ/issue.ts';
import { verifyWritAuthenticity, WritVerificationError } from '../src/writ/verify.ts';
import { API_KEY, AUDIENCE, call, gateConfigFile, lastLeaf, startGate, token, verifyAsUpstream, type GateHarness } from './forward-auth-fixture.ts';
import { tempDir } from './helpers.ts';
import { auth, withTestCaller } from './server-fixture.ts';

const BILLING = { 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices', 'x-forwarded-host': 'api.example.com' };
/** What the gate's policy needs of a request to Route::"ping" made in process (its forbid reads context.http) */
const PING = { principal: 'User::"alice"', action: 'Action::"http:GET"', resource: 'Route::"ping"', context: { http: { query: '' } } };
const FACTS: HttpFacts = { method: 'GET', host: 'api.example.com', path: '/billing/invoices', query: '', bodyDigest: null };

describe('the writ records the verified token (idt)', () => {
  let g: GateHarness;
  before(async () => {
    g = await startGate();
  });
  after(async () => {
    await g.close();
  });
  const forwardAuth = (headers: Record<string, string>) => call(`${g.url}/v1/gate/http/forward-auth`, { method: 'GET', headers: { ...BILLING, ...headers } });

  it("a JWT caller's writ carries the token's iss and sub; it verifies as any writ does", async () => {
    const r = await forwardAuth({ authorization: `Bearer ${await token(g.idp, { sub: 'alice' })}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const writ = r.headers.get(WRIT_HEADER) ?? '';
    assert.deepEqual(decodeJwt(writ).idt, { iss: g.idp.base, sub: 'alice' });
    const { claims } = await verifyAsUpstream(g.f, writ, 'billing-svc', FACTS);
    assert.deepEqual(claims.idt, { iss: g.idp.base, sub: 'alice' });
    assert.equal(claims.sub, 'User::"alice"');
  });

  it("an API key's writ has no idt", async () => {
    const r = await call(`${g.url}/v1/gate/http/forward-auth`, { method: 'GET', headers: { 'x-forwarded-method': 'POST', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/billing/runs', 'x-api-key': API_KEY } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const payload = decodeJwt(r.headers.get(WRIT_HEADER) ?? '');
    assert.equal(payload.sub, 'Service::"ci"');
    assert.equal('idt' in payload, false);
  });

  it('headers naming another issuer or subject change nothing: idt is the verified token\'s', async () => {
    const forged = { 'x-writ-idt': JSON.stringify({ iss: 'https://evil.example', sub: 'root' }), 'x-forwarded-user': 'root', 'x-user': 'root', 'x-auth-request-user': 'root', 'x-idt-iss': 'https://evil.example' };
    const withJwt = await forwardAuth({ ...forged, authorization: `Bearer ${await token(g.idp, { sub: 'alice' })}` });
    assert.deepEqual(decodeJwt(withJwt.headers.get(WRIT_HEADER) ?? '').idt, { iss: g.idp.base, sub: 'alice' });
    const withKey = await call(`${g.url}/v1/gate/http/forward-auth`, { method: 'GET', headers: { ...forged, 'x-forwarded-method': 'POST', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/billing/runs', 'x-api-key': API_KEY } });
    assert.equal(withKey.status, 200);
    assert.equal('idt' in decodeJwt(withKey.headers.get(WRIT_HEADER) ?? ''), false);
  });

  it("POST /v1/authorize: a writ_ token caller's writ has no idt (an OIDC caller's has: adversarial/caller-oidc.test.ts)", async () => {
    const app = withTestCaller(g.app, g.f.db);
    const res = await app.inject({ method: 'POST', url: '/v1/authorize', headers: auth(app), payload: PING });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ writ: string }>();
    assert.equal('idt' in decodeJwt(body.writ), false);
  });

  it('POST /v1/authorize refuses an identityToken (or idt) in the body: only an enforcement point that verified a token sets it', async () => {
    for (const extra of [{ identityToken: { iss: 'https://evil.example', sub: 'root' } }, { idt: { iss: 'https://evil.example', sub: 'root' } }]) {
      const res = await g.app.inject({ method: 'POST', url: '/v1/authorize', payload: { principal: 'User::"alice"', action: 'Action::"http:GET"', resource: 'Route::"ping"', ...extra } });
      assert.equal(res.statusCode, 400, res.body);
    }
  });

  it('a malformed identityToken from an in-process caller is request_invalid, recorded, no writ', async () => {
    for (const bad of [{ iss: '', sub: 'a' }, { iss: 'https://i', sub: '' }, { iss: 'https://i', sub: 'a', extra: 1 }, { iss: 'https://i' }, { iss: 'https://i', sub: 'x'.repeat(257) }]) {
      const d = await g.f.node.authorize({ ...PING, identityToken: bad as never });
      assert.equal(d.decision, 'deny', JSON.stringify(bad));
      assert.deepEqual(d.reasons, ['request_invalid']);
      assert.equal(d.writ, undefined);
      assert.equal(lastLeaf(g.f).id, d.decisionId);
    }
    const ok = await g.f.node.authorize({ ...PING, identityToken: { iss: 'https://i', sub: 'alice' } });
    assert.equal(ok.decision, 'allow', ok.message);
    assert.deepEqual(ok.claims?.idt, { iss: 'https://i', sub: 'alice' });
  });

  it('format 1 with and without idt verifies; a malformed idt is writ_malformed', async () => {
    const d = await g.f.node.authorize({ ...PING, identityToken: { iss: 'https://i', sub: 'alice' } });
    assert.ok(d.claims);
    const { identity } = g.f.node;
    const signed = (c: Record<string, unknown>) => signWrit(c as unknown as WritClaims, identity.privateKey, identity.kid);
    const without: Record<string, unknown> = { ...d.claims };
    delete without.idt;
    assert.equal((await verifyWritAuthenticity(await signed(without), { keys: g.f.jwks })).claims.idt, undefined);
    assert.deepEqual((await verifyWritAuthenticity(await signed({ ...d.claims }), { keys: g.f.jwks })).claims.idt, { iss: 'https://i', sub: 'alice' });
    for (const idt of [null, 'alice', [], {}, { iss: 'https://i' }, { iss: 1, sub: 'a' }, { iss: 'https://i', sub: '' }, { iss: 'https://i', sub: 'a', role: 'admin' }]) {
      assert.match(claimsProblem({ ...d.claims, idt } as unknown as Record<string, unknown>) ?? '', /claim idt malformed/, JSON.stringify(idt));
      await assert.rejects(verifyWritAuthenticity(await signed({ ...d.claims, idt }), { keys: g.f.jwks }), (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_malformed', JSON.stringify(idt));
    }
  });
});

describe('RFC 9068 access tokens and forged algorithms', () => {
  let g: GateHarness;
  let strict: HttpGate;
  before(async () => {
    g = await startGate();
    // the harness's issuer, required to send access tokens
    const file = gateConfigFile(g.idp);
    const config = JSON.parse(readFileSync(file, 'utf8')) as { credentials: { jwt: Record<string, unknown>[] } };
    config.credentials.jwt[0] = { ...config.credentials.jwt[0], accessTokenType: 'at+jwt' };
    writeFileSync(file, JSON.stringify(config));
    strict = new HttpGate({ node: g.f.node, ledger: g.f.ledger, config: readGateConfig(file) });
  });
  after(async () => {
    await g.close();
  });

  const typed = (typ: string | undefined) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ groups: ['billing'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', ...(typ !== undefined && { typ }) })
      .setIssuer(g.idp.base)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(g.idp.privateKey);
  };
  const decide = async (gate: HttpGate, jwt: string) => gate.decide({ facts: FACTS, header: (n) => (n === 'authorization' ? `Bearer ${jwt}` : n === 'host' ? 'api.example.com' : undefined) });

  it('accessTokenType "at+jwt": at+jwt and application/at+jwt are allowed; JWT, an ID-token-like plain JWT and no typ are 401 with the reason', async () => {
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT']) {
      const a = await decide(strict, await typed(typ));
      assert.equal(a.status, 200, `${typ}: ${a.message}`);
      assert.deepEqual(decodeJwt(a.writ ?? '').idt, { iss: g.idp.base, sub: 'alice' });
    }
    for (const typ of ['JWT', 'jwt', 'id_token+jwt', 'application/jwt', undefined]) {
      const a = await decide(strict, await typed(typ));
      assert.equal(a.status, 401, String(typ));
      assert.equal(a.writ, null);
      assert.deepEqual(a.reasons, ['http_credential_invalid']);
      assert.match(a.message, /not an RFC 9068 access token: its header typ is .*requires at\+jwt/, String(typ));
      assert.match(a.challenge ?? '', /error="invalid_token", error_description="the JWT is not an RFC 9068 access token/);
    }
    // the default gate (no accessTokenType) keeps accepting a plain JWT
    assert.equal((await decide(g.gate, await typed('JWT'))).status, 200);
  });

  it('accessTokenType other than "at+jwt" is a configuration error', () => {
    const file = join(tempDir('writ-gate-typ-'), 'gate.json');
    const base = JSON.parse(readFileSync(gateConfigFile(g.idp), 'utf8')) as { credentials: { jwt: Record<string, unknown>[] } };
    for (const bad of ['JWT', 'application/at+jwt', true]) {
      base.credentials.jwt[0] = { ...base.credentials.jwt[0], accessTokenType: bad };
      writeFileSync(file, JSON.stringify(base));
      assert.throws(() => readGateConfig(file), /accessTokenType/, String(bad));
    }
  });

  it('HS256 keyed with the issuer\'s public key, expired, another audience or issuer: 401 at the gate and at writ mcp\'s verifier', async () => {
    const pem = createPublicKey({ key: g.idp.jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const now = Math.floor(Date.now() / 1000);
    const claims = (o: { iss?: string; aud?: string; exp?: number } = {}) => new SignJWT({ groups: ['billing'] }).setIssuer(o.iss ?? g.idp.base).setAudience(o.aud ?? AUDIENCE).setSubject('alice').setIssuedAt(now).setExpirationTime(o.exp ?? now + 300);
    const hs256 = await claims().setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' }).sign(new TextEncoder().encode(pem));
    const cases: [string, string][] = [
      ['HS256 keyed with the public key', hs256],
      ['expired', await claims({ exp: now - 120 }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' }).sign(g.idp.privateKey)],
      ['wrong audience', await claims({ aud: 'someone-else' }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' }).sign(g.idp.privateKey)],
      ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${hs256.split('.')[1]}.`],
    ];
    const dir = tempDir('writ-mcp-typ-');
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [g.idp.jwk] }));
    const mcp = jwtIdentifier(mcpJwtIssuer({ issuer: g.idp.base, audience: AUDIENCE, jwksFile, requireAccessToken: true }));
    for (const [why, jwt] of cases) {
      for (const gate of [g.gate, strict]) {
        const a = await decide(gate, jwt);
        assert.equal(a.status, 401, why);
        assert.equal(a.writ, null, why);
      }
      const m = await mcp(jwt);
      assert.equal(m.ok, false, why);
    }
    // another issuer: not configured at the gate; at writ mcp's verifier, an iss mismatch
    const otherIss = await claims({ iss: 'https://other.example' }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' }).sign(g.idp.privateKey);
    assert.equal((await decide(g.gate, otherIss)).status, 401);
    assert.equal((await mcp(otherIss)).ok, false);
    // writ mcp --require-at-jwt: a plain JWT is refused with the reason; an access token is an identity with idt
    const plain = await mcp(await typed('JWT'));
    assert.equal(plain.ok, false);
    assert.match(plain.ok ? '' : plain.message, /not an RFC 9068 access token/);
    const at = await mcp(await typed('at+jwt'));
    assert.ok(at.ok, at.ok ? '' : at.message);
    assert.deepEqual(at.token, { iss: g.idp.base, sub: 'alice' });
  });
});

/**
 * Issue 10, point 1: bearer JWTs from a configured OIDC issuer as caller credentials
 * (src/server/oidc-auth.ts). Real HTTP: a local issuer serves its discovery document and
 * JWKS; tokens are signed with jose. The token's sub is the one principal the caller may
 * assert (403 otherwise); a token that does not verify in every respect, from an issuer not
 * configured (or removed), or whose keys cannot be fetched is a 401. Every refusal is a
 * recorded denial.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { IssuerStore } from '../../src/node/caller-issuers.ts';
import { buildApp } from '../../src/server/app.ts';
import { homeCallerAccess } from '../../src/server/caller-access.ts';
import { fixture, type Fixture } from '../helpers.ts';
import { json, ok, scratchDir, writ } from '../cli-fixture.ts';
import { AUD, leafAt, READ, type DecisionBody } from '../server-fixture.ts';

const AUDIENCE = 'writ-node';

interface Keys {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function keyPair(alg: string, kid: string): Promise<Keys & { publicKey: CryptoKey }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** An issuer on 127.0.0.1: /<prefix>/.well-known/openid-configuration names issuer <base>/<prefix> and jwks_uri <base>/jwks. */
async function startIssuer(jwks: () => { keys: JWK[] }): Promise<{ server: Server; base: string; fetches: () => number }> {
  let fetches = 0;
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const url = req.url ?? '';
    const send = (v: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    if (url === '/jwks') {
      fetches++;
      return send(jwks());
    }
    const m = /^(.*)\/\.well-known\/openid-configuration$/.exec(url);
    // /liar/… claims to be another issuer's document
    if (m) return send({ issuer: m[1] === '/liar' ? `${base}/someone-else` : `${base}${m[1] ?? ''}`, jwks_uri: `${base}/jwks` });
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, fetches: () => fetches };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('callers: OIDC bearer JWTs', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let idp: Awaited<ReturnType<typeof startIssuer>>;
  let rsa: Awaited<ReturnType<typeof keyPair>>;
  let ec: Awaited<ReturnType<typeof keyPair>>;
  let outsider: Awaited<ReturnType<typeof keyPair>>;
  let rs512: Awaited<ReturnType<typeof keyPair>>;
  let issuers: IssuerStore;
  let down: number;

  before(async () => {
    f = await fixture();
    rsa = await keyPair('RS256', 'rsa-1');
    ec = await keyPair('ES256', 'ec-1');
    // same kid as the RSA key, but not in the JWKS
    outsider = await keyPair('RS256', 'rsa-1');
    // in the JWKS, but its algorithm is not on the default allow-list
    rs512 = await keyPair('RS512', 'rsa-512');
    idp = await startIssuer(() => ({ keys: [rsa.publicJwk, ec.publicJwk, rs512.publicJwk] }));
    down = await closedPort();
    issuers = new IssuerStore(f.db);
    issuers.add('idp', { issuer: idp.base, audience: AUDIENCE });
    issuers.add('idp-ep', { issuer: `${idp.base}/ep`, audience: AUDIENCE, roles: ['verify'] });
    issuers.add('file', { issuer: `${idp.base}/file`, audience: AUDIENCE, jwks: { keys: [ec.publicJwk] } });
    issuers.add('liar', { issuer: `${idp.base}/liar`, audience: AUDIENCE });
    issuers.add('down', { issuer: `http://127.0.0.1:${down}`, audience: AUDIENCE });
    issuers.add('down-jwks', { issuer: `${idp.base}/down-jwks`, audience: AUDIENCE, jwksUri: `http://127.0.0.1:${down}/jwks` });
    app = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, callers: homeCallerAccess(f.db) });
  });
  after(async () => {
    await app.close();
    await new Promise((r) => idp.server.close(r));
    f.cleanup();
  });

  const token = (o: { iss?: string; aud?: string; sub?: string | null; exp?: number | null; nbf?: number; key?: Keys; alg?: string; kid?: string } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const key = o.key ?? rsa;
    const jwt = new SignJWT({}).setProtectedHeader({ alg: o.alg ?? String(key.publicJwk.alg), kid: o.kid ?? String(key.publicJwk.kid) }).setIssuer(o.iss ?? idp.base).setAudience(o.aud ?? AUDIENCE).setIssuedAt(now - 5);
    if (o.sub !== null) jwt.setSubject(o.sub ?? 'a1');
    if (o.exp !== null) jwt.setExpirationTime(o.exp ?? now + 300);
    if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
    return jwt.sign(key.privateKey);
  };
  const post = (url: string, payload: object, jwt: string) => app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${jwt}` } });
  const last = () => {
    const r = leafAt(f, f.ledger.size() - 1).result;
    return r && { decision: r.decision, reasons: r.reasons };
  };
  const read = (path: string) => ({ ...READ, args: { path } });

  /** Asserts a 401 caller_unauthenticated at /v1/authorize, recorded as a denial. */
  async function refused401(jwt: string, why: string, expected: RegExp): Promise<void> {
    const size = f.ledger.size();
    const r = await post('/v1/authorize', read('/srv/r.txt'), jwt);
    assert.equal(r.statusCode, 401, `${why}: ${r.body}`);
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    const d = r.json<DecisionBody>();
    assert.deepEqual(d.reasons, ['caller_unauthenticated'], why);
    assert.equal(d.writ, undefined);
    assert.equal(f.ledger.size(), size + 1, `${why}: recorded`);
    assert.deepEqual(last(), { decision: 'deny', reasons: ['caller_unauthenticated'] }, why);
    // refused for the reason the case is about, not by accident
    assert.match(String(d.errors), expected, why);
  }

  it('a valid token is allowed for its own sub principal (RSA and EC keys, discovered) and recorded as an allow', async () => {
    for (const key of [rsa, ec]) {
      const size = f.ledger.size();
      const r = await post('/v1/authorize', read('/srv/data/a.txt'), await token({ key }));
      assert.equal(r.statusCode, 200, r.body);
      const d = r.json<DecisionBody>();
      assert.equal(d.decision, 'allow');
      assert.equal(d.claims?.sub, 'Agent::"a1"');
      // the writ records the token that named the caller (issue 17, point 3)
      assert.deepEqual(d.claims?.idt, { iss: idp.base, sub: 'a1' });
      assert.equal(f.ledger.size(), size + 1);
      assert.equal(last()?.decision, 'allow');
    }
    // keys from a file (copied into the home): nothing is fetched
    const fetched = idp.fetches();
    const fromFile = await post('/v1/authorize', read('/srv/data/a.txt'), await token({ iss: `${idp.base}/file`, key: ec }));
    assert.equal(fromFile.statusCode, 200, fromFile.body);
    assert.deepEqual(fromFile.json<DecisionBody>().claims?.idt, { iss: `${idp.base}/file`, sub: 'a1' });
    assert.equal(idp.fetches(), fetched);
    await refused401(await token({ iss: `${idp.base}/file`, key: rsa }), 'a key of the issuer\'s JWKS, not of the file', /ERR_JWKS_NO_MATCHING_KEY/);
    // inside the 30 s clock tolerance
    const r = await post('/v1/authorize', read('/srv/data/a.txt'), await token({ exp: Math.floor(Date.now() / 1000) - 10 }));
    assert.equal(r.statusCode, 200, r.body);
  });

  it('asserting another principal than its sub: 403 caller_not_permitted, recorded', async () => {
    const jwt = await token();
    for (const principal of ['Agent::"a2"', 'User::"a1"', 'Agent::"a1x"']) {
      const size = f.ledger.size();
      const r = await post('/v1/authorize', { ...read('/srv/r.txt'), principal }, jwt);
      assert.equal(r.statusCode, 403, principal);
      assert.deepEqual(r.json<DecisionBody>().reasons, ['caller_not_permitted']);
      assert.match(String(r.json<DecisionBody>().errors), /caller oidc:idp:a1 may not assert/);
      assert.equal(f.ledger.size(), size + 1);
      assert.deepEqual(last(), { decision: 'deny', reasons: ['caller_not_permitted'] });
    }
  });

  it('expired, not yet valid, wrong aud, unknown iss, no sub, no exp, a * in sub: 401, recorded', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused401(await token({ exp: now - 120 }), 'expired beyond the tolerance', /ERR_JWT_EXPIRED/);
    await refused401(await token({ nbf: now + 120 }), 'nbf in the future', /"nbf" claim/);
    await refused401(await token({ aud: 'another-service' }), 'wrong audience', /"aud" claim/);
    await refused401(await token({ iss: `${idp.base}/unknown` }), 'unknown issuer', /unknown" is not configured/);
    await refused401(await token({ iss: `${idp.base}/` }), 'issuer with a trailing slash (not exact)', /:\d+\/" is not configured/);
    await refused401(await token({ sub: null }), 'no sub', /missing required "sub"/);
    await refused401(await token({ exp: null }), 'no exp', /missing required "exp"/);
    await refused401(await token({ sub: 'a*' }), 'a sub that would be a wildcard', /sub contains \*/);
  });

  it('a bad signature, alg none, HS256 keyed with the public key, a key not in the JWKS: 401, recorded', async () => {
    const [h, p] = (await token({ sub: 'a2' })).split('.');
    const sig = (await token()).split('.')[2];
    await refused401(`${h}.${p}.${sig}`, 'signature of another token', /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const claims = { iss: idp.base, aud: AUDIENCE, sub: 'a1', exp: Math.floor(Date.now() / 1000) + 300 };
    await refused401(`${b64({ alg: 'none' })}.${b64(claims)}.`, 'alg none', /ERR_JOSE_ALG_NOT_ALLOWED/);
    await refused401(`${b64({ alg: 'none', kid: 'rsa-1' })}.${b64(claims)}.${sig}`, 'alg none with a signature', /ERR_JOSE_ALG_NOT_ALLOWED/);
    // the classic confusion: the RSA public key used as an HMAC secret
    const secret = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(idp.base).setAudience(AUDIENCE).setSubject('a1').setExpirationTime('5m').sign(secret);
    await refused401(hs, 'HS256 with the public key as secret', /ERR_JOSE_ALG_NOT_ALLOWED/);
    await refused401(await token({ key: outsider }), 'a key not in the JWKS, under a known kid', /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
    await refused401(await token({ key: outsider, kid: 'unknown-kid' }), 'a key not in the JWKS, unknown kid', /ERR_JWKS_NO_MATCHING_KEY/);
    await refused401(await token({ key: rs512 }), 'an algorithm not on the allow-list', /ERR_JOSE_ALG_NOT_ALLOWED/);
    await refused401('eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln', 'a payload that is not JSON', /neither a writ_ caller token nor a JWT/);
  });

  it('keys that cannot be fetched (issuer down, JWKS down, a discovery document of another issuer): 401, never an allow', async () => {
    await refused401(await token({ iss: `http://127.0.0.1:${down}` }), 'discovery unreachable', /keys of issuer down are unavailable/);
    await refused401(await token({ iss: `${idp.base}/down-jwks` }), 'jwks_uri unreachable', /issuer down-jwks: fetch failed/);
    await refused401(await token({ iss: `${idp.base}/liar` }), 'discovery document of another issuer', /its "issuer" differs/);
  });

  it('the issuer\'s role is honoured: an authorize token cannot verify, a verify token cannot authorize but can verify', async () => {
    const allowed = await post('/v1/authorize', read('/srv/data/v.txt'), await token());
    assert.equal(allowed.statusCode, 200, allowed.body);
    const w = allowed.json<DecisionBody>().writ as string;
    const body = { writ: w, audience: AUD, args: { path: '/srv/data/v.txt' } };
    const size = f.ledger.size();
    const asAgent = await post('/v1/verify', body, await token());
    assert.equal(asAgent.statusCode, 403);
    assert.equal(asAgent.json<{ reason: string }>().reason, 'caller_not_permitted');
    assert.equal(f.ledger.size(), size + 1, 'recorded');
    const ep = await token({ iss: `${idp.base}/ep`, sub: 'gateway-1' });
    const asEpAuthorize = await post('/v1/authorize', { ...read('/srv/data/v.txt'), principal: 'Agent::"gateway-1"' }, ep);
    assert.equal(asEpAuthorize.statusCode, 403, 'the verify role may not authorize, not even its own sub');
    const verified = await post('/v1/verify', body, ep);
    assert.equal(verified.statusCode, 200, verified.body);
    assert.equal(verified.json<{ valid: boolean }>().valid, true);
  });

  it('a removed issuer is refused at the next request; the JWKS is fetched once and cached', async () => {
    const s = new IssuerStore(f.db);
    s.add('short-lived', { issuer: `${idp.base}/short`, audience: AUDIENCE });
    const jwt = await token({ iss: `${idp.base}/short` });
    assert.equal((await post('/v1/authorize', read('/srv/data/s.txt'), jwt)).statusCode, 200);
    const fetched = idp.fetches();
    assert.equal((await post('/v1/authorize', read('/srv/data/s.txt'), jwt)).statusCode, 200);
    assert.equal(idp.fetches(), fetched, 'no refetch for a known kid');
    assert.ok(s.remove('short-lived'));
    await refused401(jwt, 'issuer removed', /short" is not configured/);
  });
});

describe('callers: OIDC issuer configuration', () => {
  it('refuses HS*/none algorithms, plain http elsewhere than loopback, private or symmetric keys in a JWKS file, a second configuration of the same iss', async () => {
    const f = await fixture({ policyDir: null });
    try {
      const s = new IssuerStore(f.db);
      const base = { issuer: 'https://idp.example', audience: AUDIENCE };
      assert.throws(() => s.add('a', { ...base, algorithms: ['HS256'] }), /no HS\*/);
      assert.throws(() => s.add('a', { ...base, algorithms: ['none'] }), /no HS\*/);
      assert.throws(() => s.add('a', { ...base, issuer: 'http://idp.example' }), /https only/);
      assert.throws(() => s.add('a', { ...base, jwksUri: 'http://idp.example/jwks' }), /https only/);
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const privateJwk = await exportJWK(privateKey);
      assert.throws(() => s.add('a', { ...base, jwks: { keys: [privateJwk] } }), /private key material/);
      assert.throws(() => s.add('a', { ...base, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }), /kty "oct"/);
      assert.throws(() => s.add('a', { ...base, principalType: 'Agent::"x"' }), /not a Cedar entity type/);
      s.add('a', base);
      assert.throws(() => s.add('b', base), /configured already \(as a\)/);
      assert.deepEqual(s.live().map((i) => [i.name, i.algorithms, i.roles, i.principalType]), [['a', ['RS256', 'PS256', 'ES256', 'EdDSA'], ['authorize'], 'Agent']]);
    } finally {
      f.cleanup();
    }
  });

  it('writ caller issuer add --jwks-file, list --json, remove', async () => {
    const home = scratchDir('writ-oidc-cli-');
    ok(writ(['init', '--home', home]), 'init');
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const file = `${home}/jwks.json`;
    writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] }));
    ok(writ(['caller', 'issuer', 'add', 'corp', '--home', home, '--issuer', 'https://login.example.com', '--audience', 'writ', '--jwks-file', file, '--role', 'both', '--principal-type', 'Acme::Agent', '--algorithms', 'ES256']));
    const bad = writ(['caller', 'issuer', 'add', 'bad', '--home', home, '--issuer', 'https://x.example', '--audience', 'writ', '--algorithms', 'HS256']);
    assert.equal(bad.status, 2, bad.stderr);
    const listed = json<{ name: string; roles: string[]; principalType: string; algorithms: string[]; jwks: { keys: unknown[] } | null; revoked: string | null }[]>(ok(writ(['caller', 'issuer', 'list', '--home', home, '--json'])));
    assert.deepEqual(listed.map((i) => [i.name, i.roles, i.principalType, i.algorithms, i.jwks?.keys.length, i.revoked]), [['corp', ['authorize', 'verify'], 'Acme::Agent', ['ES256'], 1, null]]);
    assert.match(ok(writ(['caller', 'issuer', 'list', '--home', home])).stdout, /^corp {2}https:\/\/login\.example\.com {2}aud writ {2}authorize\+verify .*keys: 1 from a file .*live$/m);
    ok(writ(['caller', 'issuer', 'remove', 'corp', '--home', home]));
    assert.equal(writ(['caller', 'issuer', 'remove', 'corp', '--home', home]).status, 1);
    assert.match(ok(writ(['caller', 'issuer', 'list', '--home', home])).stdout, /removed /);
  });
});

/**
 * Issue 12, point 1, adversarially: the HTTP gate's principal comes only from a credential it
 * verifies. No credential, a header that merely names a user (X-User, X-Forwarded-User), an
 * expired JWT, one for another audience or issuer, one signed with `alg: none` or by a key not
 * in the issuer's JWKS, a tampered payload, an unknown API key, two credentials at once — each
 * is a 401 with WWW-Authenticate, no writ, and a recorded denial as Caller::"anonymous". A
 * path an upstream could read as another route's (dot segments, encoded slashes) is refused,
 * not matched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WRIT_HEADER } from '../../src/writ/http-request.ts';
import { API_KEY, call, denialOf, lastLeaf, startGate, token, unsignedToken, type GateHarness } from '../forward-auth-fixture.ts';

describe('HTTP gate: credentials and paths, adversarially', () => {
  let g: GateHarness;
  before(async () => {
    g = await startGate();
  });
  after(async () => {
    await g.close();
  });

  const request = { 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices', 'x-forwarded-host': 'api.example.com' };
  const forwardAuth = (headers: Record<string, string>) => call(`${g.url}/v1/gate/http/forward-auth`, { method: 'GET', headers: { ...request, ...headers } });

  /** 401, a challenge, no writ, one recorded denial with `code` as the anonymous caller, and nothing allowed. */
  async function refused(headers: Record<string, string>, code: string, why: string, expected?: RegExp): Promise<string> {
    const size = g.f.ledger.size();
    const r = await forwardAuth(headers);
    assert.equal(r.status, 401, `${why}: ${JSON.stringify(r.body)}`);
    const challenge = r.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm="writ"/, why);
    assert.match(challenge, /ApiKey realm="writ", header="x-api-key"/, why);
    assert.equal(r.headers.get(WRIT_HEADER), null, why);
    // asked as nginx asks: the facts are in the headers (no body: forward-auth.ts)
    assert.deepEqual(r.body, {}, why);
    assert.deepEqual(denialOf(r).reasons, [code], why);
    assert.equal(g.f.ledger.size(), size + 1, `${why}: recorded`);
    const leaf = lastLeaf(g.f);
    assert.equal(leaf.id, denialOf(r).decisionId);
    assert.deepEqual(leaf.result.reasons, [code], why);
    assert.equal(leaf.result.decision, 'deny');
    assert.equal(leaf.request.principal, 'Caller::"anonymous"', `${why}: no principal is taken from an unverified credential`);
    assert.equal(leaf.writ, null);
    // why, where nginx's client can see it: the challenge's error_description
    if (expected) assert.match(challenge, expected, why);
    return challenge;
  }

  it('no credential at all is 401 http_credential_missing', async () => {
    await refused({}, 'http_credential_missing', 'no credential');
  });

  it('a header that only names a user (X-User, X-Forwarded-User, X-Auth-Request-User) is no credential', async () => {
    await refused({ 'x-user': 'alice', 'x-forwarded-user': 'alice', 'x-auth-request-user': 'alice', 'x-forwarded-groups': 'billing' }, 'http_credential_missing', 'identity headers');
  });

  it('an expired JWT, one for another audience, from an unconfigured issuer, or signed by a key outside the JWKS is 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string, RegExp][] = [
      ['expired', await token(g.idp, { exp: now - 120 }), /exp/],
      ['wrong audience', await token(g.idp, { aud: 'another-api' }), /aud/],
      ['unknown issuer', await token(g.idp, { iss: 'https://idp.attacker.example' }), /not configured/],
      ['outsider key', await token(g.idp, { key: g.idp.outsider }), /signature/],
    ];
    for (const [why, jwt, expected] of cases) {
      const challenge = await refused({ authorization: `Bearer ${jwt}` }, 'http_credential_invalid', why, expected);
      assert.match(challenge, /error="invalid_token"/, why);
    }
  });

  it('alg "none", and a signed token whose payload was altered, are 401', async () => {
    await refused({ authorization: `Bearer ${unsignedToken(g.idp)}` }, 'http_credential_invalid', 'alg none');
    const [h, , s] = (await token(g.idp, { groups: ['sales'] })).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: g.idp.base, aud: 'gateway-users', sub: 'alice', groups: ['billing'], exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
    await refused({ authorization: `Bearer ${h}.${forged}.${s}` }, 'http_credential_invalid', 'tampered payload', /signature/);
  });

  it('another Authorization scheme, an unknown API key, or both a JWT and an API key are 401', async () => {
    await refused({ authorization: 'Basic YWxpY2U6c2VjcmV0' }, 'http_credential_invalid', 'basic auth');
    await refused({ 'x-api-key': `${API_KEY}x` }, 'http_credential_invalid', 'unknown key');
    await refused({ 'x-api-key': API_KEY, authorization: `Bearer ${await token(g.idp)}` }, 'http_credential_invalid', 'two credentials', /both/);
  });

  it('an identity header beside a valid credential changes nothing: the principal is the credential\'s', async () => {
    const r = await forwardAuth({ authorization: `Bearer ${await token(g.idp, { sub: 'bob' })}`, 'x-user': 'admin', 'x-forwarded-user': 'admin' });
    assert.equal(r.status, 200);
    assert.equal(lastLeaf(g.f).request.principal, 'User::"bob"');
  });

  it('a path with dot segments or encoded separators is 403 http_path_ambiguous, never matched to a route', async () => {
    const jwt = await token(g.idp);
    for (const uri of ['/billing/../admin', '/billing/%2e%2e/admin', '/billing/.%2E/admin', '/billing/./x', '/billing/a%2Fb', '/billing/a%5cb', '/billing\\..\\admin', '/billing/a%00']) {
      const size = g.f.ledger.size();
      const r = await forwardAuth({ 'x-original-uri': uri, authorization: `Bearer ${jwt}` });
      assert.equal(r.status, 403, uri);
      assert.deepEqual(denialOf(r).reasons, ['http_path_ambiguous'], uri);
      assert.equal(r.headers.get(WRIT_HEADER), null, uri);
      assert.equal(g.f.ledger.size(), size + 1, `${uri}: recorded`);
      assert.equal(lastLeaf(g.f).request.resource, 'Route::"*unmatched*"');
    }
  });

  it('a fragment in X-Forwarded-Uri is dropped, and a client-sent x-writ is never echoed as if it were the gate\'s', async () => {
    const r = await forwardAuth({ 'x-original-uri': '/billing/invoices?id=1#frag', authorization: `Bearer ${await token(g.idp, { groups: ['sales'] })}`, [WRIT_HEADER]: 'eyJhbGciOiJFZERTQSJ9.e30.AAAA' });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get(WRIT_HEADER), null);
    assert.deepEqual(lastLeaf(g.f).request.args, { http: { method: 'GET', path: '/billing/invoices', query: 'id=1', bodyDigest: null } });
  });
});

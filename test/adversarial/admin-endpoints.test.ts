/**
 * Adversarial: the admin endpoints of an embedded node — POST /v1/revoke, POST /v1/bundles and
 * the console's POST /console/api/approvals/:id — over real HTTP, without the admin credential:
 * none at all, a wrong token, the token in another header / the query string / a cookie / another
 * scheme, `Bearer ` + a wrong token of exactly the right length (and one character off), the
 * token's SHA-256 from config.json (pass-the-hash), and spellings of the route that might miss
 * the check. Each: 401 (or 404 for a route that does not exist), and nothing changed — no
 * revocation, the bundle not activated, the approval still pending, the ledger unchanged.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { BundleFile } from '../../src/policy/manifest.ts';
import { fixture, policyFolder, type Fixture } from '../helpers.ts';
import { AUD, makeApp } from '../server-fixture.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n@id("read")\npermit (principal, action, resource == Tool::"fs/read");\n',
});
const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/admin.txt' } };
const WRITE = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/w.txt' } };

describe('adversarial: admin endpoints without the admin credential', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let base: string;
  let writ: string;
  let jti: string;
  let approvalId: string;
  let bundle: BundleFile;

  before(async () => {
    f = await fixture({ policyDir: POLICY });
    app = await makeApp(f);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    const d = await f.node.authorize(READ);
    assert.equal(d.decision, 'allow', d.message);
    writ = d.writ as string;
    jti = d.claims?.jti as string;
    const asked = await f.node.authorize(WRITE);
    assert.deepEqual(asked.reasons, ['approval_required']);
    approvalId = asked.approvalId as string;
    bundle = await f.sign(POLICY, { version: 50 });
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  /** every way of presenting something other than `Authorization: Bearer <the admin token>` */
  function attempts(): [string, { headers?: Record<string, string>; query?: string }][] {
    const t = f.adminToken;
    const sameLength = `writ_admin_${'A'.repeat(t.length - 'writ_admin_'.length)}`;
    const lastFlipped = `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`;
    assert.equal(sameLength.length, t.length);
    return [
      ['no credential', {}],
      ['a wrong token', { headers: { authorization: 'Bearer wrong' } }],
      ['an empty bearer', { headers: { authorization: 'Bearer ' } }],
      ['a wrong token of the right length', { headers: { authorization: `Bearer ${sameLength}` } }],
      ['the token with its last character changed', { headers: { authorization: `Bearer ${lastFlipped}` } }],
      ['the token with a character appended', { headers: { authorization: `Bearer ${t}x` } }],
      ['the token truncated', { headers: { authorization: `Bearer ${t.slice(0, -1)}` } }],
      ['the SHA-256 of the token (config.json)', { headers: { authorization: `Bearer ${f.config.admin.tokenSha256}` } }],
      ['the token without a scheme', { headers: { authorization: t } }],
      ['the token as Basic', { headers: { authorization: `Basic ${t}` } }],
      ['the token as Basic user:password', { headers: { authorization: `Basic ${Buffer.from(`admin:${t}`).toString('base64')}` } }],
      ['the token under another scheme', { headers: { authorization: `Token ${t}` } }],
      ['Bearer without a space', { headers: { authorization: `Bearer${t}` } }],
      ['the token in X-Admin-Token', { headers: { 'x-admin-token': t } }],
      ['the token in X-Api-Key', { headers: { 'x-api-key': t } }],
      ['the token in Proxy-Authorization', { headers: { 'proxy-authorization': `Bearer ${t}` } }],
      ['the token in X-Forwarded-Authorization', { headers: { 'x-forwarded-authorization': `Bearer ${t}` } }],
      ['the token in a cookie', { headers: { cookie: `token=${t}; admin_token=${t}; authorization=Bearer%20${t}; writ_admin=${t}` } }],
      ['the token in the query string', { query: `token=${t}&access_token=${t}&admin_token=${t}&authorization=Bearer%20${t}` }],
      ['a wrong bearer with the token in the query string', { headers: { authorization: 'Bearer wrong' }, query: `access_token=${t}` }],
    ];
  }

  async function post(path: string, body: unknown, a: { headers?: Record<string, string>; query?: string }) {
    const res = await fetch(`${base}${path}${a.query ? `?${a.query}` : ''}`, { method: 'POST', headers: { 'content-type': 'application/json', ...a.headers }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, text, wwwAuthenticate: res.headers.get('www-authenticate') };
  }

  /** a request with its path exactly as given */
  function raw(method: string, path: string, body: string): Promise<{ status: number; text: string }> {
    const u = new URL(base);
    return new Promise((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, method, path, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** what must not change: the writ not revoked (and still verifying), the bundle, the approval, the ledger */
  async function unchanged(size: number, what: string) {
    assert.equal(f.state.isRevoked('writ', jti), false, `${what}: the writ was revoked`);
    assert.equal(f.state.isRevoked('principal', READ.principal), false, `${what}: the principal was revoked`);
    assert.equal(f.node.policy.active?.bundle.manifest.version, 1, `${what}: a bundle was activated`);
    assert.equal(f.state.approval(approvalId)?.status, 'pending', `${what}: the approval was decided`);
    assert.equal(f.ledger.size(), size, `${what}: something was recorded`);
    const v = await f.node.verify(writ, { audience: AUD, args: READ.args, consume: false });
    assert.equal(v.claims.jti, jti, `${what}: the writ stopped verifying`);
  }

  const endpoints = (): [string, string, unknown][] => [
    ['POST /v1/revoke (writ)', '/v1/revoke', { kind: 'writ', value: jti, reason: 'attacker' }],
    ['POST /v1/revoke (principal)', '/v1/revoke', { kind: 'principal', value: READ.principal }],
    ['POST /v1/bundles', '/v1/bundles', bundle],
    ['POST /console/api/approvals/:id', `/console/api/approvals/${approvalId}`, { decision: 'approve' }],
  ];

  it('every admin endpoint, every wrong credential: 401 with a Bearer challenge, and nothing changed', async () => {
    const size = f.ledger.size();
    let tried = 0;
    for (const [name, path, body] of endpoints()) {
      for (const [how, a] of attempts()) {
        const r = await post(path, body, a);
        assert.equal(r.status, 401, `${name} with ${how}: ${r.status} ${r.text.slice(0, 200)}`);
        assert.equal(JSON.parse(r.text).error, 'unauthorized', `${name} with ${how}`);
        assert.equal(r.wwwAuthenticate, 'Bearer');
        assert.ok(!r.text.includes(f.adminToken), `${name} with ${how}: the token echoed back`);
        tried++;
      }
      await unchanged(size, name);
    }
    assert.equal(tried, endpoints().length * attempts().length);
  });

  it('the credential is checked before the body: malformed, oversized or hostile bodies without it are 401 too', async () => {
    const size = f.ledger.size();
    const bodies: [string, string, Record<string, string>][] = [
      ['/v1/revoke', 'not json', { 'content-type': 'application/json' }],
      ['/v1/revoke', '{"kind":"writ","value":"x","__proto__":{"admin":true}}', { 'content-type': 'application/json' }],
      ['/v1/bundles', JSON.stringify({ ...bundle, pad: 'x'.repeat(200_000) }), { 'content-type': 'application/json' }],
      ['/v1/bundles', JSON.stringify(bundle), { 'content-type': 'text/plain' }],
      [`/console/api/approvals/${approvalId}`, '{"decision":"approve"', { 'content-type': 'application/json' }],
      [`/console/api/approvals/${approvalId}`, 'decision=approve', { 'content-type': 'application/x-www-form-urlencoded' }],
    ];
    for (const [path, body, headers] of bodies) {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers, body });
      assert.equal(res.status, 401, `${path} ${body.slice(0, 40)}: ${res.status}`);
      await res.body?.cancel();
    }
    await unchanged(size, 'hostile bodies');
  });

  it('spellings of the admin routes that might skip the check are 401 or 404, never handled', async () => {
    const size = f.ledger.size();
    const revoke = { kind: 'writ', value: jti };
    const variants: [string, unknown][] = [
      ['/v1/revoke/', revoke],
      ['/V1/revoke', revoke],
      ['/v1/Revoke', revoke],
      ['/v1//revoke', revoke],
      ['//v1/revoke', revoke],
      ['/v1/./revoke', revoke],
      ['/v1/x/../revoke', revoke],
      ['/v1/%72evoke', revoke],
      ['/v1/revoke%00', revoke],
      ['/v1/revoke;x', revoke],
      ['/v1/bundles/', bundle],
      ['/v1/%62undles', bundle],
      [`/console/api/approvals/${approvalId}/`, { decision: 'approve' }],
      [`/console/api/approvals/${approvalId}%2f..%2f${approvalId}`, { decision: 'approve' }],
      [`/console//api/approvals/${approvalId}`, { decision: 'approve' }],
      [`/console/api/../api/approvals/${approvalId}`, { decision: 'approve' }],
      [`/console/api/approvals/${encodeURIComponent(approvalId)}`, { decision: 'approve' }],
    ];
    for (const [path, body] of variants) {
      // sent as written (fetch would normalize the dot segments away)
      const r = await raw('POST', path, JSON.stringify(body));
      assert.ok(r.status === 401 || r.status === 404, `${path}: ${r.status} ${r.text.slice(0, 200)}`);
    }
    // other methods on the admin routes
    for (const method of ['PUT', 'PATCH', 'DELETE', 'GET']) {
      for (const path of ['/v1/revoke', '/v1/bundles', `/console/api/approvals/${approvalId}`]) {
        const res = await fetch(`${base}${path}`, { method, ...(method !== 'GET' && { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'writ', value: jti, decision: 'approve' }) }) });
        assert.ok(res.status === 401 || res.status === 404, `${method} ${path}: ${res.status}`);
        await res.body?.cancel();
      }
    }
    await unchanged(size, 'route variants');
  });

  it('with the admin token itself each endpoint works — the refusals above were the credential check', async () => {
    const auth = { headers: { authorization: `Bearer ${f.adminToken}` } };
    const approve = await post(`/console/api/approvals/${approvalId}`, { decision: 'approve' }, auth);
    assert.equal(approve.status, 200, approve.text);
    assert.equal(f.state.approval(approvalId)?.status, 'approved');
    const activate = await post('/v1/bundles', bundle, auth);
    assert.equal(activate.status, 201, activate.text);
    assert.equal(f.node.policy.active?.bundle.manifest.version, 50);
    const revoke = await post('/v1/revoke', { kind: 'writ', value: jti }, auth);
    assert.equal(revoke.status, 201, revoke.text);
    assert.equal(f.state.isRevoked('writ', jti), true);
  });
});

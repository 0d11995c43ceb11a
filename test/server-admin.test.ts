/** HTTP API of an embedded node: admin endpoints (revoke, bundles) and keys, health, metrics and OpenAPI, exercised with app.inject. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bundleBytes, DEMO_POLICY, fixture } from './helpers.ts';
import { AUD, auth, authorize, b64url, leafAt, makeApp, READ, WRITE, type ErrorBody, app, f, useServerApp } from './server-fixture.ts';

describe('HTTP API: admin endpoints', () => {
  useServerApp();

  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  it('POST /v1/revoke needs the admin bearer token', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/r.txt' } });
    const jti = a.body.claims?.jti as string;
    const before = f.ledger.size();
    for (const headers of [{}, bearer('wrong'), bearer(`${f.adminToken}x`), { authorization: f.adminToken }, bearer(''), { authorization: `Basic ${f.adminToken}` }]) {
      const res = await app.inject({ method: 'POST', url: '/v1/revoke', headers, payload: { kind: 'writ', value: jti } });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.json<ErrorBody>().error, 'unauthorized');
    }
    assert.equal(f.state.isRevoked('writ', jti), false);
    assert.equal(f.ledger.size(), before);
  });

  it('POST /v1/revoke with the token revokes (201), records it, and the writ stops verifying', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/r2.txt' } });
    const jti = a.body.claims?.jti as string;
    const res = await app.inject({ method: 'POST', url: '/v1/revoke', headers: bearer(f.adminToken), payload: { value: jti, reason: 'test' } });
    assert.equal(res.statusCode, 201);
    const body = res.json<{ revoked: boolean; kind: string; created: boolean; ledgerIndex: number }>();
    assert.equal(body.revoked, true);
    assert.equal(body.kind, 'writ');
    assert.equal(body.created, true);
    const leaf = leafAt(f, body.ledgerIndex);
    assert.equal(leaf.type, 'revocation');
    assert.equal(leaf.value, jti);
    const v = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/r2.txt' } } });
    assert.equal(v.statusCode, 403);
    assert.equal(v.json<{ reason: string }>().reason, 'writ_revoked');
    const again = await app.inject({ method: 'POST', url: '/v1/revoke', headers: bearer(f.adminToken), payload: { value: jti } });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json<{ created: boolean }>().created, false);
  });

  it('POST /v1/revoke validates its body', async () => {
    for (const payload of [{ kind: 'everything', value: 'x' }, { kind: 'writ' }, { value: 'x', extra: 1 }]) {
      const res = await app.inject({ method: 'POST', url: '/v1/revoke', headers: bearer(f.adminToken), payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
    }
  });

  it('POST /v1/bundles needs the admin token', async () => {
    const bundle = await f.sign(DEMO_POLICY, { version: 50 });
    for (const headers of [{}, bearer('nope')]) {
      const res = await app.inject({ method: 'POST', url: '/v1/bundles', headers, payload: bundle });
      assert.equal(res.statusCode, 401);
    }
    assert.equal(f.node.policy.active?.bundle.manifest.version, 1);
  });

  it('POST /v1/bundles refuses bad bundles with 422 and a reason code, leaving the active bundle unchanged', async () => {
    const active = f.node.policy.active?.bundle.digest;
    const good = await f.sign(DEMO_POLICY, { version: 60 });
    const tamperedFile = { ...good, files: { ...good.files, 'policy.cedar': Buffer.from('permit (principal, action, resource);').toString('base64url') } };
    const sig0 = good.manifest.signatures[0];
    assert.ok(sig0);
    const badSig = { ...good, manifest: { ...good.manifest, signatures: [{ ...sig0, signature: b64url('x'.repeat(64)) }] } };
    const unsigned = { ...good, manifest: { ...good.manifest, signatures: [] } };
    const rollback = await f.sign(DEMO_POLICY, { version: 1 });
    const expired = await f.sign(DEMO_POLICY, { version: 61, expiresInMs: -500 });
    const otherDomain = await f.sign(DEMO_POLICY, { version: 62, domain: 'elsewhere' });
    const cases: [object, string][] = [
      [tamperedFile, 'bundle_file_mismatch'],
      [badSig, 'bundle_signature_invalid'],
      [rollback, 'bundle_rollback'],
      [otherDomain, 'bundle_domain_mismatch'],
      [{ format: 'nope', manifest: {}, files: {} }, 'bundle_malformed'],
    ];
    for (const [payload, code] of cases) {
      const res = await app.inject({ method: 'POST', url: '/v1/bundles', headers: bearer(f.adminToken), payload });
      assert.equal(res.statusCode, 422, `${code}: ${res.body}`);
      const body = res.json<{ activated: boolean; reason: string }>();
      assert.equal(body.activated, false);
      assert.equal(body.reason, code);
      assert.equal(f.node.policy.active?.bundle.digest, active);
    }
    for (const payload of [unsigned, expired]) {
      const res = await app.inject({ method: 'POST', url: '/v1/bundles', headers: bearer(f.adminToken), payload });
      assert.equal(res.statusCode, 422, res.body);
      assert.match(res.json<{ reason: string }>().reason, /^bundle_/);
      assert.equal(f.node.policy.active?.bundle.digest, active);
    }
    // the body must at least look like a bundle
    const shapeless = await app.inject({ method: 'POST', url: '/v1/bundles', headers: bearer(f.adminToken), payload: { hello: 1 } });
    assert.equal(shapeless.statusCode, 400);
    assert.equal(f.node.policy.active?.bundle.digest, active);
    // and the refused tampered bundle did not start allowing writes
    const w = await authorize(app, { ...WRITE, args: { path: '/srv/x' } });
    assert.equal(w.status, 403);
  });

  it('POST /v1/bundles activates a good newer bundle (201) and readyz reports it', async () => {
    const good = await f.sign(DEMO_POLICY, { version: 70 });
    const res = await app.inject({ method: 'POST', url: '/v1/bundles', headers: bearer(f.adminToken), payload: good });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json<{ activated: boolean; version: number; ledgerIndex: number }>();
    assert.equal(body.activated, true);
    assert.equal(body.version, 70);
    assert.equal(leafAt(f, body.ledgerIndex).type, 'bundle_activation');
    assert.equal(f.node.policy.active?.bundle.manifest.version, 70);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json<{ version: number }>().version, 70);
    // the same bytes again are a rollback now
    const again = await app.inject({
      method: 'POST',
      url: '/v1/bundles',
      headers: { ...bearer(f.adminToken), 'content-type': 'application/json' },
      payload: Buffer.from(bundleBytes(good)),
    });
    assert.equal(again.statusCode, 422);
    assert.equal(again.json<{ reason: string }>().reason, 'bundle_rollback');
  });
});

describe('HTTP API: keys, health, metrics, OpenAPI', () => {
  useServerApp();

  it('GET /.well-known/jwks.json publishes the node public key only', async () => {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(res.statusCode, 200);
    const jwks = res.json<{ keys: Record<string, unknown>[] }>();
    assert.equal(jwks.keys.length, 1);
    const k = jwks.keys[0] as Record<string, unknown>;
    assert.equal(k.kty, 'OKP');
    assert.equal(k.crv, 'Ed25519');
    assert.equal(k.kid, f.node.identity.kid);
    assert.equal(typeof k.x, 'string');
    assert.equal('d' in k, false);
  });

  it('GET /healthz and /readyz are 200 with an active bundle', async () => {
    const h = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(h.statusCode, 200);
    assert.deepEqual(h.json(), { ok: true });
    const r = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(r.statusCode, 200);
    const body = r.json<{ ready: boolean; version: number; digest: string }>();
    assert.equal(body.ready, true);
    assert.equal(body.version, 1);
    assert.match(body.digest, /^sha256:[0-9a-f]{64}$/);
  });

  it('GET /readyz is 503 without a bundle, and such a node denies', async () => {
    const empty = await fixture({ policyDir: null });
    const emptyApp = await makeApp(empty);
    try {
      const r = await emptyApp.inject({ method: 'GET', url: '/readyz' });
      assert.equal(r.statusCode, 503);
      const body = r.json<{ ready: boolean; reason: string }>();
      assert.equal(body.ready, false);
      assert.equal(body.reason, 'no_active_bundle');
      const h = await emptyApp.inject({ method: 'GET', url: '/healthz' });
      assert.equal(h.statusCode, 200);
      const d = await authorize(emptyApp, { ...READ, args: { path: '/srv/a' } });
      assert.equal(d.status, 403);
      assert.deepEqual(d.body.reasons, ['no_active_bundle']);
      assert.equal(d.body.writ, undefined);
    } finally {
      await emptyApp.close();
      empty.cleanup();
    }
  });

  it('GET /metrics exposes decision counters by decision and reason, and a latency histogram', async () => {
    assert.equal((await authorize(app, { ...READ, args: { path: '/srv/m' } })).status, 200);
    assert.equal((await authorize(app, { ...WRITE, args: { path: '/srv/m' } })).status, 403);
    assert.equal((await authorize(app, { ...WRITE, args: { path: '/srv/m' } })).status, 403);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.body;
    assert.match(text, /# TYPE writ_decisions_total counter/);
    assert.match(text, /^writ_decisions_total\{decision="allow",reason="policy_permit"\} 1$/m);
    assert.match(text, /^writ_decisions_total\{decision="deny",reason="no_permit"\} 2$/m);
    assert.match(text, /# TYPE writ_decision_duration_seconds histogram/);
    assert.match(text, /^writ_decision_duration_seconds_bucket\{le="\+Inf",decision="allow"\} 1$/m);
    assert.match(text, /^writ_decision_duration_seconds_count\{decision="deny"\} 2$/m);
    assert.match(text, /^writ_bundle_version 1$/m);
  });

  it('GET /openapi.json is an OpenAPI 3.1 document with the API paths', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json<{ openapi: string; info: { title: string }; paths: Record<string, Record<string, { requestBody?: unknown; responses?: Record<string, unknown> }>> }>();
    assert.match(doc.openapi, /^3\.1\./);
    assert.equal(typeof doc.info.title, 'string');
    const post = doc.paths['/v1/authorize']?.post;
    assert.ok(post, 'POST /v1/authorize documented');
    assert.ok(post.requestBody, 'with a request body');
    assert.ok(post.responses?.['200'] && post.responses['403'], 'with allow and deny responses');
    for (const p of ['/v1/verify', '/v1/outcome', '/v1/revoke', '/v1/bundles']) assert.ok(doc.paths[p]?.post, `${p} documented`);
    assert.equal(doc.paths['/metrics'], undefined);
  });
});

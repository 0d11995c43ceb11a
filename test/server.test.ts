/** HTTP API of an embedded node (src/server/app.ts), exercised with app.inject (no network). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { signWrit } from '../src/writ/issue.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import { bundleBytes, DEMO_POLICY, fixture, type Fixture } from './helpers.ts';

/** the audience of writs for the READ request (their resource) */
const AUD = 'Tool::"fs/read"';

const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' } as const;
const WRITE = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"' } as const;

interface DecisionBody {
  decision: 'allow' | 'deny';
  decisionId: string;
  reasons: string[];
  policies: string[];
  ledgerIndex: number | null;
  writ?: string;
  claims?: WritClaims;
  errors?: string[];
  message?: string;
}

interface ErrorBody {
  error: string;
  message: string;
}

interface LeafJson {
  type: string;
  jti?: string;
  status?: string;
  exitCode?: number | null;
  kind?: string;
  value?: string;
  result?: { decision: string; reasons: string[] };
  writ?: { jti: string } | null;
}

function leafAt(f: Fixture, index: number): LeafJson {
  const e = f.ledger.entry(index);
  assert.ok(e, `ledger entry ${index} exists`);
  return JSON.parse(new TextDecoder().decode(e.leaf)) as LeafJson;
}

function allLeaves(f: Fixture): LeafJson[] {
  return f.ledger.entries(0, 100_000).map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as LeafJson);
}

function allowCount(f: Fixture): number {
  return allLeaves(f).filter((l) => l.type === 'decision' && l.result?.decision === 'allow').length;
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

async function makeApp(f: Fixture): Promise<FastifyInstance> {
  return buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log });
}

async function authorize(app: FastifyInstance, body: object) {
  const res = await app.inject({ method: 'POST', url: '/v1/authorize', payload: body });
  return { status: res.statusCode, body: res.json<DecisionBody>(), headers: res.headers };
}

describe('HTTP API: decisions', () => {
  let f: Fixture;
  let app: FastifyInstance;
  before(async () => {
    f = await fixture();
    app = await makeApp(f);
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  it('POST /v1/authorize allows with a writ whose decision leaf is already in the ledger', async () => {
    const r = await authorize(app, { ...READ, args: { path: '/srv/a.txt' } });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /application\/json/);
    assert.equal(r.body.decision, 'allow');
    assert.deepEqual(r.body.reasons, ['policy_permit']);
    assert.deepEqual(r.body.policies, ['agents-read-srv']);
    assert.equal(typeof r.body.writ, 'string');
    assert.equal(r.body.writ?.split('.').length, 3);
    assert.ok(r.body.claims);
    assert.equal(r.body.claims.sub, 'Agent::"a1"');
    assert.equal(r.body.claims.led, r.body.ledgerIndex);
    const leaf = leafAt(f, r.body.ledgerIndex as number);
    assert.equal(leaf.type, 'decision');
    assert.equal(leaf.result?.decision, 'allow');
    assert.equal(leaf.writ?.jti, r.body.claims.jti);
  });

  it('POST /v1/authorize denies with 403 and reasons, records the denial, returns no writ', async () => {
    const before = f.ledger.size();
    const r = await authorize(app, { ...WRITE, args: { path: '/srv/x' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.decision, 'deny');
    assert.deepEqual(r.body.reasons, ['no_permit']);
    assert.equal(r.body.writ, undefined);
    assert.equal(r.body.claims, undefined);
    assert.equal(f.ledger.size(), before + 1);
    assert.equal(r.body.ledgerIndex, before);
    const leaf = leafAt(f, before);
    assert.equal(leaf.type, 'decision');
    assert.equal(leaf.result?.decision, 'deny');
    assert.deepEqual(leaf.result?.reasons, ['no_permit']);
    assert.equal(leaf.writ, null);
  });

  it('forbid overrides permit over HTTP too', async () => {
    const r = await authorize(app, { ...READ, args: { path: '/srv/secret/key' } });
    assert.equal(r.status, 403);
    assert.deepEqual(r.body.reasons, ['policy_forbid']);
    assert.equal(r.body.writ, undefined);
  });

  it('a failed ledger commit answers 503 ledger_append_failed with no writ and no entry', async () => {
    const before = f.ledger.size();
    f.ledger.failNextAppends = 1;
    const r = await authorize(app, { ...READ, args: { path: '/srv/ok' } });
    assert.equal(r.status, 503);
    assert.equal(r.body.decision, 'deny');
    assert.deepEqual(r.body.reasons, ['ledger_append_failed']);
    assert.equal(r.body.writ, undefined);
    assert.equal(r.body.claims, undefined);
    assert.equal(f.ledger.size(), before);
    // and the node recovers afterwards
    const ok = await authorize(app, { ...READ, args: { path: '/srv/ok' } });
    assert.equal(ok.status, 200);
  });

  it('arguments too large to record become a recorded request_invalid denial, never an allow', async () => {
    const allowsBefore = allowCount(f);
    // under the 64 KiB body limit, but args appear twice in the leaf: over the leaf limit
    const r = await authorize(app, { ...READ, args: { path: '/srv/a', pad: 'x'.repeat(40_000) } });
    assert.equal(r.status, 403);
    assert.equal(r.body.decision, 'deny');
    assert.deepEqual(r.body.reasons, ['request_invalid']);
    assert.equal(r.body.writ, undefined);
    assert.equal(allowCount(f), allowsBefore);
    assert.ok(r.body.ledgerIndex !== null);
  });

  it('POST /v1/verify accepts the writ once (consume defaults to true), then writ_replayed', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/v.txt' } });
    assert.equal(a.status, 200);
    const v1 = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/v.txt' } } });
    assert.equal(v1.statusCode, 200);
    const b1 = v1.json<{ valid: boolean; claims: WritClaims }>();
    assert.equal(b1.valid, true);
    assert.equal(b1.claims.jti, a.body.claims?.jti);
    const v2 = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/v.txt' } } });
    assert.equal(v2.statusCode, 403);
    assert.deepEqual({ valid: v2.json<{ valid: boolean }>().valid, reason: v2.json<{ reason: string }>().reason }, { valid: false, reason: 'writ_replayed' });
  });

  it('POST /v1/verify with consume:false inspects without consuming', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/c.txt' } });
    for (let i = 0; i < 2; i++) {
      const v = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/c.txt' }, consume: false } });
      assert.equal(v.statusCode, 200);
    }
    const consume = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/c.txt' } } });
    assert.equal(consume.statusCode, 200);
  });

  it('POST /v1/verify with consume:false does not report a spent writ as valid', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/s.txt' } });
    const used = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/s.txt' } } });
    assert.equal(used.statusCode, 200);
    const inspect = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/s.txt' }, consume: false } });
    assert.equal(inspect.statusCode, 403, `a consumed writ inspected with consume:false: ${inspect.body}`);
    assert.equal(inspect.json<{ reason: string }>().reason, 'writ_replayed');
  });

  it('POST /v1/verify rejects other arguments, another action, another audience and tampering', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/i.txt' } });
    const writ = a.body.writ as string;
    const cases: [object, string][] = [
      [{ audience: AUD, writ, args: { path: '/srv/other.txt' } }, 'writ_intent_mismatch'],
      [{ audience: AUD, writ }, 'writ_intent_mismatch'],
      [{ audience: AUD, writ, args: { path: '/srv/i.txt' }, expect: { action: 'Action::"exec"' } }, 'writ_intent_mismatch'],
      [{ writ, args: { path: '/srv/i.txt' }, audience: 'Tool::"fs/write"' }, 'writ_audience_mismatch'],
    ];
    for (const [payload, reason] of cases) {
      const v = await app.inject({ method: 'POST', url: '/v1/verify', payload });
      assert.equal(v.statusCode, 403, JSON.stringify(payload));
      assert.equal(v.json<{ reason: string }>().reason, reason, JSON.stringify(payload));
    }
    // none of the failures consumed it
    const ok = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ, args: { path: '/srv/i.txt' } } });
    assert.equal(ok.statusCode, 200);

    const [h, p, s] = writ.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as WritClaims;
    const widened = `${h}.${b64url({ ...claims, jti: 'other', act: { ...claims.act, resource: 'Tool::"fs/write"' } })}.${s}`;
    const v = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: widened, args: { path: '/srv/i.txt' } } });
    assert.equal(v.statusCode, 403);
    assert.equal(v.json<{ reason: string }>().reason, 'writ_signature_invalid');
    const none = `${b64url({ alg: 'none', typ: 'writ+jwt' })}.${p}.`;
    const vn = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: none, args: { path: '/srv/i.txt' } } });
    assert.equal(vn.statusCode, 403);
    assert.equal(vn.json<{ valid: boolean }>().valid, false);
  });

  it('POST /v1/verify answers malformed writs with 403 and a writ_ reason, never 500', async () => {
    const header = b64url({ alg: 'Ed25519', typ: 'writ+jwt', kid: 'k' });
    const garbage = [
      'not-a-writ',
      'a.b.c',
      `${header}.${b64url('null')}.c2ln`,
      `${header}.${b64url('[]')}.c2ln`,
      `${header}.${b64url('42')}.c2ln`,
      `${header}.${b64url({ act: null })}.c2ln`,
      `${header}.!!!.c2ln`,
    ];
    for (const writ of garbage) {
      const v = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ } });
      assert.equal(v.statusCode, 403, `${writ}: ${v.body}`);
      const body = v.json<{ valid: boolean; reason: string }>();
      assert.equal(body.valid, false, writ);
      assert.match(body.reason, /^writ_/, writ);
    }
  });

  it('POST /v1/outcome records an outcome linked to the jti (201)', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/o.txt' } });
    const jti = a.body.claims?.jti as string;
    const res = await app.inject({ method: 'POST', url: '/v1/outcome', payload: { writ: a.body.writ, status: 'ok', exitCode: 0, durationMs: 12.4 } });
    assert.equal(res.statusCode, 201);
    const body = res.json<{ recorded: boolean; jti: string; ledgerIndex: number }>();
    assert.equal(body.recorded, true);
    assert.equal(body.jti, jti);
    const leaf = leafAt(f, body.ledgerIndex);
    assert.equal(leaf.type, 'outcome');
    assert.equal(leaf.jti, jti);
    assert.equal(leaf.status, 'ok');
    assert.equal(leaf.exitCode, 0);
    assert.equal(f.ledger.findByJti(jti, 'outcome').length, 1);
  });

  it('POST /v1/outcome refuses forged, unsigned, foreign and unrecorded writs and records nothing', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/f.txt' } });
    const writ = a.body.writ as string;
    const [h, p, s] = writ.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as WritClaims;
    const forgedJti = '00000000-0000-4000-8000-000000000000';
    const forged = `${h}.${b64url({ ...claims, jti: forgedJti })}.${s}`;
    const unsigned = `${b64url({ alg: 'none', typ: 'writ+jwt' })}.${p}.`;

    const other = await fixture();
    try {
      const od = await other.node.authorize({ ...READ, args: { path: '/srv/f.txt' } });
      assert.equal(od.decision, 'allow');
      const before = f.ledger.size();
      for (const [w, what] of [
        [forged, 'forged payload'],
        [unsigned, 'alg none'],
        [od.writ as string, 'signed by another node'],
        ['garbage', 'not a JWS'],
      ] as const) {
        const res = await app.inject({ method: 'POST', url: '/v1/outcome', payload: { writ: w, status: 'ok', exitCode: 0, durationMs: 1 } });
        assert.equal(res.statusCode, 403, `${what}: ${res.body}`);
        assert.match(res.json<ErrorBody>().error, /^writ_/, what);
      }
      assert.equal(f.ledger.size(), before);
      assert.equal(f.ledger.findByJti(forgedJti).length, 0);
    } finally {
      other.cleanup();
    }

    // correctly signed by this node's key, but never issued (no decision leaf): refused, not recorded
    const ghostJti = '11111111-1111-4111-8111-111111111111';
    const ghost = await signWrit({ ...claims, jti: ghostJti }, f.node.identity.privateKey, f.node.identity.kid);
    const before = f.ledger.size();
    const res = await app.inject({ method: 'POST', url: '/v1/outcome', payload: { writ: ghost, status: 'ok', exitCode: 0, durationMs: 1 } });
    assert.ok(res.statusCode === 403 || res.statusCode === 404, `unrecorded writ: ${res.statusCode}`);
    assert.equal(res.json<ErrorBody>().error, 'unknown_writ');
    assert.equal(f.ledger.size(), before);
  });

  it('POST /v1/outcome without a writ or with a bad status is a 400', async () => {
    const before = f.ledger.size();
    for (const payload of [{ status: 'ok', durationMs: 1 }, { writ: 'x.y.z', status: 'great', durationMs: 1 }, { writ: 'x.y.z', status: 'ok', durationMs: -1 }]) {
      const res = await app.inject({ method: 'POST', url: '/v1/outcome', payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json<ErrorBody>().error, 'invalid_request');
    }
    assert.equal(f.ledger.size(), before);
  });
});

describe('HTTP API: admin endpoints', () => {
  let f: Fixture;
  let app: FastifyInstance;
  before(async () => {
    f = await fixture();
    app = await makeApp(f);
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

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
    const v = await app.inject({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/r2.txt' } } });
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
  let f: Fixture;
  let app: FastifyInstance;
  before(async () => {
    f = await fixture();
    app = await makeApp(f);
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

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

describe('HTTP API: adversarial input never allows, never 500s', () => {
  let f: Fixture;
  let app: FastifyInstance;
  before(async () => {
    f = await fixture();
    app = await makeApp(f);
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  const allowBody = { ...READ, args: { path: '/srv/a.txt' } };

  async function expectRefused(
    req: { method: 'POST' | 'GET' | 'PUT' | 'DELETE'; url: string; payload?: string | object | Buffer; headers?: Record<string, string> },
    status: number,
    error: string | null,
  ) {
    const sizeBefore = f.ledger.size();
    const allowsBefore = allowCount(f);
    const res = await app.inject(req);
    assert.equal(res.statusCode, status, `${req.method} ${req.url}: ${res.body.slice(0, 300)}`);
    assert.notEqual(res.statusCode, 500);
    assert.match(String(res.headers['content-type']), /application\/json/);
    const body = res.json<ErrorBody & { writ?: unknown; decision?: unknown }>();
    if (error !== null) assert.equal(body.error, error);
    assert.equal(typeof body.message, 'string');
    assert.equal(body.writ, undefined);
    assert.notEqual(body.decision, 'allow');
    assert.equal(allowCount(f), allowsBefore, 'no allow recorded');
    assert.equal(f.ledger.size(), sizeBefore, 'nothing recorded at all');
    return body;
  }

  const json = { 'content-type': 'application/json' };

  it('malformed JSON is a 400 JSON error', async () => {
    const texts = [`{"principal":"Agent::\\"a1\\"","action":`, '{', 'nul', '{"principal": Agent::"a1"}', `${JSON.stringify(allowBody)}garbage`, ''];
    for (const t of texts) await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: t }, 400, null);
  });

  it('wrong types are a 400 (no coercion)', async () => {
    const bodies: object[] = [
      { ...allowBody, principal: 42 },
      { ...allowBody, principal: ['Agent::"a1"'] },
      { ...allowBody, principal: null },
      { ...allowBody, action: { uid: 'x' } },
      { ...allowBody, args: ['/srv/a.txt'] },
      { ...allowBody, args: 'path=/srv/a.txt' },
      { ...allowBody, context: [] },
      { ...allowBody, ttlSeconds: '60' },
      { ...allowBody, ttlSeconds: 1.5 },
      { ...allowBody, ttlSeconds: 100_000 },
      { ...allowBody, minVersion: 0 },
      { ...allowBody, attestation: { binaryDigest: 'md5:abc' } },
      { ...allowBody, principal: '' },
      { action: allowBody.action, resource: allowBody.resource },
    ];
    for (const b of bodies) {
      const body = await expectRefused({ method: 'POST', url: '/v1/authorize', payload: b }, 400, 'invalid_request');
      assert.ok(body.message.length > 0);
    }
    // a JSON array or scalar at the top level
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: JSON.stringify([allowBody]) }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: '"Agent::\\"a1\\""' }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: 'null' }, 400, null);
  });

  it('unknown extra fields are a 400, not silently dropped', async () => {
    await expectRefused({ method: 'POST', url: '/v1/authorize', payload: { ...allowBody, admin: true } }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/authorize', payload: { ...allowBody, attestation: { binaryDigest: `sha256:${'0'.repeat(64)}`, trusted: true } } }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: 'a.b.c', consume: false, skip: true } }, 400, 'invalid_request');
  });

  it('prototype-poisoning keys are refused', async () => {
    const t = `{"principal":"Agent::\\"a1\\"","action":"Action::\\"tools/call\\"","resource":"Tool::\\"fs/read\\"","args":{"path":"/srv/a","__proto__":{"admin":true}}}`;
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: t }, 400, null);
  });

  it('a body over 64 KiB is a 413 JSON error, even if it would otherwise be allowed', async () => {
    const big = JSON.stringify({ ...allowBody, args: { path: '/srv/a.txt', pad: 'x'.repeat(70 * 1024) } });
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: big }, 413, 'body_too_large');
    await expectRefused({ method: 'POST', url: '/v1/verify', headers: json, payload: JSON.stringify({ writ: 'x'.repeat(70 * 1024) }) }, 413, 'body_too_large');
  });

  it('a wrong content-type is a 415 JSON error', async () => {
    for (const ct of ['application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data', 'application/json-patch+json']) {
      await expectRefused({ method: 'POST', url: '/v1/authorize', headers: { 'content-type': ct }, payload: JSON.stringify(allowBody) }, 415, 'unsupported_media_type');
    }
  });

  it('text/plain (a CORS-simple content type) is a 415 too, not parsed', async () => {
    for (const ct of ['text/plain', 'text/plain; charset=utf-8']) {
      await expectRefused({ method: 'POST', url: '/v1/authorize', headers: { 'content-type': ct }, payload: JSON.stringify(allowBody) }, 415, 'unsupported_media_type');
    }
  });

  it('no route is a 404 JSON error', async () => {
    await expectRefused({ method: 'GET', url: '/v1/authorize' }, 404, 'not_found');
    await expectRefused({ method: 'POST', url: '/v1/authorise', payload: allowBody }, 404, 'not_found');
    await expectRefused({ method: 'POST', url: '/v2/authorize', payload: allowBody }, 404, 'not_found');
    await expectRefused({ method: 'DELETE', url: '/v1/revoke' }, 404, 'not_found');
    await expectRefused({ method: 'GET', url: '/../../etc/passwd' }, 404, 'not_found');
  });

  it('after all that, the node still allows a well-formed request', async () => {
    const r = await authorize(app, allowBody);
    assert.equal(r.status, 200);
  });
});

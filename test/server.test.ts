/** HTTP API of an embedded node (src/server/app.ts), decisions: authorize, verify and outcome, exercised with app.inject (no network). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signWrit } from '../src/writ/issue.ts';
import { fixture } from './helpers.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import { allowCount, AUD, auth, authorize, b64url, leafAt, READ, WRITE, type ErrorBody, app, f, useServerApp } from './server-fixture.ts';

describe('HTTP API: decisions', () => {
  useServerApp();

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
    const v1 = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/v.txt' } } });
    assert.equal(v1.statusCode, 200);
    const b1 = v1.json<{ valid: boolean; claims: WritClaims }>();
    assert.equal(b1.valid, true);
    assert.equal(b1.claims.jti, a.body.claims?.jti);
    const v2 = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/v.txt' } } });
    assert.equal(v2.statusCode, 403);
    assert.deepEqual({ valid: v2.json<{ valid: boolean }>().valid, reason: v2.json<{ reason: string }>().reason }, { valid: false, reason: 'writ_replayed' });
  });

  it('POST /v1/verify with consume:false inspects without consuming', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/c.txt' } });
    for (let i = 0; i < 2; i++) {
      const v = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/c.txt' }, consume: false } });
      assert.equal(v.statusCode, 200);
    }
    const consume = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/c.txt' } } });
    assert.equal(consume.statusCode, 200);
  });

  it('POST /v1/verify with consume:false does not report a spent writ as valid', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/s.txt' } });
    const used = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/s.txt' } } });
    assert.equal(used.statusCode, 200);
    const inspect = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: a.body.writ, args: { path: '/srv/s.txt' }, consume: false } });
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
      const v = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload });
      assert.equal(v.statusCode, 403, JSON.stringify(payload));
      assert.equal(v.json<{ reason: string }>().reason, reason, JSON.stringify(payload));
    }
    // none of the failures consumed it
    const ok = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ, args: { path: '/srv/i.txt' } } });
    assert.equal(ok.statusCode, 200);

    const [h, p, s] = writ.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as WritClaims;
    const widened = `${h}.${b64url({ ...claims, jti: 'other', act: { ...claims.act, resource: 'Tool::"fs/write"' } })}.${s}`;
    const v = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: widened, args: { path: '/srv/i.txt' } } });
    assert.equal(v.statusCode, 403);
    assert.equal(v.json<{ reason: string }>().reason, 'writ_signature_invalid');
    const none = `${b64url({ alg: 'none', typ: 'writ+jwt' })}.${p}.`;
    const vn = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ: none, args: { path: '/srv/i.txt' } } });
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
      const v = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { audience: AUD, writ } });
      assert.equal(v.statusCode, 403, `${writ}: ${v.body}`);
      const body = v.json<{ valid: boolean; reason: string }>();
      assert.equal(body.valid, false, writ);
      assert.match(body.reason, /^writ_/, writ);
    }
  });

  it('POST /v1/outcome records an outcome linked to the jti (201)', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/o.txt' } });
    const jti = a.body.claims?.jti as string;
    const used = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { writ: a.body.writ, audience: AUD, args: { path: '/srv/o.txt' } } });
    const outcomeToken = used.json<{ outcomeToken: string }>().outcomeToken;
    assert.ok(outcomeToken, 'the enforcement point that used the writ gets the token');
    const res = await app.inject({ method: 'POST', url: '/v1/outcome', headers: auth(app), payload: { writ: a.body.writ, outcomeToken, status: 'ok', exitCode: 0, durationMs: 12.4 } });
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
        const res = await app.inject({ method: 'POST', url: '/v1/outcome', headers: auth(app), payload: { writ: w, outcomeToken: 'x', status: 'ok', exitCode: 0, durationMs: 1 } });
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
    const ghostToken = f.state.issueOutcomeToken(ghostJti, claims.exp); // as if an enforcement point had used it
    const res = await app.inject({ method: 'POST', url: '/v1/outcome', headers: auth(app), payload: { writ: ghost, outcomeToken: ghostToken, status: 'ok', exitCode: 0, durationMs: 1 } });
    assert.ok(res.statusCode === 403 || res.statusCode === 404, `unrecorded writ: ${res.statusCode}`);
    assert.equal(res.json<ErrorBody>().error, 'unknown_writ');
    assert.equal(f.ledger.size(), before);
  });

  it('POST /v1/outcome needs the token of the enforcement point that used the writ: the agent holding it cannot report first', async () => {
    const a = await authorize(app, { ...READ, args: { path: '/srv/t.txt' } });
    const jti = a.body.claims?.jti as string;
    const before = f.ledger.size();
    // the agent, before the enforcement point ran anything, and with a made-up token
    for (const outcomeToken of ['made-up', 'x'.repeat(32)]) {
      const early = await app.inject({ method: 'POST', url: '/v1/outcome', headers: auth(app), payload: { writ: a.body.writ, outcomeToken, status: 'ok', resultDigest: 'forged', durationMs: 1 } });
      assert.equal(early.statusCode, 403);
      assert.equal(early.json<ErrorBody>().error, 'outcome_token_invalid');
    }
    assert.equal(f.ledger.size(), before, 'nothing recorded');
    // a look without consuming gives no token
    const look = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { writ: a.body.writ, audience: AUD, args: { path: '/srv/t.txt' }, consume: false } });
    assert.equal(look.json<{ outcomeToken?: string }>().outcomeToken, undefined);
    const used = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { writ: a.body.writ, audience: AUD, args: { path: '/srv/t.txt' } } });
    const { outcomeToken } = used.json<{ outcomeToken: string }>();
    const real = await app.inject({ method: 'POST', url: '/v1/outcome', headers: auth(app), payload: { writ: a.body.writ, outcomeToken, status: 'failed', exitCode: 2, durationMs: 5 } });
    assert.equal(real.statusCode, 201);
    assert.equal(f.ledger.findByJti(jti, 'outcome').length, 1);
  });

  it('POST /v1/outcome without a writ or with a bad status is a 400', async () => {
    const before = f.ledger.size();
    for (const payload of [{ status: 'ok', durationMs: 1 }, { writ: 'x.y.z', status: 'great', durationMs: 1 }, { writ: 'x.y.z', status: 'ok', durationMs: -1 }]) {
      const res = await app.inject({ method: 'POST', url: '/v1/outcome', headers: auth(app), payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json<ErrorBody>().error, 'invalid_request');
    }
    assert.equal(f.ledger.size(), before);
  });
});

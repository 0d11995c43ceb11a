/**
 * Adversarial, over HTTP against an embedded node listening on a real port: an executor that
 * verifies writs itself (writ/verify) with the node's signed revocation list, and reports
 * outcomes without an outcomeToken.
 *   - GET /v1/revocations: 200 application/jwt, ETag = the embedded one, verifies with the
 *     node's JWKS; If-None-Match → 304; after POST /v1/revoke the list moves (higher seq, the
 *     entry) and the old ETag gets 200; concurrent polls after a revocation all see it;
 *   - RevocationListPoller: a writ verifies offline, is revoked at the node, and after one
 *     refresh the same check says writ_revoked;
 *   - POST /v1/outcome without outcomeToken: only a verify caller whose audiences cover the
 *     writ's aud (exact or a matching prefix) → 201, reportedBy in leaf and body, the writ
 *     marked used (a second report 409 writ_already_used, online consume writ_replayed); a
 *     writ consumed online first → 409, its token report still 201 without reportedBy; no or
 *     other audiences (a prefix that does not match) → 403 outcome_token_required, nothing
 *     recorded, the writ not burnt; an agent's token → 403 caller_not_permitted; a forged
 *     writ → 403 writ_*, nothing recorded.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { CompactSign } from 'jose';
import { CallerStore } from '../../src/node/callers.ts';
import { buildApp } from '../../src/server/app.ts';
import { memoryJtiStore, reportOutcome, RevocationListPoller, verifyRevocationList, verifyWrit, WritVerificationError, type VerifyWritOptions } from '../../src/writ/verify.ts';
import { fixture, type Fixture } from '../helpers.ts';
import { AUD, auth, makeApp, READ } from '../server-fixture.ts';

interface OutcomeLeaf {
  type: string;
  jti?: string;
  status?: string;
  durationMs?: number;
  reportedBy?: string;
  result?: { reasons: string[] };
}

interface Answer {
  error?: string;
  message?: string;
  reason?: string;
  valid?: boolean;
  outcomeToken?: string;
  decision?: string;
  writ?: string;
  claims?: { jti: string; aud: string };
  reportedBy?: string;
  ledgerIndex?: number;
  recorded?: boolean;
  jti?: string;
}

describe('adversarial: an executor that verifies offline, against an embedded node over HTTP', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let base: string;
  const tokens: Record<'executor' | 'noAud' | 'otherAud' | 'prefix' | 'agent', string> = { executor: '', noAud: '', otherAud: '', prefix: '', agent: '' };

  before(async () => {
    f = await fixture();
    app = await makeApp(f);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    const store = new CallerStore(f.db);
    tokens.executor = store.add('executor-1', { roles: ['verify'], principals: [], audiences: [AUD] }).token;
    tokens.noAud = store.add('ep-no-audiences', { roles: ['verify'], principals: [] }).token;
    // another exact audience, a prefix of another tool, and an exact string that is only a prefix of AUD (no `*`)
    tokens.otherAud = store.add('ep-other', { roles: ['verify'], principals: [], audiences: ['Tool::"fs/write"', 'Tool::"db/*', 'Tool::"fs/rea'] }).token;
    tokens.prefix = store.add('ep-prefix', { roles: ['verify'], principals: [], audiences: ['Tool::"fs/*'] }).token;
    tokens.agent = store.add('agent-a1', { roles: ['authorize'], principals: ['Agent::"a1"'] }).token;
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  async function post(path: string, body: unknown, authorization: string | undefined = auth(app).authorization): Promise<{ status: number; body: Answer }> {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization !== undefined && { authorization }) }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Answer };
  }
  const bearer = (t: string) => `Bearer ${t}`;
  const getList = (headers: Record<string, string> = {}) => fetch(`${base}/v1/revocations`, { headers });
  const leafAt = (i: number): OutcomeLeaf => {
    const e = f.ledger.entry(i);
    assert.ok(e, `ledger entry ${i}`);
    return JSON.parse(new TextDecoder().decode(e.leaf)) as OutcomeLeaf;
  };
  const lastLeaf = () => leafAt(f.ledger.size() - 1);
  const outcomesOf = (jti: string) => f.ledger.entries(0, 100_000).map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as OutcomeLeaf).filter((l) => l.type === 'outcome' && l.jti === jti);

  let n = 0;
  async function issue(principal: string = READ.principal): Promise<{ writ: string; jti: string; args: { path: string } }> {
    const args = { path: `/srv/offline-${n++}.txt` };
    const r = await post('/v1/authorize', { ...READ, principal, args });
    assert.equal(r.body.decision, 'allow', r.body.message);
    assert.ok(r.body.writ && r.body.claims);
    assert.equal(r.body.claims.aud, AUD);
    return { writ: r.body.writ, jti: r.body.claims.jti, args };
  }
  const selfReport = (writ: string, token: string) => post('/v1/outcome', { writ, status: 'ok', durationMs: 12 }, bearer(token));
  const consumeOnline = (writ: string, args: object) => post('/v1/verify', { writ, audience: AUD, args, consume: true });
  const revokeAtNode = async (kind: string, value: string) => {
    const r = await post('/v1/revoke', { kind, value, reason: 'test' }, bearer(f.adminToken));
    assert.equal(r.status, 201, r.body.message);
  };
  const offline = (o: Partial<VerifyWritOptions> & Pick<VerifyWritOptions, 'args'>): VerifyWritOptions => ({ keys: f.jwks, audience: AUD, consume: memoryJtiStore(), ...o });

  async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof WritVerificationError, String(e));
      assert.equal(e.code, code, e.message);
      return true;
    });
  }

  it('GET /v1/revocations: 200 application/jwt, the embedded ETag, verifies with the node JWKS; If-None-Match → 304', async () => {
    const res = await getList();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/jwt/);
    const jws = await res.text();
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as typeof f.jwks;
    const list = await verifyRevocationList(jws, { keys: jwks, issuer: f.config.nodeId });
    assert.equal(res.headers.get('etag'), list.etag);
    assert.equal(list.etag, `"rl-${list.claims.seq}-${list.claims.iat}"`);
    assert.equal(list.claims.iss, f.config.nodeId);
    // the node's key is bound to the node: the list is not verifiable as another issuer's
    await assert.rejects(verifyRevocationList(jws, { keys: jwks, issuer: 'authority:fleet' }), WritVerificationError);
    const again = await getList({ 'if-none-match': list.etag });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    assert.equal(again.headers.get('etag'), list.etag);
    // an ETag among others is matched; a different one is not
    assert.equal((await getList({ 'if-none-match': `"rl-0-1", ${list.etag}` })).status, 304);
    assert.equal((await getList({ 'if-none-match': '"rl-999-1"' })).status, 200);
    // RFC 9110: If-None-Match compares weakly, and `*` matches any current list
    assert.equal((await getList({ 'if-none-match': `W/${list.etag}` })).status, 304);
    assert.equal((await getList({ 'if-none-match': '*' })).status, 304);
    assert.equal((await getList({ 'if-none-match': 'W/"rl-999-1"' })).status, 200);
  });

  it('after POST /v1/revoke the list has a higher seq and the entry; the old ETag gets 200', async () => {
    const before = await verifyRevocationList(await (await getList()).text(), { keys: f.jwks });
    const { jti } = await issue();
    await revokeAtNode('writ', jti);
    const res = await getList({ 'if-none-match': before.etag });
    assert.equal(res.status, 200, 'the old ETag no longer matches');
    const now = await verifyRevocationList(await res.text(), { keys: f.jwks, issuer: f.config.nodeId });
    assert.ok(now.claims.seq > before.claims.seq, `seq ${now.claims.seq} after ${before.claims.seq}`);
    assert.equal(now.has('writ', jti), true);
    assert.equal(before.has('writ', jti), false);
    assert.notEqual(res.headers.get('etag'), before.etag);
    assert.equal(res.headers.get('etag'), now.etag);
  });

  it('polls that arrive together right after a revocation all get the list that holds it, never a 304 on the old ETag', async () => {
    const held = await verifyRevocationList(await (await getList()).text(), { keys: f.jwks });
    const { jti } = await issue();
    await revokeAtNode('writ', jti);
    const polls = await Promise.all(Array.from({ length: 8 }, () => getList({ 'if-none-match': held.etag })));
    const statuses = polls.map((r) => r.status);
    assert.deepEqual(statuses, Array<number>(8).fill(200), `statuses ${statuses.join(',')}: a 304 tells a poller its list is current though ${jti} was revoked`);
    for (const r of polls) assert.equal((await verifyRevocationList(await r.text(), { keys: f.jwks })).has('writ', jti), true);
  });

  it('a RevocationListPoller: verifies a writ offline, the writ is revoked at the node, after refresh() the same check is writ_revoked', async () => {
    const poller = new RevocationListPoller({ url: `${base}/v1/revocations`, keys: f.jwks, issuer: f.config.nodeId });
    const none = offline({ args: {}, revocationList: poller.current });
    await rejectsWith(verifyWrit('x.y.z', none), 'stale_policy');
    const first = await poller.refresh();
    assert.equal(await poller.refresh(), first, 'unchanged: answered 304, the held list kept');
    const a = await issue();
    const b = await issue('Agent::"q1"');
    const va = await verifyWrit(a.writ, offline({ args: a.args, revocationList: poller.current, consume: false }));
    assert.equal(va.claims.jti, a.jti);
    await revokeAtNode('writ', a.jti);
    // not yet polled: the executor cannot know (the window the list's short lifetime bounds)
    await verifyWrit(a.writ, offline({ args: a.args, revocationList: poller.current, consume: false }));
    const second = await poller.refresh();
    assert.ok(second.claims.seq > first.claims.seq);
    await rejectsWith(verifyWrit(a.writ, offline({ args: a.args, revocationList: poller.current })), 'writ_revoked');
    // another writ is unaffected; then its principal is quarantined at the node
    await verifyWrit(b.writ, offline({ args: b.args, revocationList: poller.current, consume: false }));
    // spelled otherwise at the node: the list carries the canonical text the writ's sub has
    await revokeAtNode('quarantine', '  Agent::"q1" ');
    await poller.refresh();
    await rejectsWith(verifyWrit(b.writ, offline({ args: b.args, revocationList: poller.current })), 'writ_revoked');
    const rollback = await poller.offer(first.jws).then(
      () => 'accepted',
      (e: unknown) => String(e),
    );
    assert.match(rollback, /older/, 'the first list, replayed, is refused');
    assert.ok(poller.current()?.has('quarantine', 'Agent::"q1"'), 'the held list is kept');
  });

  it('a node that cannot sign its list answers 503 stale_policy; the poller keeps its held list, which then expires on its own', async () => {
    const broken = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, revocationList: () => Promise.reject(new Error('beacon expired')) });
    try {
      const brokenBase = await broken.listen({ port: 0, host: '127.0.0.1' });
      const r = await fetch(`${brokenBase}/v1/revocations`);
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.equal(((await r.json()) as Answer).error, 'stale_policy');
      const good = new RevocationListPoller({ url: `${base}/v1/revocations`, keys: f.jwks });
      const held = await good.refresh();
      const poller = new RevocationListPoller({ url: `${brokenBase}/v1/revocations`, keys: f.jwks });
      await assert.rejects(poller.refresh(), /HTTP 503/);
      assert.equal(poller.current(), null);
      await poller.offer(held.jws);
      await assert.rejects(poller.refresh(), /HTTP 503/);
      assert.equal(poller.current()?.jws, held.jws, 'the held list stays');
      const w = await issue();
      await verifyWrit(w.writ, offline({ args: w.args, revocationList: poller.current, consume: false }));
      await rejectsWith(verifyWrit(w.writ, offline({ args: w.args, revocationList: poller.current, now: new Date((held.claims.exp + 10) * 1000) })), 'stale_policy');
    } finally {
      await broken.close();
    }
  });

  it('self-verified outcome: offline verify, reportOutcome → 201 with reportedBy; again → 409 writ_already_used; online consume → writ_replayed', async () => {
    const poller = new RevocationListPoller({ url: `${base}/v1/revocations`, keys: f.jwks, issuer: f.config.nodeId });
    await poller.refresh();
    const { writ, jti, args } = await issue();
    await verifyWrit(writ, offline({ args, revocationList: poller.current }));
    const size = f.ledger.size();
    const r = await reportOutcome({ url: base, token: tokens.executor, writ, status: 'ok', durationMs: 34, exitCode: 0 });
    assert.equal(r.jti, jti);
    assert.equal(f.ledger.size(), size + 1);
    assert.equal(r.ledgerIndex, size);
    const leaf = lastLeaf();
    assert.equal(leaf.type, 'outcome');
    assert.equal(leaf.jti, jti);
    assert.equal(leaf.status, 'ok');
    assert.equal(leaf.durationMs, 34);
    assert.equal(leaf.reportedBy, 'executor-1');
    const again = await selfReport(writ, tokens.executor);
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'writ_already_used');
    await assert.rejects(reportOutcome({ url: base, token: tokens.executor, writ, status: 'ok', durationMs: 1 }), (e: Error & { code?: string }) => e.code === 'writ_already_used');
    assert.equal(f.ledger.size(), size + 1, 'nothing more recorded');
    const online = await consumeOnline(writ, args);
    assert.equal(online.status, 403);
    assert.equal(online.body.reason, 'writ_replayed');
    assert.equal(online.body.outcomeToken, undefined);
    assert.equal(outcomesOf(jti).length, 1);
  });

  it('the 201 body of a self-report names the caller; a prefix audience that matches may report', async () => {
    const w = await issue();
    const r = await selfReport(w.writ, tokens.prefix);
    assert.equal(r.status, 201, r.body.message);
    assert.equal(r.body.reportedBy, 'ep-prefix');
    assert.equal(r.body.jti, w.jti);
    assert.equal(leafAt(r.body.ledgerIndex as number).reportedBy, 'ep-prefix');
    assert.equal((await consumeOnline(w.writ, w.args)).body.reason, 'writ_replayed');
  });

  it('a writ consumed online first: self-report 409 writ_already_used; the token report still 201, without reportedBy', async () => {
    const w = await issue();
    const used = await consumeOnline(w.writ, w.args);
    assert.equal(used.status, 200, used.body.message);
    assert.ok(used.body.outcomeToken);
    const size = f.ledger.size();
    const self = await selfReport(w.writ, tokens.executor);
    assert.equal(self.status, 409);
    assert.equal(self.body.error, 'writ_already_used');
    assert.equal(f.ledger.size(), size);
    const withToken = await post('/v1/outcome', { writ: w.writ, outcomeToken: used.body.outcomeToken, status: 'failed', durationMs: 5, exitCode: 1 }, bearer(tokens.executor));
    assert.equal(withToken.status, 201, withToken.body.message);
    assert.equal(withToken.body.reportedBy, undefined);
    const leaf = lastLeaf();
    assert.equal(leaf.type, 'outcome');
    assert.equal(leaf.jti, w.jti);
    assert.equal(leaf.status, 'failed');
    assert.equal(leaf.reportedBy, undefined);
    assert.equal('reportedBy' in leaf, false);
  });

  it('a verify caller without audiences, or with others (a prefix that does not match): 403 outcome_token_required, nothing recorded, the writ not burnt', async () => {
    const w = await issue();
    for (const t of [tokens.noAud, tokens.otherAud]) {
      const size = f.ledger.size();
      const r = await selfReport(w.writ, t);
      assert.equal(r.status, 403);
      assert.equal(r.body.error, 'outcome_token_required');
      assert.equal(f.ledger.size(), size, 'nothing recorded');
    }
    assert.equal(outcomesOf(w.jti).length, 0);
    await assert.rejects(reportOutcome({ url: base, token: tokens.noAud, writ: w.writ, status: 'ok', durationMs: 1 }), (e: Error & { code?: string }) => e.code === 'outcome_token_required');
    // the refusals did not mark it used: the writ's own executor still can
    const ok = await selfReport(w.writ, tokens.executor);
    assert.equal(ok.status, 201, ok.body.message);
  });

  it("an agent's authorize-only token: 403 caller_not_permitted, no outcome; the writ still usable", async () => {
    const w = await issue();
    const r = await selfReport(w.writ, tokens.agent);
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'caller_not_permitted');
    assert.equal(outcomesOf(w.jti).length, 0);
    assert.deepEqual(lastLeaf().result?.reasons, ['caller_not_permitted'], 'the refusal is recorded as such');
    const online = await consumeOnline(w.writ, w.args);
    assert.equal(online.status, 200, online.body.message);
  });

  it('a forged or altered writ: 403 with a writ_* reason, nothing recorded', async () => {
    const w = await issue();
    const [h, p, s] = w.writ.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    const altered = `${h}.${Buffer.from(JSON.stringify({ ...claims, aud: 'Tool::"fs/read"', act: { ...(claims.act as object), resource: 'Tool::"fs/write"' } })).toString('base64url')}.${s}`;
    const other = generateKeyPairSync('ed25519').privateKey;
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
    const foreign = await new CompactSign(Buffer.from(p, 'base64url')).setProtectedHeader({ alg: 'Ed25519', typ: header.typ as string, kid: 'attacker' }).sign(other);
    const sameKid = await new CompactSign(Buffer.from(p, 'base64url')).setProtectedHeader({ alg: 'Ed25519', typ: header.typ as string, kid: header.kid as string }).sign(other);
    const cases: [string, string][] = [
      [altered, 'writ_signature_invalid'],
      [sameKid, 'writ_signature_invalid'],
      [foreign, 'writ_unknown_key'],
      [`${h}.${p}.${s.slice(0, -4)}AAAA`, 'writ_signature_invalid'],
    ];
    for (const [writ, code] of cases) {
      const size = f.ledger.size();
      const r = await selfReport(writ, tokens.executor);
      assert.equal(r.status, 403, code);
      assert.equal(r.body.error, code, r.body.message);
      assert.equal(f.ledger.size(), size, `${code}: nothing recorded`);
    }
    const size = f.ledger.size();
    const garbage = await selfReport('not-a-writ', tokens.executor);
    assert.equal(garbage.status, 403);
    assert.match(garbage.body.error ?? '', /^writ_/);
    assert.equal(f.ledger.size(), size);
    assert.equal(outcomesOf(w.jti).length, 0);
    // the genuine one is still unused
    assert.equal((await selfReport(w.writ, tokens.executor)).status, 201);
  });
});

/**
 * Issue 12, point 1: the HTTP forward-auth enforcement point, over real HTTP, called as each
 * gateway calls it — nginx auth_request (X-Original-Method / X-Original-URI, no body), Traefik
 * ForwardAuth and Caddy forward_auth (X-Forwarded-Method / -Uri / -Host), Envoy's ext_authz
 * HTTP service (original method, path_prefix + path, the body with with_request_body). An
 * allow is 200 with a writ in x-writ that binds exactly the method, path, query and body
 * digest (checked with writ/verify); a deny is 403 with the reasons and the decision id; a
 * failure of the ledger is a 5xx; each is in the ledger.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bodyDigest, httpArgs, WRIT_HEADER, type HttpFacts } from '../src/writ/http-request.ts';
import { WritVerificationError } from '../src/writ/verify.ts';
import { API_KEY, call, denialOf, lastLeaf, rawCall, startGate, token, verifyAsUpstream, type GateHarness } from './forward-auth-fixture.ts';

describe('HTTP gate: forward-auth (nginx, Traefik, Caddy) and Envoy ext_authz HTTP', () => {
  let g: GateHarness;
  before(async () => {
    g = await startGate();
  });
  after(async () => {
    await g.close();
  });

  const forwardAuth = (headers: Record<string, string>) => call(`${g.url}/v1/gate/http/forward-auth`, { method: 'GET', headers });

  it('nginx auth_request: an allowed request gets 200 and a writ binding its exact method, path, query and no body; recorded as an allow', async () => {
    const size = g.f.ledger.size();
    const r = await forwardAuth({ 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices?id=7&sort=asc', 'x-forwarded-host': 'api.example.com', authorization: `Bearer ${await token(g.idp)}`, 'x-request-id': 'req-1' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const writ = r.headers.get(WRIT_HEADER);
    assert.ok(writ, 'the writ is in the x-writ response header');
    // headers only: nginx closes an auth_request connection whose answer has a body
    assert.deepEqual(r.body, {});
    assert.equal(r.headers.get('content-length'), '0');
    const decisionId = r.headers.get('x-writ-decision-id');
    const facts: HttpFacts = { method: 'GET', host: 'api.example.com', path: '/billing/invoices', query: 'id=7&sort=asc', bodyDigest: null };
    const { claims } = await verifyAsUpstream(g.f, writ, 'billing-svc', facts);
    assert.equal(claims.sub, 'User::"alice"');
    assert.deepEqual(claims.act, { action: 'Action::"http:GET"', resource: 'Route::"billing"' });
    assert.equal(claims.aud, 'billing-svc');
    // the binding is exact: another path, query, method or a body does not verify
    for (const other of [{ ...facts, path: '/billing/invoices/8' }, { ...facts, query: 'id=8&sort=asc' }, { ...facts, query: 'sort=asc&id=7' }, { ...facts, bodyDigest: await bodyDigest(new Uint8Array([1])) }]) {
      await assert.rejects(verifyAsUpstream(g.f, writ, 'billing-svc', other), (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_intent_mismatch');
    }
    await assert.rejects(verifyAsUpstream(g.f, writ, 'ping-svc', facts), (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_audience_mismatch');
    assert.equal(g.f.ledger.size(), size + 1);
    const leaf = lastLeaf(g.f);
    assert.equal(leaf.id, decisionId);
    assert.equal(r.headers.get('x-writ-ledger-index'), String(size));
    assert.equal(leaf.result.decision, 'allow');
    assert.deepEqual(leaf.request.args, httpArgs(facts));
    assert.equal(leaf.writ?.aud, 'billing-svc');
    // the request facts, the allow-listed header and the verified claims were what Cedar saw
    const ctx = leaf.input?.context as { http: Record<string, unknown>; credential: { kind: string; issuer: string; claims: Record<string, unknown> } };
    assert.deepEqual(ctx.http, { method: 'GET', host: 'api.example.com', path: '/billing/invoices', query: 'id=7&sort=asc', route: 'billing', headers: { 'x-request-id': 'req-1' } });
    assert.equal(ctx.credential.kind, 'jwt');
    assert.deepEqual(ctx.credential.claims.groups, ['billing']);
  });

  it('Traefik / Caddy (X-Forwarded-*): an API key for Service::"ci" may POST; the writ binds the method', async () => {
    const r = await forwardAuth({ 'x-forwarded-method': 'POST', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/billing/runs', 'x-api-key': API_KEY });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const writ = r.headers.get(WRIT_HEADER) ?? '';
    const facts: HttpFacts = { method: 'POST', host: 'api.example.com', path: '/billing/runs', query: '', bodyDigest: null };
    const { claims } = await verifyAsUpstream(g.f, writ, 'billing-svc', facts);
    assert.equal(claims.sub, 'Service::"ci"');
    await assert.rejects(verifyAsUpstream(g.f, writ, 'billing-svc', { ...facts, method: 'PUT' }), (e: unknown) => e instanceof WritVerificationError);
  });

  it('the verified claims are principal attributes: a policy on principal.email and a custom claim decides; recorded in input.principalEntity', async () => {
    const get = async (o: { email: string; level: number }) =>
      forwardAuth({ 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices', 'x-forwarded-host': 'api.example.com', authorization: `Bearer ${await token(g.idp, { groups: ['sales'], email: o.email, claims: { level: o.level } })}` });
    const yes = await get({ email: 'auditor@example.com', level: 2 });
    assert.equal(yes.status, 200, JSON.stringify(yes.body));
    const leaf = lastLeaf(g.f) as unknown as { v: number; input: { principalEntity: { attrs: Record<string, unknown>; parents: unknown[] } }; result: { policies: string[] } };
    assert.deepEqual(leaf.result.policies, ['billing-read-auditor']);
    assert.equal(leaf.v, 2);
    assert.equal(leaf.input.principalEntity.attrs.email, 'auditor@example.com');
    assert.equal(leaf.input.principalEntity.attrs.level, 2);
    assert.deepEqual(leaf.input.principalEntity.parents, []);
    assert.equal((await get({ email: 'auditor@example.com', level: 1 })).status, 403, 'the custom claim decides');
    assert.equal((await get({ email: 'alice@example.com', level: 5 })).status, 403, 'the email decides');
    // an API key's configured attributes are its principal's: billing-write reads principal.team
    await forwardAuth({ 'x-forwarded-method': 'POST', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/billing/runs', 'x-api-key': API_KEY });
    const keyLeaf = lastLeaf(g.f) as unknown as { input: { principalEntity: { attrs: Record<string, unknown> } }; result: { decision: string } };
    assert.equal(keyLeaf.result.decision, 'allow');
    assert.deepEqual(keyLeaf.input.principalEntity.attrs, { team: 'release' });
  });

  it('a policy deny is 403 with the reasons and the decision id, no writ, recorded', async () => {
    const size = g.f.ledger.size();
    const r = await forwardAuth({ 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices', 'x-forwarded-host': 'api.example.com', authorization: `Bearer ${await token(g.idp, { groups: ['sales'] })}` });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get(WRIT_HEADER), null);
    // nginx (X-Original-*): headers only, since nginx never reads the body and drops the connection of an answer with one
    assert.deepEqual(r.body, {});
    assert.deepEqual(denialOf(r).reasons, ['no_permit']);
    assert.equal(g.f.ledger.size(), size + 1);
    assert.equal(lastLeaf(g.f).id, denialOf(r).decisionId);
    assert.equal(denialOf(r).ledgerIndex, size);
    assert.deepEqual(lastLeaf(g.f).result, { decision: 'deny', reasons: ['no_permit'], policies: [], errors: [] });
    // a forbid on the query overrides the permit
    const f2 = await forwardAuth({ 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices?debug=1', 'x-forwarded-host': 'api.example.com', authorization: `Bearer ${await token(g.idp)}` });
    assert.equal(f2.status, 403);
    assert.deepEqual(denialOf(f2).reasons, ['policy_forbid']);
  });

  it('a denial asked with Traefik / Caddy headers (X-Forwarded-*) carries the JSON body they pass on to the client, with the same facts as the headers', async () => {
    const size = g.f.ledger.size();
    const r = await forwardAuth({ 'x-forwarded-method': 'GET', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/billing/invoices', authorization: `Bearer ${await token(g.idp, { groups: ['sales'] })}` });
    assert.equal(r.status, 403);
    assert.equal(r.body.decision, 'deny');
    assert.deepEqual(r.body.reasons, ['no_permit']);
    assert.match(r.body.message ?? '', /./);
    assert.deepEqual({ reasons: r.body.reasons, decisionId: r.body.decisionId, ledgerIndex: r.body.ledgerIndex }, denialOf(r));
    assert.equal(r.body.ledgerIndex, size);
  });

  it('a request no route covers is 403 http_route_unknown (another host, another path, a method the route does not list)', async () => {
    const jwt = await token(g.idp);
    for (const [host, method, uri] of [['evil.example.com', 'GET', '/billing/x'], ['api.example.com', 'GET', '/admin'], ['api.example.com', 'DELETE', '/ping']] as const) {
      const r = await forwardAuth({ 'x-original-method': method, 'x-original-uri': uri, 'x-forwarded-host': host, authorization: `Bearer ${jwt}` });
      assert.equal(r.status, 403, `${method} ${host}${uri}`);
      assert.deepEqual(denialOf(r).reasons, ['http_route_unknown']);
      assert.equal(lastLeaf(g.f).request.resource, 'Route::"*unmatched*"');
    }
  });

  it('a subrequest without the original method or URI is 400 request_invalid (recorded); nginx and Traefik headers that disagree too', async () => {
    const jwt = await token(g.idp);
    const cases: Record<string, string>[] = [{ 'x-original-uri': '/ping' }, { 'x-original-method': 'GET' }, { 'x-original-method': 'GET', 'x-forwarded-method': 'POST', 'x-original-uri': '/ping' }];
    for (const headers of cases) {
      const size = g.f.ledger.size();
      const r = await forwardAuth({ ...headers, authorization: `Bearer ${jwt}` });
      assert.equal(r.status, 400, JSON.stringify(headers));
      assert.deepEqual(denialOf(r).reasons, ['request_invalid']);
      assert.equal(r.headers.get(WRIT_HEADER), null);
      assert.equal(g.f.ledger.size(), size + 1);
    }
  });

  it('Envoy HTTP service: method and path_prefix + path as sent, the body bound by its digest when Envoy sent all of it', async () => {
    const body = new TextEncoder().encode('{"amount": 12.50, "to": "acme"}');
    const envoy = (partial: string | null) =>
      rawCall(`${g.url}/v1/gate/http/ext-authz/billing/runs?dry=0`, {
        method: 'POST',
        headers: { host: 'api.example.com', 'content-type': 'application/json', 'x-api-key': API_KEY, ...(partial !== null && { 'x-envoy-auth-partial-body': partial }) },
        body,
      });
    const whole = await envoy('false');
    assert.equal(whole.status, 200, JSON.stringify(whole.body));
    const facts: HttpFacts = { method: 'POST', host: 'api.example.com', path: '/billing/runs', query: 'dry=0', bodyDigest: await bodyDigest(body) };
    const writ = whole.headers.get(WRIT_HEADER) ?? '';
    await verifyAsUpstream(g.f, writ, 'billing-svc', facts);
    assert.equal((lastLeaf(g.f).input?.context as { http: { bodyDigest: string } }).http.bodyDigest, facts.bodyDigest);
    // the same writ for another body does not verify
    await assert.rejects(verifyAsUpstream(g.f, writ, 'billing-svc', { ...facts, bodyDigest: await bodyDigest(new TextEncoder().encode('{"amount": 9999, "to": "acme"}')) }), (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_intent_mismatch');
    // a partial body, or none forwarded: the writ says the body is unknown (null), never a prefix's digest
    for (const partial of ['true', null]) {
      const r = await envoy(partial);
      assert.equal(r.status, 200);
      await verifyAsUpstream(g.f, r.headers.get(WRIT_HEADER) ?? '', 'billing-svc', { ...facts, bodyDigest: null });
    }
  });

  it('Envoy HTTP service: a GET for "/" and a HEAD reach the route table; a deny is 403 with the reasons', async () => {
    const jwt = await token(g.idp);
    const ping = await rawCall(`${g.url}/v1/gate/http/ext-authz/ping`, { method: 'GET', headers: { host: 'svc.internal', authorization: `Bearer ${jwt}` } });
    assert.equal(ping.status, 200);
    assert.equal((lastLeaf(g.f).input?.context as { http: { host: string } }).http.host, 'svc.internal');
    const head = await rawCall(`${g.url}/v1/gate/http/ext-authz/ping`, { method: 'HEAD', headers: { host: 'svc.internal', authorization: `Bearer ${jwt}` } });
    assert.equal(head.status, 200);
    assert.ok(head.headers.get(WRIT_HEADER));
    const root = await rawCall(`${g.url}/v1/gate/http/ext-authz/`, { method: 'GET', headers: { host: 'svc.internal', authorization: `Bearer ${jwt}` } });
    assert.equal(root.status, 403);
    assert.deepEqual(root.body.reasons, ['http_route_unknown']);
    assert.equal(lastLeaf(g.f).request.action, 'Action::"http:GET"');
  });

  it('the ledger failing is a 503 with no writ (gateways deny on it); the node recovers after', async () => {
    const jwt = await token(g.idp);
    const headers = { 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices', 'x-forwarded-host': 'api.example.com', authorization: `Bearer ${jwt}` };
    const size = g.f.ledger.size();
    g.f.ledger.failNextAppends = 1;
    const r = await forwardAuth(headers);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get(WRIT_HEADER), null);
    assert.ok(denialOf(r).reasons.includes('ledger_append_failed'));
    assert.equal(g.f.ledger.size(), size, 'nothing recorded: no evidence, no writ');
    const ok = await forwardAuth(headers);
    assert.equal(ok.status, 200);
  });

  it('an unexpected error in the gate is a 500, never an allow', async () => {
    const decide = g.gate.decide.bind(g.gate);
    g.gate.decide = () => Promise.reject(new Error('boom'));
    try {
      const r = await forwardAuth({ 'x-original-method': 'GET', 'x-original-uri': '/ping', authorization: `Bearer ${await token(g.idp)}` });
      assert.equal(r.status, 500);
      assert.equal(r.headers.get(WRIT_HEADER), null);
    } finally {
      g.gate.decide = decide;
    }
  });
});

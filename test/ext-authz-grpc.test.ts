/**
 * Issue 12, point 1: Envoy's ext_authz gRPC service (envoy.service.auth.v3.Authorization/Check)
 * and `writ up --gate`. The client is grpc-js built from the same vendored official protos,
 * sending a CheckRequest shaped as Envoy fills it (source/destination peers, request.time,
 * request.http with pseudo-headers in `headers`, the query inside `path`, the body as
 * `raw_body` with pack_as_bytes and the x-envoy-auth-partial-body mark). An allow is status OK
 * with the writ in OkHttpResponse.headers; a deny a DeniedHttpResponse with 403 (401 with
 * WWW-Authenticate); a failure a DeniedHttpResponse with a 5xx, never a gRPC error Envoy
 * could fail open on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadExtAuthzPackage, startExtAuthzGrpc, type ExtAuthzServer } from '../src/server/ext-authz-grpc.ts';
import { bodyDigest, WRIT_HEADER, type HttpFacts } from '../src/writ/http-request.ts';
import { ok, scratchDir, writ } from './cli-fixture.ts';
import { API_KEY, call, gateConfigFile, HTTP_POLICY, lastLeaf, startGate, startIssuer, token, verifyAsUpstream, type GateHarness, type Issuer } from './forward-auth-fixture.ts';
import { CLI, policyFolder } from './helpers.ts';

interface HeaderValueOption {
  header: { key: string; value: string };
  append_action?: string;
}
interface CheckResponse {
  status: { code: number; message?: string };
  http_response?: 'ok_response' | 'denied_response';
  ok_response?: { headers?: HeaderValueOption[] };
  denied_response?: { status: { code: string }; headers?: HeaderValueOption[]; body?: string };
}
type AuthorizationClient = grpc.Client & { Check(req: object, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void): void };

function client(port: number): AuthorizationClient {
  const pkg = loadExtAuthzPackage() as unknown as { envoy: { service: { auth: { v3: { Authorization: new (addr: string, creds: grpc.ChannelCredentials) => AuthorizationClient } } } } };
  return new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

function check(c: AuthorizationClient, req: object): Promise<CheckResponse> {
  return new Promise((resolve, reject) => c.Check(req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** A CheckRequest as Envoy's ext_authz filter builds it for a request to api.example.com. */
function envoyCheck(o: { method: string; path: string; headers: Record<string, string>; body?: Uint8Array; partial?: boolean }): object {
  const seconds = String(Math.floor(Date.now() / 1000));
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 52144 } } },
      destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
      request: {
        time: { seconds, nanos: 0 },
        http: {
          id: '1f3c7a9e-0000-4000-8000-000000000001',
          method: o.method,
          headers: { ':authority': 'api.example.com', ':method': o.method, ':path': o.path, ':scheme': 'https', 'x-request-id': 'req-9', ...(o.partial !== undefined && { 'x-envoy-auth-partial-body': String(o.partial) }), ...o.headers },
          path: o.path,
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/1.1',
          size: String(o.body?.length ?? 0),
          ...(o.body && { raw_body: Buffer.from(o.body) }),
        },
      },
      metadata_context: {},
    },
  };
}

const headerOf = (hs: HeaderValueOption[] | undefined, key: string) => hs?.find((h) => h.header.key === key)?.header.value;

describe('HTTP gate: Envoy ext_authz gRPC', () => {
  let g: GateHarness;
  let server: ExtAuthzServer;
  let c: AuthorizationClient;
  before(async () => {
    g = await startGate();
    server = await startExtAuthzGrpc(g.gate, { host: '127.0.0.1', port: 0 });
    c = client(server.port);
  });
  after(async () => {
    c.close();
    await server.close();
    await g.close();
  });

  it('an allowed Check is status OK with the writ in OkHttpResponse.headers (overwriting), bound to the method, path, query and raw body', async () => {
    const body = new TextEncoder().encode('{"run":"nightly"}');
    const r = await check(c, envoyCheck({ method: 'POST', path: '/billing/runs?when=now', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body, partial: false }));
    assert.equal(r.status.code, 0, JSON.stringify(r));
    assert.equal(r.http_response, 'ok_response');
    const writHeader = r.ok_response?.headers?.find((h) => h.header.key === WRIT_HEADER);
    assert.ok(writHeader, 'x-writ in ok_response.headers');
    assert.equal(writHeader.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD', 'a client-sent x-writ is replaced, never kept beside');
    const facts: HttpFacts = { method: 'POST', host: 'api.example.com', path: '/billing/runs', query: 'when=now', bodyDigest: await bodyDigest(body) };
    const { claims } = await verifyAsUpstream(g.f, writHeader.header.value, 'billing-svc', facts);
    assert.equal(claims.sub, 'Service::"ci"');
    assert.equal(headerOf(r.ok_response?.headers, 'x-writ-decision-id'), lastLeaf(g.f).id);
    assert.equal(lastLeaf(g.f).result.decision, 'allow');
    await assert.rejects(verifyAsUpstream(g.f, writHeader.header.value, 'billing-svc', { ...facts, bodyDigest: null }));
  });

  it('a denied Check is PERMISSION_DENIED with DeniedHttpResponse 403, the reasons and the decision id; recorded', async () => {
    const size = g.f.ledger.size();
    const r = await check(c, envoyCheck({ method: 'GET', path: '/billing/invoices', headers: { authorization: `Bearer ${await token(g.idp, { groups: [] })}` } }));
    assert.equal(r.status.code, 7);
    assert.equal(r.http_response, 'denied_response');
    assert.equal(r.denied_response?.status.code, 'Forbidden');
    assert.equal(headerOf(r.denied_response?.headers, 'x-writ-reasons'), 'no_permit');
    const body = JSON.parse(r.denied_response?.body ?? '{}') as { reasons: string[]; decisionId: string };
    assert.deepEqual(body.reasons, ['no_permit']);
    assert.equal(g.f.ledger.size(), size + 1);
    assert.equal(lastLeaf(g.f).id, body.decisionId);
    assert.equal(headerOf(r.denied_response?.headers, WRIT_HEADER), undefined);
  });

  it('no credential, or an X-User header only, is UNAUTHENTICATED with DeniedHttpResponse 401 and WWW-Authenticate', async () => {
    const cases: Record<string, string>[] = [{}, { 'x-user': 'alice' }];
    for (const headers of cases) {
      const r = await check(c, envoyCheck({ method: 'GET', path: '/billing/invoices', headers }));
      assert.equal(r.status.code, 16);
      assert.equal(r.denied_response?.status.code, 'Unauthorized');
      assert.match(headerOf(r.denied_response?.headers, 'www-authenticate') ?? '', /^Bearer realm="writ"/);
      assert.equal(lastLeaf(g.f).request.principal, 'Caller::"anonymous"');
    }
  });

  it('a partial body (x-envoy-auth-partial-body: true) is not bound: the writ says the body is unknown', async () => {
    const r = await check(c, envoyCheck({ method: 'POST', path: '/billing/runs', headers: { 'x-api-key': API_KEY }, body: new Uint8Array([1, 2, 3]), partial: true }));
    assert.equal(r.status.code, 0);
    await verifyAsUpstream(g.f, headerOf(r.ok_response?.headers, WRIT_HEADER) ?? '', 'billing-svc', { method: 'POST', host: 'api.example.com', path: '/billing/runs', query: '', bodyDigest: null });
  });

  it('a ledger failure is UNAVAILABLE with DeniedHttpResponse 503, and a thrown error INTERNAL with 500: answers, not gRPC errors', async () => {
    g.f.ledger.failNextAppends = 1;
    const r = await check(c, envoyCheck({ method: 'GET', path: '/ping', headers: { 'x-api-key': API_KEY } }));
    assert.equal(r.status.code, 14);
    assert.equal(r.denied_response?.status.code, 'ServiceUnavailable');
    const decide = g.gate.decide.bind(g.gate);
    g.gate.decide = () => Promise.reject(new Error('boom'));
    try {
      const e = await check(c, envoyCheck({ method: 'GET', path: '/ping', headers: { 'x-api-key': API_KEY } }));
      assert.equal(e.status.code, 13);
      assert.equal(e.denied_response?.status.code, 'InternalServerError');
    } finally {
      g.gate.decide = decide;
    }
  });

  it('a CheckRequest without attributes.request.http is a recorded request_invalid deny (400)', async () => {
    const r = await check(c, { attributes: {} });
    assert.equal(r.status.code, 3);
    assert.equal(r.denied_response?.status.code, 'BadRequest');
    assert.deepEqual(lastLeaf(g.f).result.reasons, ['request_invalid']);
  });
});

describe('writ up --gate <file>', () => {
  let idp: Issuer;
  before(async () => {
    idp = await startIssuer();
  });
  after(async () => {
    await new Promise((r) => idp.server.close(r));
  });

  it('serves the forward-auth endpoint and the gRPC service from one process; a bad configuration is a usage error', async () => {
    const home = join(scratchDir('writ-gate-cli-'), 'home');
    ok(writ(['init', '--home', home]), 'init');
    const bundle = join(home, '..', 'bundle.json');
    ok(writ(['policy', 'sign', policyFolder(HTTP_POLICY), '--home', home, '--out', bundle, '--version', '3']), 'policy sign');
    ok(writ(['policy', 'activate', bundle, '--home', home]), 'policy activate');

    const bad = writ(['up', '--home', home, '--port', '0', '--gate', join(home, 'no-such-gate.json')]);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /cannot read the gate configuration/);

    const child = spawn(process.execPath, [CLI, 'up', '--home', home, '--port', '0', '--quiet', '--gate', gateConfigFile(idp, { grpcPort: 0 })], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const { url, grpcPort } = await new Promise<{ url: string; grpcPort: number }>((resolve, reject) => {
        let stderr = '';
        const timer = setTimeout(() => reject(new Error(`writ up did not start: ${stderr}`)), 20_000);
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          stderr += s;
          const m = /listening on (http:\/\/\S+)/.exec(stderr);
          const p = /Authorization\) on 127\.0\.0\.1:(\d+)/.exec(stderr);
          if (m?.[1] && p?.[1]) {
            clearTimeout(timer);
            resolve({ url: m[1], grpcPort: Number(p[1]) });
          }
        });
        child.once('exit', (code) => reject(new Error(`writ up exited (${code}): ${stderr}`)));
      });
      const http = await call(`${url}/v1/gate/http/forward-auth`, { headers: { 'x-original-method': 'GET', 'x-original-uri': '/billing/x', 'x-forwarded-host': 'api.example.com', authorization: `Bearer ${await token(idp)}` } });
      assert.equal(http.status, 200, JSON.stringify(http.body));
      assert.ok(http.headers.get(WRIT_HEADER));
      const denied = await call(`${url}/v1/gate/http/forward-auth`, { headers: { 'x-original-method': 'GET', 'x-original-uri': '/billing/x', 'x-forwarded-host': 'api.example.com' } });
      assert.equal(denied.status, 401);
      const c = client(grpcPort);
      try {
        const r = await check(c, envoyCheck({ method: 'GET', path: '/ping', headers: { 'x-api-key': API_KEY } }));
        assert.equal(r.status.code, 0);
        assert.ok(headerOf(r.ok_response?.headers, WRIT_HEADER));
      } finally {
        c.close();
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    // the three decisions are in the home's ledger, and replay to the same answers
    const audit = JSON.parse(ok(writ(['audit', 'verify', '--home', home, '--json']), 'audit verify').stdout) as { ok: boolean; replay: { decisions: number; replayed: number; gateDenials: number; differences: unknown[] } };
    assert.equal(audit.ok, true);
    assert.deepEqual(audit.replay, { decisions: 3, replayed: 2, gateDenials: 1, differences: [] });
  });
});

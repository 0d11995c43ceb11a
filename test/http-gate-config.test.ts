/**
 * The HTTP gate's configuration is parsed strictly (src/enforce/http-gate/config.ts): each
 * mistake an operator can make is refused with the place named, never half-applied; and the
 * route table matches as docs/http-gateway.md says (first match; host, methods, exact path or
 * prefix; ambiguous paths refused before matching).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GateConfigError, parseGateConfig } from '../src/enforce/http-gate/config.ts';
import { matchRoute, pathProblem } from '../src/enforce/http-gate/routes.ts';
import { httpAction, httpArgs, parseRequestTarget } from '../src/writ/http-request.ts';

const SHA = 'a'.repeat(64);
const good = () => ({
  routes: [{ name: 'billing', pathPrefix: '/billing/', audience: 'billing-svc' }],
  credentials: { apiKeys: { keys: [{ sha256: SHA, principal: 'Service::"ci"' }] } },
});

describe('HTTP gate configuration', () => {
  it('a minimal configuration parses, with its defaults', () => {
    const c = parseGateConfig(good(), '/');
    assert.deepEqual(c.routes[0], { name: 'billing', host: null, path: null, pathPrefix: '/billing/', methods: null, resource: 'Route::"billing"', audience: 'billing-svc' });
    assert.equal(c.apiKeys.header, 'x-api-key');
    assert.deepEqual(c.jwt, []);
    assert.equal(c.grpc, null);
    assert.equal(c.realm, 'writ');
  });

  it('each mistake is a GateConfigError naming its place', () => {
    const cases: [string, (c: Record<string, unknown>) => void, RegExp][] = [
      ['unknown top-level member', (c) => (c.rutes = []), /gate: unknown member "rutes"/],
      ['no routes', (c) => (c.routes = []), /routes: at least one route/],
      ['unknown route member', (c) => ((c.routes as object[])[0] = { name: 'b', pathPrefix: '/b/', audience: 'a', audiance: 'x' }), /routes\[0\]: unknown member "audiance"/],
      ['no audience', (c) => ((c.routes as object[])[0] = { name: 'b', pathPrefix: '/b/' }), /routes\[0\]\.audience: must be a non-empty string/],
      ['path and pathPrefix', (c) => ((c.routes as object[])[0] = { name: 'b', path: '/b', pathPrefix: '/b/', audience: 'a' }), /exactly one of "path"/],
      ['neither', (c) => ((c.routes as object[])[0] = { name: 'b', audience: 'a' }), /exactly one of "path"/],
      ['relative path', (c) => ((c.routes as object[])[0] = { name: 'b', path: 'b', audience: 'a' }), /routes\[0\]\.path: a URL path/],
      ['lower-case method', (c) => ((c.routes as object[])[0] = { name: 'b', path: '/b', methods: ['get'], audience: 'a' }), /methods\[0\]/],
      ['empty methods', (c) => ((c.routes as object[])[0] = { name: 'b', path: '/b', methods: [], audience: 'a' }), /matches nothing/],
      ['resource not a UID', (c) => ((c.routes as object[])[0] = { name: 'b', path: '/b', resource: 'billing', audience: 'a' }), /routes\[0\]\.resource/],
      ['a route name with *', (c) => ((c.routes as object[])[0] = { name: '*unmatched*', path: '/b', audience: 'a' }), /routes\[0\]\.name/],
      ['duplicate route', (c) => (c.routes as object[]).push({ name: 'billing', path: '/x', audience: 'a' }), /defined twice/],
      ['no credential source', (c) => (c.credentials = {}), /credentials: no credential source/],
      ['a key, not its hash', (c) => (c.credentials = { apiKeys: { keys: [{ sha256: 'secret', principal: 'Service::"ci"' }] } }), /sha256: the hex SHA-256/],
      ['api keys in Authorization', (c) => (c.credentials = { apiKeys: { header: 'Authorization', keys: [{ sha256: SHA, principal: 'Service::"ci"' }] } }), /apiKeys\.header/],
      ['HS256 allowed', (c) => (c.credentials = { jwt: [{ name: 'i', issuer: 'https://idp.example', audience: 'a', algorithms: ['HS256'] }] }), /algorithms\[0\]: one of .* \(no HS\*, no none\)/],
      ['issuer over http', (c) => (c.credentials = { jwt: [{ name: 'i', issuer: 'http://idp.example', audience: 'a' }] }), /credentials\.jwt\[0\]: .*https only/],
      ['issuer twice', (c) => (c.credentials = { jwt: [{ name: 'i', issuer: 'https://idp.example', audience: 'a' }, { name: 'j', issuer: 'https://idp.example', audience: 'b' }] }), /configured twice/],
      ['missing JWKS file', (c) => (c.credentials = { jwt: [{ name: 'i', issuer: 'https://idp.example', audience: 'a', jwksFile: 'nope.json' }] }), /jwksFile: cannot read/],
      ['credential header into the ledger', (c) => (c.headers = ['Cookie']), /headers\[0\]: cookie carries credentials/],
      ['the API-key header into the ledger', (c) => (c.headers = ['x-api-key']), /headers\[0\]: x-api-key carries credentials/],
      ['bad gRPC port', (c) => (c.grpc = { port: 70000 }), /grpc\.port/],
      ['ttl 0', (c) => (c.ttlSeconds = 0), /ttlSeconds/],
    ];
    for (const [why, change, expected] of cases) {
      const c = good() as Record<string, unknown>;
      change(c);
      assert.throws(() => parseGateConfig(c, '/nonexistent'), (e: unknown) => e instanceof GateConfigError && e.code === 'gate_config_invalid' && expected.test(e.message), why);
    }
  });
});

describe('HTTP gate route table', () => {
  const c = parseGateConfig(
    {
      routes: [
        { name: 'admin', host: 'api.example.com', pathPrefix: '/billing/admin/', methods: ['POST'], audience: 'admin-svc' },
        { name: 'billing', host: 'api.example.com', pathPrefix: '/billing/', audience: 'billing-svc' },
        { name: 'pinned', host: 'api.example.com:8443', path: '/p', audience: 'p' },
        { name: 'health', path: '/healthz', audience: 'h' },
      ],
      credentials: { apiKeys: { keys: [{ sha256: SHA, principal: 'Service::"ci"' }] } },
    },
    '/',
  );
  const route = (method: string, host: string, path: string) => matchRoute(c.routes, { method, host, path })?.name ?? null;

  it('first match in order, by host (any port unless the route names one), method and path', () => {
    assert.equal(route('POST', 'api.example.com', '/billing/admin/x'), 'admin');
    assert.equal(route('GET', 'api.example.com', '/billing/admin/x'), 'billing');
    assert.equal(route('GET', 'API.Example.com:443', '/billing/'), 'billing');
    assert.equal(route('GET', 'other.example.com', '/billing/'), null);
    assert.equal(route('GET', 'api.example.com', '/billing'), null);
    assert.equal(route('GET', 'api.example.com:8443', '/p'), 'pinned');
    assert.equal(route('GET', 'api.example.com', '/p'), null);
    assert.equal(route('GET', 'anything', '/healthz'), 'health');
    assert.equal(route('GET', 'anything', '/healthz/x'), null);
  });

  it('ambiguous paths are named, plain ones are not', () => {
    for (const p of ['/a/../b', '/a/%2E%2e/b', '/a/./b', '/a/.', '/a%2fb', '/a%5Cb', '/a\\b', '/a%00', '/a b', 'a/b']) assert.ok(pathProblem(p), p);
    for (const p of ['/', '/a/b', '/a/b/', '/a..b/c', '/a/.well-known/x', '/a%20b', '//a']) assert.equal(pathProblem(p), null, p);
  });

  it('the shared request helpers: target parsing without decoding, action and args', () => {
    assert.deepEqual(parseRequestTarget('/a%2Fb?x=1&y=%20#frag'), { path: '/a%2Fb', query: 'x=1&y=%20' });
    assert.deepEqual(parseRequestTarget('https://h.example:8443/p?q'), { path: '/p', query: 'q' });
    assert.deepEqual(parseRequestTarget('?q=1'), { path: '/', query: 'q=1' });
    assert.deepEqual(parseRequestTarget(''), { path: '/', query: '' });
    assert.equal(httpAction('delete'), 'Action::"http:DELETE"');
    assert.deepEqual(httpArgs({ method: 'get', host: 'h', path: '', query: '', bodyDigest: null }), { http: { method: 'GET', path: '/', query: '', bodyDigest: null } });
  });
});

/**
 * Shared fixture for the HTTP gate tests (forward-auth*.test.ts, ext-authz-grpc.test.ts): a
 * home with an HTTP policy, a real local OIDC issuer (discovery + JWKS over HTTP), an API key,
 * the gate's configuration file, and buildApp listening on a real port.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { readGateConfig } from '../src/enforce/http-gate/config.ts';
import { HttpGate } from '../src/enforce/http-gate/gate.ts';
import { buildApp } from '../src/server/app.ts';
import { verifyWrit, type VerifiedWrit } from '../src/writ/verify.ts';
import { httpArgs, type HttpFacts } from '../src/writ/http-request.ts';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';

export const AUDIENCE = 'gateway-users';
export const API_KEY = 'k-ci-0123456789abcdef';
export const API_KEY_HEADER = 'x-api-key';

/**
 * GET on /billing/ for JWT users in the billing group, or whose verified claims (principal
 * attributes) say email auditor@example.com and level >= 2; POST for the CI service key (its
 * configured attribute team "release"); never with debug=1 in the query.
 */
export const HTTP_POLICY = {
  'policy.cedar': `
@id("billing-read")
permit (principal, action == Action::"http:GET", resource == Route::"billing")
when { context.credential.kind == "jwt" && context.credential.claims has groups && context.credential.claims.groups.contains("billing") };

@id("billing-write")
permit (principal == Service::"ci", action == Action::"http:POST", resource == Route::"billing")
when { context.credential.kind == "api_key" && principal has team && principal.team == "release" };

@id("billing-read-auditor")
permit (principal, action == Action::"http:GET", resource == Route::"billing")
when { principal has email && principal.email == "auditor@example.com" && principal has level && principal.level >= 2 };

@id("ping")
permit (principal, action, resource == Route::"ping");

@id("no-debug")
forbid (principal, action, resource) when { context.http.query like "*debug=1*" };
`,
  'entities.json': '[]',
};

export interface Issuer {
  server: Server;
  base: string;
  privateKey: CryptoKey;
  jwk: JWK;
  /** a second key pair, same kid, not in the JWKS */
  outsider: CryptoKey;
}

export async function startIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const outsider = (await generateKeyPair('RS256')).privateKey;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const send = (v: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    if (req.url === '/jwks') return send({ keys: [jwk] });
    if (req.url === '/.well-known/openid-configuration') return send({ issuer: base, jwks_uri: `${base}/jwks` });
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, privateKey, jwk, outsider };
}

export interface TokenOptions {
  sub?: string;
  aud?: string;
  iss?: string;
  exp?: number;
  groups?: string[];
  email?: string;
  /** further claims */
  claims?: Record<string, unknown>;
  key?: CryptoKey;
  alg?: string;
}

export function token(idp: Issuer, o: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ groups: o.groups ?? ['billing'], email: o.email ?? 'alice@example.com', ...o.claims })
    .setProtectedHeader({ alg: o.alg ?? 'RS256', kid: 'k1' })
    .setIssuer(o.iss ?? idp.base)
    .setAudience(o.aud ?? AUDIENCE)
    .setSubject(o.sub ?? 'alice')
    .setIssuedAt(now - 5)
    .setExpirationTime(o.exp ?? now + 300)
    .sign(o.key ?? idp.privateKey);
}

/** An unsigned token (alg "none"), as an attacker would send it. */
export function unsignedToken(idp: Issuer): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.base, aud: AUDIENCE, sub: 'alice', groups: ['billing'], exp: now + 300, iat: now })}.`;
}

/** The gate configuration the tests run with, written to a file (as an operator would). */
export function gateConfigFile(idp: Issuer, o: { grpcPort?: number } = {}): string {
  const file = join(tempDir('writ-gate-'), 'gate.json');
  const config = {
    routes: [
      { name: 'billing', host: 'api.example.com', pathPrefix: '/billing/', audience: 'billing-svc' },
      { name: 'ping', path: '/ping', methods: ['GET', 'HEAD'], audience: 'ping-svc' },
    ],
    credentials: {
      jwt: [{ name: 'corp', issuer: idp.base, audience: AUDIENCE, principalType: 'User' }],
      apiKeys: { header: API_KEY_HEADER, keys: [{ name: 'ci', sha256: createHash('sha256').update(API_KEY).digest('hex'), principal: 'Service::"ci"', attributes: { team: 'release' } }] },
    },
    headers: ['x-request-id'],
    ...(o.grpcPort !== undefined && { grpc: { host: '127.0.0.1', port: o.grpcPort } }),
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface GateHarness {
  f: Fixture;
  idp: Issuer;
  gate: HttpGate;
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** A home with the HTTP policy, a local issuer, and buildApp with the gate listening on 127.0.0.1. */
export async function startGate(): Promise<GateHarness> {
  const f = await fixture({ policyDir: policyFolder(HTTP_POLICY) });
  const idp = await startIssuer();
  const gate = new HttpGate({ node: f.node, ledger: f.ledger, config: readGateConfig(gateConfigFile(idp)) });
  const app = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, gate });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    f,
    idp,
    gate,
    app,
    url,
    async close() {
      await app.close();
      await new Promise((r) => idp.server.close(r));
      f.cleanup();
    },
  };
}

export interface LeafJson {
  type: string;
  id: string;
  request: { principal: string; action: string; resource: string; args: unknown };
  input: { context: Record<string, unknown> } | null;
  result: { decision: string; reasons: string[] };
  writ: { jti: string; aud: string } | null;
}

export function lastLeaf(f: Fixture): LeafJson {
  const e = f.ledger.entry(f.ledger.size() - 1);
  assert.ok(e, 'the ledger has an entry');
  return JSON.parse(new TextDecoder().decode(e.leaf)) as LeafJson;
}

/** Verifies a writ as the upstream would (writ/verify, pinned keys), against the request it received; not consumed. */
export function verifyAsUpstream(f: Fixture, writ: string, audience: string, facts: HttpFacts): Promise<VerifiedWrit> {
  return verifyWrit(writ, { keys: f.jwks, audience, args: httpArgs(facts), consume: false });
}

export interface GateResponse {
  status: number;
  headers: Headers;
  body: { decision: string; decisionId: string; reasons?: string[]; message?: string; ledgerIndex: number | null };
}

/** A denial's facts as the headers carry them (the only place for nginx, which gets no body). */
export function denialOf(r: GateResponse): { reasons: string[]; decisionId: string | null; ledgerIndex: number | null } {
  const index = r.headers.get('x-writ-ledger-index');
  return { reasons: (r.headers.get('x-writ-reasons') ?? '').split(',').filter((x) => x !== ''), decisionId: r.headers.get('x-writ-decision-id'), ledgerIndex: index === null ? null : Number(index) };
}

export async function call(url: string, init: RequestInit): Promise<GateResponse> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? ({} as GateResponse['body']) : (JSON.parse(text) as GateResponse['body']) };
}

/** A request with exactly these headers, Host included (fetch will not send a Host of its own choosing): as Envoy sends its check. */
export function rawCall(url: string, o: { method: string; headers: Record<string, string>; body?: Uint8Array }): Promise<GateResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method, headers: { ...o.headers, ...(o.body && { 'content-length': String(o.body.length) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers, body: text === '' ? ({} as GateResponse['body']) : (JSON.parse(text) as GateResponse['body']) });
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Shared fixture for the HTTP API tests (server*.test.ts): request shapes, response bodies, ledger-leaf readers, the app under test. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { CallerStore } from '../src/node/callers.ts';
import { buildApp } from '../src/server/app.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import { fixture, type Fixture } from './helpers.ts';

/** the audience of writs for the READ request (their resource) */
export const AUD = 'Tool::"fs/read"';

export const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' } as const;
export const WRITE = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"' } as const;

export interface DecisionBody {
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

export interface ErrorBody {
  error: string;
  message: string;
}

export interface LeafJson {
  type: string;
  jti?: string;
  status?: string;
  exitCode?: number | null;
  kind?: string;
  value?: string;
  result?: { decision: string; reasons: string[] };
  writ?: { jti: string } | null;
}

export function leafAt(f: Fixture, index: number): LeafJson {
  const e = f.ledger.entry(index);
  assert.ok(e, `ledger entry ${index} exists`);
  return JSON.parse(new TextDecoder().decode(e.leaf)) as LeafJson;
}

function allLeaves(f: Fixture): LeafJson[] {
  return f.ledger.entries(0, 100_000).map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as LeafJson);
}

export function allowCount(f: Fixture): number {
  return allLeaves(f).filter((l) => l.type === 'decision' && l.result?.decision === 'allow').length;
}

export const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// The caller token each app under test is called with (its home's callers table).
const callerTokens = new WeakMap<FastifyInstance, string>();

/**
 * Issues, in this home, a caller token of both roles that may assert any principal, for the
 * tests' own requests to this app (the tests of the credentials themselves are in
 * adversarial/callers.test.ts and adversarial/caller-http.test.ts).
 */
export function withTestCaller(app: FastifyInstance, db: DatabaseSync): FastifyInstance {
  const { token } = new CallerStore(db).add(`test-${randomUUID().slice(0, 8)}`, { roles: ['authorize', 'verify'], principals: ['*'] });
  callerTokens.set(app, token);
  return app;
}

/** The Authorization header of the app's test caller (withTestCaller). */
export function auth(app: FastifyInstance): { authorization: string } {
  const token = callerTokens.get(app);
  assert.ok(token, 'the app was made with withTestCaller');
  return { authorization: `Bearer ${token}` };
}

export async function makeApp(f: Fixture): Promise<FastifyInstance> {
  return withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
}

export async function authorize(app: FastifyInstance, body: object) {
  const res = await app.inject({ method: 'POST', url: '/v1/authorize', headers: auth(app), payload: body });
  return { status: res.statusCode, body: res.json<DecisionBody>(), headers: res.headers };
}

// The home and app under test, set by useServerApp() before a describe's tests.
// Exported as live ESM bindings: importers always read the current values.
export let f: Fixture;
export let app: FastifyInstance;

/** Call inside a describe: a fresh home and its app before its tests, closed and removed after them. */
export function useServerApp(): void {
  before(async () => {
    f = await fixture();
    app = await makeApp(f);
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });
}

/**
 * An HTTP caller is told what was judged (issue 16, point 1): every decision body carries the
 * ledger index and `evaluated` — the principal, action and resource Cedar evaluated, as
 * normalized UIDs — or null when the request was refused before Cedar ran.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { CallerStore } from '../src/node/callers.ts';
import { buildApp } from '../src/server/app.ts';
import { fixture, type Fixture } from './helpers.ts';

describe('decision bodies name what was evaluated', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let token: string;
  before(async () => {
    f = await fixture();
    token = new CallerStore(f.db).add('evaluated-test', { roles: ['authorize'], principals: ['*'] }).token;
    app = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log });
  });
  after(async () => {
    await app?.close();
    f?.cleanup();
  });

  const authorize = (body: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/authorize', headers: { authorization: `Bearer ${token}` }, payload: body });

  it('an allow and a policy denial: the normalized UIDs Cedar saw, and the ledger index', async () => {
    for (const [path, status] of [['/srv/a.txt', 200], ['/srv/secret/k', 403]] as const) {
      const r = await authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path } });
      assert.equal(r.statusCode, status);
      const b = r.json() as { evaluated: unknown; ledgerIndex: number };
      assert.deepEqual(b.evaluated, { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' });
      assert.equal(typeof b.ledgerIndex, 'number');
    }
  });

  it('a denial before evaluation says so: evaluated null', async () => {
    const r = await authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: {}, minVersion: 99 });
    assert.equal(r.statusCode, 403);
    const b = r.json() as { evaluated: unknown; reasons: string[] };
    assert.deepEqual(b.reasons, ['behind_min_version']);
    assert.equal(b.evaluated, null);
  });
});

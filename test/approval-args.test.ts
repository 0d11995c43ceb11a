/**
 * An approver judges the call, not its digest: the approval request keeps the call's
 * canonical arguments, `writ approvals` prints them (and `--json` carries them), and the
 * node's console lists them (its /console/api/governance JSON).
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { approvalArgs, MAX_APPROVAL_ARGS_CHARS } from '../src/node/approval.ts';
import { nodeConsoleSource } from '../src/console/node-source.ts';
import { registerConsole } from '../src/console/routes.ts';
import type { GovernanceView } from '../src/console/source.ts';
import { SqliteApprovalStore } from '../src/node/sqlite-approvals.ts';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { ok, writAsync } from './mcp-helpers.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n',
});
const WRITE = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/a', data: 'rm -rf' } };
// canonical JSON: keys sorted
const SHOWN = '{"data":"rm -rf","path":"/srv/a"}';

describe('approval requests show their arguments', () => {
  let f: Fixture;
  let id: string;
  before(async () => {
    f = await fixture({ policyDir: POLICY });
    id = (await f.node.authorize(WRITE)).approvalId as string;
  });
  after(() => f?.cleanup());

  it('the request keeps the canonical arguments', () => {
    assert.equal(f.state.approval(id)?.args, SHOWN);
  });

  it('`writ approvals` prints them; --json carries them', async () => {
    const text = ok(await writAsync(['approvals', '--home', f.home]), 'approvals').stdout;
    assert.ok(text.includes(id), text);
    assert.ok(text.includes(`args ${SHOWN}`), text);
    const list = JSON.parse(ok(await writAsync(['approvals', '--home', f.home, '--json']), 'approvals --json').stdout) as { id: string; args: string | null }[];
    assert.equal(list.find((a) => a.id === id)?.args, SHOWN);
  });

  it("the node's console lists them", async () => {
    const app: FastifyInstance = Fastify();
    try {
      await registerConsole(app, { source: nodeConsoleSource({ node: f.node, ledger: f.ledger, state: f.state, log: f.log, software: 'test' }), adminTokenSha256: f.config.admin.tokenSha256, consoleAssets: tempDir('writ-console-assets-') });
      const r = await app.inject({ method: 'GET', url: '/console/api/governance' });
      assert.equal(r.statusCode, 200);
      const g = r.json<GovernanceView>();
      assert.equal(g.approvals.find((a) => a.id === id)?.args, SHOWN);
    } finally {
      await app.close();
    }
  });

  it('arguments beyond the leaf limit are not kept (never truncated); none are null', () => {
    assert.equal(approvalArgs(undefined), null);
    assert.equal(approvalArgs({ a: 1 }), '{"a":1}');
    assert.equal(approvalArgs({ big: 'x'.repeat(MAX_APPROVAL_ARGS_CHARS) }), null);
  });

  it('a state.db from before the column gains it; its old rows show no arguments', () => {
    const path = join(tempDir('writ-approvals-old-'), 'state.db');
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE approvals (id TEXT PRIMARY KEY, intent TEXT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL, policy_digest TEXT NOT NULL, expires TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', decided_by TEXT, decided_at TEXT, used INTEGER NOT NULL DEFAULT 0)");
    db.exec("INSERT INTO approvals (id, intent, principal, action, resource, policy_digest, expires) VALUES ('old', 'i', 'p', 'a', 'r', 'd', '2999-01-01T00:00:00.000Z')");
    const store = new SqliteApprovalStore(db);
    assert.equal(store.approval('old')?.args, null);
    store.createApproval({ id: 'new', intent: 'i', principal: 'p', action: 'a', resource: 'r', policyDigest: 'd', expires: '2999-01-01T00:00:00.000Z', args: '{"x":1}' });
    assert.equal(store.approval('new')?.args, '{"x":1}');
    db.close();
  });
});

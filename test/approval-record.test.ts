/**
 * An approver approves what the ledger recorded, not what state.db says: a pending request
 * whose row was edited (other arguments, another resource, arguments hidden) cannot be
 * approved, and `writ approvals` and the node's console say why instead of showing the edited
 * row as the call. The unedited request (the control) is approved as before, and an edited
 * one can still be rejected.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { ApprovalStateError, decideApproval } from '../src/node/approval.ts';
import { nodeConsoleSource } from '../src/console/node-source.ts';
import { registerConsole } from '../src/console/routes.ts';
import type { GovernanceView } from '../src/console/source.ts';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { ok, writAsync } from './mcp-helpers.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource) when { resource == Tool::"fs/write" || resource == Tool::"fs/read" };\n',
});
const call = (args: Record<string, unknown>, resource = 'Tool::"fs/write"') => ({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource, args });

describe('approval requests are checked against the decision that asked', () => {
  let f: Fixture;
  /** edits the node's state.db behind its back, as anyone with the home's files can */
  let edit: (sql: string, ...params: string[]) => void;
  before(async () => {
    f = await fixture({ policyDir: POLICY });
    const db = new DatabaseSync(join(f.home, 'state.db'));
    edit = (sql, ...params) => void db.prepare(sql).run(...params);
  });
  after(() => f?.cleanup());

  const ask = async (args: Record<string, unknown>, resource?: string) => {
    const d = await f.node.authorize(call(args, resource));
    assert.deepEqual(d.reasons, ['approval_required']);
    return d.approvalId as string;
  };
  const refused = (id: string, why: RegExp) =>
    assert.rejects(decideApproval(f.ledger, f.state, id, 'approved', 'test'), (e: unknown) => e instanceof ApprovalStateError && e.code === 'approval_state_invalid' && why.test(e.message));

  it('the unedited request is approved (the control)', async () => {
    const id = await ask({ path: '/srv/a', data: 'hello' });
    assert.equal((await decideApproval(f.ledger, f.state, id, 'approved', 'test')).status, 'approved');
  });

  it('edited arguments, resource or hidden arguments: not approved, and nothing recorded', async () => {
    const cases: [string, (id: string) => void, RegExp][] = [
      ['other arguments', (id) => edit('UPDATE approvals SET args = ? WHERE id = ?', '{"data":"hello","path":"/srv/a"}', id), /arguments it shows are not/],
      ['another resource', (id) => edit('UPDATE approvals SET resource = ? WHERE id = ?', 'Tool::"fs/read"', id), /its resource Tool::"fs\/read" is not/],
      ['arguments hidden', (id) => edit('UPDATE approvals SET args = NULL WHERE id = ?', id), /shows no arguments/],
    ];
    for (const [what, change, why] of cases) {
      const id = await ask({ path: '/etc/shadow', data: 'rm -rf /' });
      change(id);
      const size = f.ledger.size();
      await refused(id, why);
      assert.equal(f.ledger.size(), size, `${what}: no approval leaf was recorded`);
      assert.equal(f.state.approval(id)?.status, 'pending', what);
      // rejecting it is always possible
      assert.equal((await decideApproval(f.ledger, f.state, id, 'rejected', 'test')).status, 'rejected', what);
    }
  });

  it('a request no decision asked for cannot be approved', async () => {
    const id = await ask({ path: '/srv/b' });
    edit("UPDATE approvals SET id = 'forged-id' WHERE id = ?", id);
    await refused('forged-id', /no decision forged-id in the ledger/);
  });

  it('`writ approvals` and the console name the mismatch instead of the edited arguments', async () => {
    const good = await ask({ path: '/srv/c' });
    const bad = await ask({ path: '/etc/passwd' });
    edit('UPDATE approvals SET args = ? WHERE id = ?', '{"path":"/srv/harmless"}', bad);
    const text = ok(await writAsync(['approvals', '--home', f.home]), 'approvals').stdout;
    assert.match(text, new RegExp(`${good}[^\\n]*\\n  args \\{"path":"/srv/c"\\}`));
    assert.match(text, new RegExp(`${bad}[^\\n]*\\n  NOT THE RECORDED REQUEST: the arguments it shows are not`));
    assert.ok(!text.includes('/srv/harmless'), text);
    const list = JSON.parse(ok(await writAsync(['approvals', '--home', f.home, '--json']), 'approvals --json').stdout) as { id: string; recordProblem: string | null }[];
    assert.equal(list.find((a) => a.id === good)?.recordProblem, null);
    assert.match(list.find((a) => a.id === bad)?.recordProblem ?? '', /not the decision recorded at ledger entry \d+/);
    const app = Fastify();
    try {
      await registerConsole(app, { source: nodeConsoleSource({ node: f.node, ledger: f.ledger, state: f.state, log: f.log, software: 'test' }), adminTokenSha256: f.config.admin.tokenSha256, consoleAssets: tempDir('writ-console-assets-') });
      const g = (await app.inject({ method: 'GET', url: '/console/api/governance' })).json<GovernanceView>();
      assert.equal(g.approvals.find((a) => a.id === good)?.recordProblem, null);
      assert.match(g.approvals.find((a) => a.id === bad)?.recordProblem ?? '', /arguments it shows are not/);
    } finally {
      await app.close();
    }
  });
});

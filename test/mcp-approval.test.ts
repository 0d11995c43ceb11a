/**
 * Human approval through `writ mcp`: a permit annotated `@approval("required")` makes a
 * call wait (bounded) for `writ approve` / `writ reject`; a timeout denies it. The
 * upstream is @modelcontextprotocol/server-everything over stdio.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import {
  allowedFor,
  connectStdio,
  decode,
  EVERYTHING,
  mcpError,
  ok,
  outcomesOf,
  proxyCommand,
  SESSION_PERMIT,
  tool,
  until,
  writAsync,
  WRIT_DENIED,
  type Connected,
} from './mcp-helpers.ts';

const A1 = 'Agent::"a1"';

const POLICY = `${SESSION_PERMIT}
@id("echo")
permit (principal == Agent::"a1", action == Action::"tools/call", resource == ${tool('echo')});

@id("sum-needs-a-human")
@approval("required")
permit (principal == Agent::"a1", action == Action::"tools/call", resource == ${tool('get-sum')});
`;

interface ApprovalLeaf {
  type: 'approval';
  id: string;
  status: 'approved' | 'rejected' | 'expired';
  by: string;
  intent: string;
  resource: string;
}

/** The approval ids the proxy has announced on stderr (`writ approve <id>`), in order. */
function announced(c: Connected): string[] {
  return [...c.stderr().matchAll(/writ approve (\S+)/g)].map((m) => m[1] ?? '');
}

async function nextApproval(c: Connected, seen: number): Promise<string> {
  return until('the proxy announcing an approval request on stderr', () => announced(c)[seen]);
}

function approvalLeaves(f: Fixture, id: string): ApprovalLeaf[] {
  return f.ledger
    .entries(0, 100_000)
    .filter((e) => e.type === 'approval')
    .map((e) => decode<ApprovalLeaf>(e))
    .filter((l) => l.id === id);
}

describe('writ mcp: human approval', () => {
  let f: Fixture;
  let proxied: Connected;
  let hurried: Connected;
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    [proxied, hurried] = await Promise.all([
      connectStdio(proxyCommand(f.home, A1, [EVERYTHING, 'stdio'])),
      connectStdio(proxyCommand(f.home, A1, [EVERYTHING, 'stdio'], ['--approval-timeout', '1s'])),
    ]);
  });
  after(async () => {
    await Promise.allSettled([proxied?.close(), hurried?.close()]);
    f?.cleanup();
  });

  it('holds the call until `writ approve`, then runs it; other traffic is not held up meanwhile', async () => {
    const from = f.ledger.size();
    const seen = announced(proxied).length;
    let settled = false;
    const call = proxied.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }).finally(() => (settled = true));
    const id = await nextApproval(proxied, seen);

    // pending, listed for the operator, bound to this call
    const pending = JSON.parse(ok(await writAsync(['approvals', '--home', f.home, '--json']), 'approvals').stdout) as { id: string; resource: string; principal: string }[];
    const mine = pending.find((a) => a.id === id);
    assert.ok(mine, `${id} is among the pending approvals`);
    assert.equal(mine.resource, tool('get-sum'));
    assert.equal(mine.principal, A1);
    // the denial that opened it is in the ledger (the approval id is its decision id)
    const opened = f.ledger.findByDecisionId(id);
    assert.ok(opened);
    assert.deepEqual(decode<{ result: { reasons: string[] } }>(opened).result.reasons, ['approval_required']);

    // while it waits, the session serves other requests
    assert.deepEqual(await proxied.client.ping(), {});
    const echo = await proxied.client.callTool({ name: 'echo', arguments: { message: 'not blocked' } });
    assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: not blocked' }]);
    assert.equal(settled, false, 'the call did not wait for the approval');

    ok(await writAsync(['approve', id, '--home', f.home, '--by', 'tester']), 'approve');
    const r = (await call) as { content: { text: string }[] };
    assert.equal(r.content[0]?.text, 'The sum of 1 and 2 is 3.');

    const allowed = allowedFor(f, from, tool('get-sum'));
    assert.equal(allowed.approval, id, 'the allowing decision names the approval');
    const [leaf] = approvalLeaves(f, id);
    assert.equal(leaf?.status, 'approved');
    assert.equal(leaf?.by, 'tester');
    const [o] = await until('the outcome', () => outcomesOf(f, allowed.writ.jti).length > 0 && outcomesOf(f, allowed.writ.jti));
    assert.equal(o?.status, 'ok');
  });

  it('denies the call with approval_rejected after `writ reject`; the server never sees it', async () => {
    const from = f.ledger.size();
    const seen = announced(proxied).length;
    const call = mcpError(proxied.client.callTool({ name: 'get-sum', arguments: { a: 2, b: 2 } }));
    const id = await nextApproval(proxied, seen);
    ok(await writAsync(['reject', id, '--home', f.home]), 'reject');
    const e = await call;
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['approval_rejected']);
    assert.ok(e.data.decisionId && f.ledger.findByDecisionId(e.data.decisionId));
    assert.equal(approvalLeaves(f, id)[0]?.status, 'rejected');
    assert.equal(
      f.ledger.entries(from, 1000).filter((x) => x.type === 'outcome').length,
      0,
      'nothing ran',
    );
  });

  it('denies the call with approval_expired when nobody decides within --approval-timeout', async () => {
    const seen = announced(hurried).length;
    const started = Date.now();
    const e = await mcpError(hurried.client.callTool({ name: 'get-sum', arguments: { a: 3, b: 4 } }));
    const waited = Date.now() - started;
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['approval_expired']);
    assert.ok(waited >= 900 && waited < 5000, `waited ${waited} ms for a 1 s approval timeout`);
    const id = await nextApproval(hurried, seen);
    assert.equal(approvalLeaves(f, id)[0]?.status, 'expired');
    const pending = JSON.parse(ok(await writAsync(['approvals', '--home', f.home, '--json'])).stdout) as { id: string }[];
    assert.ok(!pending.some((a) => a.id === id), 'an expired request is no longer pending');
    // too late: it can no longer be approved
    const late = await writAsync(['approve', id, '--home', f.home]);
    assert.notEqual(late.status, 0);
  });

  it('a call cancelled by the client while it awaits approval is dropped and its approval request expires', async () => {
    const from = f.ledger.size();
    const seen = announced(proxied).length;
    const ac = new AbortController();
    const call = proxied.client.callTool({ name: 'get-sum', arguments: { a: 5, b: 5 } }, undefined, { signal: ac.signal });
    const id = await nextApproval(proxied, seen);
    ac.abort('never mind');
    await assert.rejects(call);
    const [leaf] = await until('the approval request to expire', () => approvalLeaves(f, id).length > 0 && approvalLeaves(f, id));
    assert.equal(leaf?.status, 'expired');
    assert.equal(leaf?.by, 'cancelled');
    const late = await writAsync(['approve', id, '--home', f.home]);
    assert.notEqual(late.status, 0, 'a cancelled request can no longer be approved');
    assert.ok(!f.ledger.entries(from, 1000).some((e) => e.type === 'outcome'), 'nothing ran');
    assert.deepEqual(await proxied.client.ping(), {});
  });
});

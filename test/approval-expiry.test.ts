/**
 * Expired approval requests leave the pending list, recorded as expired (a ledger
 * `approval` leaf by `expiry`): swept by the home upkeep of `writ up` and by `writ approvals`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expireOverdue } from '../src/node/approval.ts';
import { startHomeUpkeep } from '../src/home/upkeep.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { decode, ok, until, writAsync } from './mcp-helpers.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n',
});
const WRITE = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/a' } };

function expiryLeaves(f: Fixture, id: string): { status: string; by: string }[] {
  return f.ledger
    .entries(0, 100_000)
    .filter((e) => e.type === 'approval')
    .map((e) => decode<{ id: string; status: string; by: string }>(e))
    .filter((l) => l.id === id);
}

describe('expired approval requests leave the pending list', () => {
  it('expireOverdue records only the overdue, once', async () => {
    const f = await fixture({ policyDir: POLICY, limits: { approvalTtlMs: 60_000 } });
    try {
      const id = (await f.node.authorize(WRITE)).approvalId as string;
      const expires = Date.parse(f.state.approval(id)?.expires ?? '');
      assert.equal(await expireOverdue(f.ledger, f.state, new Date(expires - 1)), 0, 'not yet due');
      assert.equal(f.state.approval(id)?.status, 'pending');
      assert.equal(await expireOverdue(f.ledger, f.state, new Date(expires)), 1);
      assert.equal(f.state.approval(id)?.status, 'expired');
      assert.equal(f.state.approval(id)?.decidedBy, 'expiry');
      assert.equal(await expireOverdue(f.ledger, f.state, new Date(expires + 1000)), 0, 'already decided');
      const leaves = expiryLeaves(f, id);
      assert.equal(leaves.length, 1, 'one ledger leaf');
      assert.equal(leaves[0]?.status, 'expired');
      assert.equal(leaves[0]?.by, 'expiry');
    } finally {
      f.cleanup();
    }
  });

  it('the home upkeep sweeps them', async () => {
    const f = await fixture({ policyDir: POLICY, limits: { approvalTtlMs: 300 } });
    const logged: string[] = [];
    const stop = startHomeUpkeep(f, (s) => logged.push(s), 50);
    try {
      const id = (await f.node.authorize(WRITE)).approvalId as string;
      assert.equal(f.state.approval(id)?.status, 'pending');
      await until('the upkeep to expire the request', () => f.state.approval(id)?.status === 'expired');
      assert.equal(f.state.pendingApprovals().length, 0);
      assert.equal(expiryLeaves(f, id).length, 1, 'recorded in the ledger once');
      assert.deepEqual(logged.filter((s) => s.includes('approval')), []);
    } finally {
      stop();
      f.cleanup();
    }
  });

  it('`writ approvals` sweeps them before listing', async () => {
    const f = await fixture({ policyDir: POLICY, limits: { approvalTtlMs: 200 } });
    try {
      const id = (await f.node.authorize(WRITE)).approvalId as string;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(f.state.approval(id)?.status, 'pending', 'nothing swept it yet');
      const list = JSON.parse(ok(await writAsync(['approvals', '--home', f.home, '--json']), 'approvals').stdout) as { id: string }[];
      assert.ok(!list.some((a) => a.id === id), 'not listed as pending');
      assert.equal(f.state.approval(id)?.status, 'expired');
      assert.equal(expiryLeaves(f, id)[0]?.by, 'expiry');
    } finally {
      f.cleanup();
    }
  });
});


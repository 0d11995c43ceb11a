/** Human approval: bound to the exact arguments, the policy and an expiry; recorded; single use; replayable. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { awaitApproval, decideApproval } from '../src/node/approval.ts';
import type { AuthorizeRequest } from '../src/node/node.ts';
import { replayDecisions } from '../src/node/replay.ts';
import { bundleBytes, fixture, policyFolder } from './helpers.ts';
import type { Clock } from '../src/clock.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n@id("read")\npermit (principal, action, resource == Tool::"fs/read");\n',
});
const WRITE: AuthorizeRequest = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/a', data: 'x' } };

describe('human approval', () => {
  it('asks, waits for approval, then allows exactly that call once', async () => {
    const f = await fixture({ policyDir: POLICY });
    const first = await f.node.authorize(WRITE);
    assert.deepEqual(first.reasons, ['approval_required']);
    assert.equal(first.writ, undefined);
    const id = first.approvalId as string;
    assert.equal(f.state.approval(id)?.status, 'pending');
    assert.deepEqual((await f.node.authorize({ ...WRITE, approval: id })).reasons, ['approval_required'], 'still pending');

    setTimeout(() => void decideApproval(f.ledger, f.state, id, 'approved', 'alice'), 50); // decided while awaitApproval polls
    assert.equal(await awaitApproval(f.ledger, f.state, id, { timeoutMs: 5000, pollMs: 10 }), 'approved');

    assert.deepEqual((await f.node.authorize({ ...WRITE, args: { path: '/etc/passwd', data: 'x' }, approval: id })).reasons, ['approval_invalid'], 'other args');
    const ok = await f.node.authorize({ ...WRITE, approval: id });
    assert.equal(ok.decision, 'allow', ok.message);
    assert.deepEqual((await f.node.authorize({ ...WRITE, approval: id })).reasons, ['approval_invalid'], 'single use');

    const leaves = f.ledger.entries(0, 1000).map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as { type: string; status?: string; by?: string; approval?: string | null });
    assert.ok(leaves.some((l) => l.type === 'approval' && l.status === 'approved' && l.by === 'alice'), 'the approval is in the ledger');
    assert.ok(leaves.some((l) => l.approval === id), 'the allow names its approval');
    const report = await replayDecisions(f.ledger, f.state, f.trust);
    assert.deepEqual(report.differences, []);
    f.cleanup();
  });

  it('rejected → approval_rejected; timed out → approval_expired and recorded', async () => {
    const f = await fixture({ policyDir: POLICY, limits: { approvalTtlMs: 60_000 } });
    const a = (await f.node.authorize(WRITE)).approvalId as string;
    await decideApproval(f.ledger, f.state, a, 'rejected', 'bob');
    assert.deepEqual((await f.node.authorize({ ...WRITE, approval: a })).reasons, ['approval_rejected']);
    const b = (await f.node.authorize(WRITE)).approvalId as string;
    assert.equal(await awaitApproval(f.ledger, f.state, b, { timeoutMs: 100, pollMs: 10 }), 'expired');
    assert.deepEqual((await f.node.authorize({ ...WRITE, approval: b })).reasons, ['approval_expired']);
    await assert.rejects(decideApproval(f.ledger, f.state, b, 'approved', 'late'), /already expired/);
    f.cleanup();
  });

  it("the wait's bound and its polls run on the clock it is given; the approval's expiry on governance time", async () => {
    const f = await fixture({ policyDir: POLICY, limits: { approvalTtlMs: 3600_000 } });
    const id = (await f.node.authorize(WRITE)).approvalId as string;
    let t = Date.now();
    const polls: number[] = [];
    const clock: Clock = {
      now: () => t,
      after(ms, run) {
        polls.push(ms);
        t += ms;
        setImmediate(run);
        return () => undefined;
      },
      every: () => () => undefined,
    };
    const started = performance.now();
    // a ten-minute bound, long before the approval's own expiry (an hour of governance time)
    assert.equal(await awaitApproval(f.ledger, f.state, id, { timeoutMs: 600_000, pollMs: 1000, clock, now: () => f.node.now() }), 'expired');
    assert.ok(performance.now() - started < 30_000, 'it did not wait on the process clock');
    assert.ok(polls.length >= 600 && polls.every((ms) => ms === 1000), 'it polled on the injected clock');
    assert.equal(f.state.approval(id)?.decidedBy, 'timeout');
    f.cleanup();
  });

  it('an approval does not survive a policy change', async () => {
    const f = await fixture({ policyDir: POLICY });
    const id = (await f.node.authorize(WRITE)).approvalId as string;
    await decideApproval(f.ledger, f.state, id, 'approved', 'alice');
    await f.node.policy.activate(bundleBytes(await f.sign(POLICY, { version: 2 })));
    assert.deepEqual((await f.node.authorize({ ...WRITE, approval: id })).reasons, ['approval_invalid']);
    f.cleanup();
  });

  it('replay flags an allow recorded without the approval its policy requires', async () => {
    const f = await fixture({ policyDir: POLICY });
    const d = await f.node.authorize(WRITE);
    assert.deepEqual((await replayDecisions(f.ledger, f.state, f.trust)).differences, [], 'an honest approval_required replays');
    const index = d.ledgerIndex as number;
    const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entry(index)?.leaf)) as { result: { decision: string; reasons: string[] } };
    leaf.result = { ...leaf.result, decision: 'allow', reasons: ['policy_permit'] };
    f.db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(new TextEncoder().encode(JSON.stringify(leaf)), index);
    const report = await replayDecisions(f.ledger, f.state, f.trust);
    assert.deepEqual(report.differences.map((x) => x.index), [index]);
    f.cleanup();
  });

  it('two decisions at once on one request (the console and a timeout): one is recorded and applied, the other finds it decided', async () => {
    const f = await fixture({ policyDir: POLICY });
    const id = (await f.node.authorize(WRITE)).approvalId as string;
    const results = await Promise.allSettled([decideApproval(f.ledger, f.state, id, 'approved', 'console'), decideApproval(f.ledger, f.state, id, 'expired', 'timeout')]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected']);
    const leaves = f.ledger.entries(0, 1000).filter((e) => e.type === 'approval').map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as { id: string; status: string });
    assert.deepEqual(leaves.filter((l) => l.id === id).map((l) => l.status), ['approved'], 'exactly one decision recorded');
    assert.equal(f.state.approval(id)?.status, 'approved');
    f.cleanup();
  });

  it('an approval is bound to the whole request but the time: another binary, context or audience makes it invalid', async () => {
    const f = await fixture({ policyDir: policyFolder({ 'p.cedar': '@id("deploy") @approval("required") permit (principal, action == Action::"exec", resource == Binary::"/usr/local/bin/deploy");' }) });
    try {
      const base = { principal: 'Agent::"a1"', action: 'Action::"exec"', resource: 'Binary::"/usr/local/bin/deploy"', args: { argv: ['/usr/local/bin/deploy', 'prod'] } };
      const A = `sha256:${'a'.repeat(64)}`;
      const asked = await f.node.authorize({ ...base, attestation: { binaryDigest: A }, context: { change: 'CHG-1' } });
      const id = asked.approvalId as string;
      await decideApproval(f.ledger, f.state, id, 'approved', 'alice');
      for (const [what, req] of [
        ['another binary', { ...base, attestation: { binaryDigest: `sha256:${'b'.repeat(64)}` }, context: { change: 'CHG-1' } }],
        ['another context', { ...base, attestation: { binaryDigest: A }, context: { change: 'CHG-2' } }],
        ['another audience', { ...base, attestation: { binaryDigest: A }, context: { change: 'CHG-1' }, audience: 'edge:deployer' }],
      ] as const) {
        assert.deepEqual((await f.node.authorize({ ...req, approval: id })).reasons, ['approval_invalid'], what);
      }
      assert.equal((await f.node.authorize({ ...base, attestation: { binaryDigest: A }, context: { change: 'CHG-1' }, approval: id })).decision, 'allow', 'the request approved');
    } finally {
      f.cleanup();
    }
  });
});

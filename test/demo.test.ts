/**
 * The Runtime Governance Demo's runner (src/demo) against a real home with the demo policy:
 * every step comes out as the scenario says, and each chain is the evidence itself (its
 * entries are the ledger's, byte for byte; a denial has no writ and left its fact on disk).
 * Then what could get past it: the executor-side guard refuses a writ for other arguments,
 * a replayed writ and a call with none; a rejected approval runs nothing; one step at a time.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { asExpected } from '../src/cli/demo.ts';
import type { DemoChain } from '../src/demo/contract.ts';
import { GuardedUpstream } from '../src/demo/guarded-upstream.ts';
import { DemoRefusal, DemoRunner, tryRequest } from '../src/demo/runner.ts';
import { outsideSandbox, sandboxScope } from '../src/demo/scope.ts';
import { DEMO_STEPS } from '../src/demo/steps.ts';
import { mcpAudience } from '../src/enforce/mcp/names.ts';
import { leafHash } from '../src/tlog/merkle.ts';
import { encodeBase64 } from '../src/tlog/base64.ts';
import { fixture, type Fixture } from './helpers.ts';

const A1 = 'Agent::"a1"';

/** The transport behind the guard: records what reached "the server". */
class ServerSide implements Transport {
  received: JSONRPCMessage[] = [];
  onmessage?: (m: JSONRPCMessage) => void;
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  async send(m: JSONRPCMessage): Promise<void> {
    this.received.push(m);
  }
}

describe('the demo runner against the real node', { timeout: 180_000 }, () => {
  let f: Fixture;
  let runner: DemoRunner;
  const chains = new Map<string, DemoChain>();

  before(async () => {
    f = await fixture();
    runner = new DemoRunner({ node: f.node, ledger: f.ledger, state: f.state, running: f.running, home: f.home, approvalTimeoutMs: 20_000 });
  });
  after(async () => {
    await runner?.close();
    f?.cleanup();
  });

  it('runs every step as the scenario expects (the approval approved)', async () => {
    for (const step of DEMO_STEPS) {
      let c = await runner.run(step.id);
      if (step.interactive) {
        assert.ok(c.pending, `${step.id} waits for a person`);
        assert.equal(c.outcome.status, 'pending');
        assert.deepEqual(c.decision.reasons, ['approval_required']);
        assert.equal(existsSync(runner.sandbox.path('outbox/report.txt')), false, 'nothing was written before the approval');
        c = await runner.decide(c.pending.approvalId, true);
      }
      assert.equal(asExpected(step, c), true, `${step.id}: ${JSON.stringify({ decision: c.decision, outcome: c.outcome })}`);
      chains.set(step.id, c);
    }
    assert.deepEqual(runner.overview().runs.map((r) => r.step), DEMO_STEPS.map((s) => s.id), 'the latest run of each step, in order');
  });

  it('each chain is the evidence: entries equal the ledger byte for byte, the decision is among them', () => {
    for (const [id, c] of chains) {
      assert.ok(c.ledger.length > 0, id);
      assert.equal(c.ledger[0]?.kind, 'decision', `${id}: a decision comes first`);
      assert.ok(c.ledger.some((e) => e.index === c.decision.ledgerIndex), `${id}: the decision is among them`);
      for (const e of c.ledger) {
        const stored = f.ledger.entry(e.index);
        assert.ok(stored, `${id}: entry ${e.index} exists`);
        assert.equal(e.leafHash, encodeBase64(leafHash(stored.leaf)), `${id}: the leaf hash of #${e.index}`);
        assert.deepEqual(e.entry, JSON.parse(new TextDecoder().decode(stored.leaf)));
      }
      if (c.decision.decision === 'allow') {
        assert.ok(c.writ, `${id} has a writ`);
        const leaf = c.ledger.find((e) => e.index === c.decision.ledgerIndex)?.entry as { writ: { jti: string } };
        assert.equal(c.writ.claims.jti, leaf.writ.jti, `${id}: the writ is the one the decision recorded`);
        assert.equal(c.writ.claims.led, c.decision.ledgerIndex);
        assert.equal(c.verification?.ok, true);
        assert.ok(c.lineageRoot);
      } else {
        assert.equal(c.writ, null, `${id}: a denial has no writ`);
        assert.equal(c.outcome.status, 'not-run');
        assert.ok(c.determining.every((p) => p.text.includes(`@id("${p.id}")`)), `${id}: the determining policies' own text`);
      }
    }
  });

  it('denials left their facts: the write is absent, the traversal reached nothing, rm removed nothing', () => {
    assert.equal(chains.get('write-denied')?.outcome.evidence, 'sandbox/notes/out.txt absent: true');
    assert.equal(existsSync(runner.sandbox.path('notes/out.txt')), false);
    assert.deepEqual(chains.get('traversal-denied')?.decision.policies, ['no-dot-dot']);
    assert.match(chains.get('traversal-denied')?.outcome.evidence ?? '', /received during this step: 0$/);
    assert.equal(existsSync(runner.sandbox.path('notes/readme.txt')), true);
    assert.deepEqual(chains.get('delegated-child')?.decision.policies, ['children-never-exec']);
    assert.ok(chains.get('delegated-child')?.request.parent, 'the child named its parent');
  });

  it('the approved write ran once; the revoked process was terminated and the revocation recorded', () => {
    const a = chains.get('approval');
    assert.equal(a?.outcome.status, 'ok');
    assert.equal(runner.sandbox.read('outbox/report.txt')?.startsWith('Report written by the demo agent'), true);
    assert.deepEqual(a?.ledger.map((e) => e.kind), ['decision', 'approval', 'decision', 'outcome']);
    const r = chains.get('revocation');
    assert.equal(r?.outcome.status, 'terminated');
    assert.ok(r?.ledger.some((e) => e.kind === 'revocation'), 'the revocation is in the chain');
    const outcome = r?.ledger.find((e) => e.kind === 'outcome')?.entry as { status: string; reason: string };
    assert.deepEqual([outcome.status, outcome.reason], ['terminated', 'writ_revoked']);
  });

  it('a rejected approval runs nothing: approval_rejected, the file stays absent', async () => {
    const c = await runner.run('approval');
    assert.ok(c.pending);
    const done = await runner.decide(c.pending.approvalId, false);
    assert.equal(done.decision.decision, 'deny');
    assert.deepEqual(done.decision.reasons, ['approval_rejected']);
    assert.equal(done.outcome.evidence, 'sandbox/outbox/report.txt absent: true');
    await assert.rejects(runner.decide(c.pending.approvalId, true), (e: unknown) => e instanceof DemoRefusal && e.status === 404, 'a decided approval cannot be decided again here');
  });

  it('one step at a time (409), unknown steps and approvals are 404', async () => {
    const first = runner.run('exec-allowed');
    await assert.rejects(runner.run('read-allowed'), (e: unknown) => e instanceof DemoRefusal && e.status === 409 && e.code === 'demo_busy');
    await first;
    await assert.rejects(runner.run('rm-rf'), (e: unknown) => e instanceof DemoRefusal && e.status === 404);
    await assert.rejects(runner.run('constructor'), (e: unknown) => e instanceof DemoRefusal && e.status === 404);
    await assert.rejects(runner.decide('01a00000-0000-7000-8000-000000000000', true), (e: unknown) => e instanceof DemoRefusal && e.status === 404);
  });

  it('try your own: a decision and its verification, nothing executed; bad requests are 400', async () => {
    const c = await runner.try({ principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read_text_file"', args: { path: 'notes/x.txt' } });
    assert.equal(c.decision.decision, 'allow');
    assert.equal(c.verification?.ok, true);
    assert.equal(c.outcome.status, 'not-run');
    const d = await runner.try({ principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read_text_file"', args: { path: 'notes/../readme.txt' } });
    assert.deepEqual([d.decision.decision, d.decision.policies], ['deny', ['no-dot-dot']]);
    for (const bad of [null, [], { principal: 'not a uid', action: 'Action::"exec"', resource: 'Binary::"/usr/bin/true"' }, { principal: A1, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/true"', args: [1] }, { principal: A1, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/true"', args: { x: 'y'.repeat(5000) } }]) {
      assert.throws(() => tryRequest(bad), (e: unknown) => e instanceof DemoRefusal && e.status === 400, JSON.stringify(bad)?.slice(0, 80));
    }
  });

  it('the anonymous scope is the sandbox: its agents, its two actions, its tools and binaries', () => {
    const scope = sandboxScope();
    assert.deepEqual(scope.principals, [A1]);
    assert.equal(outsideSandbox(scope, { principal: A1, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"' }), null);
    assert.equal(outsideSandbox(scope, { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read_text_file"' }), null);
    for (const r of [
      { principal: 'User::"root"', action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"' },
      { principal: 'Other::Agent::"a1"', action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"' },
      { principal: A1, action: 'Action::"deploy"', resource: 'Binary::"/usr/bin/echo"' },
      { principal: A1, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/rm"' },
      { principal: A1, action: 'Action::"exec"', resource: 'Team::"ops"' },
    ]) {
      assert.notEqual(outsideSandbox(scope, r), null, JSON.stringify(r));
    }
  });
});

describe("the demo's executor-side guard", () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f?.cleanup());

  const call = (id: number, args: unknown, writ?: string): JSONRPCMessage =>
    ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'read_text_file', arguments: args, ...(writ !== undefined && { _meta: { 'writ/authorization': writ } }) } }) as JSONRPCMessage;

  it('forwards a call only with a writ for exactly its arguments, once', async () => {
    const d = await f.node.authorize({ principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read_text_file"', args: { path: 'notes/a.txt' }, audience: mcpAudience('fs') });
    assert.ok(d.writ);
    const server = new ServerSide();
    const guard = new GuardedUpstream(server, f.node, 'fs');
    const answers: JSONRPCMessage[] = [];
    guard.onmessage = (m) => answers.push(m);
    await guard.send(call(1, { path: 'notes/b.txt' }, d.writ)); // other arguments
    await guard.send(call(2, { path: 'notes/a.txt' })); // no writ
    assert.equal(server.received.length, 0, 'neither reached the server');
    await guard.send(call(3, { path: 'notes/a.txt' }, d.writ));
    assert.equal(server.received.length, 1, 'the writ for exactly these arguments');
    await guard.send(call(4, { path: 'notes/a.txt' }, d.writ)); // replayed
    assert.equal(server.received.length, 1, 'a writ is used once');
    const reasons = answers.map((m) => (m as { error?: { data?: { reasons?: string[] } } }).error?.data?.reasons?.[0]);
    assert.deepEqual(reasons, ['writ_intent_mismatch', 'writ_malformed', 'writ_replayed']);
    assert.equal(guard.forwarded, 1);
    assert.equal(guard.latest('read_text_file', { path: 'notes/a.txt' })?.ok, false, 'the latest check of these arguments was the refused replay');
  });
});

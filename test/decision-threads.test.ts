/**
 * Decision threads (src/node/decision-threads.ts, opt-in): concurrent decisions run Cedar
 * and sign on worker threads. They must decide exactly what the node's own thread decides,
 * under the bundle active when the decision began, and a thread that fails must deny —
 * never allow, never hang.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { verifyWrit, memoryJtiStore } from '../src/writ/verify.ts';
import { bundleBytes, fixture, policyFolder, type Fixture } from './helpers.ts';
import type { AuthorizeRequest } from '../src/node/types.ts';

const READ = (path: string): AuthorizeRequest => ({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path } });
const CASES: AuthorizeRequest[] = [
  READ('/srv/data.txt'), // agents-read-srv
  READ('/srv/secret/key'), // no-secrets forbids
  READ('/srv/../etc/shadow'), // no-dot-dot forbids
  { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/x' } }, // no permit
];

/** the worker threads inside a node's pool (test-only access, to make one fail) */
function poolOf(f: Fixture): { threads: { worker: Worker }[]; nextId: number } {
  const node = f.node as unknown as { threads: { threads: { worker: Worker }[]; nextId: number } | null };
  assert.ok(node.threads, 'the node was opened with decision threads');
  return node.threads;
}
const workersOf = (f: Fixture): Worker[] => poolOf(f).threads.map((t) => t.worker);

describe('decision threads', () => {
  let threaded: Fixture;
  let plain: Fixture;
  before(async () => {
    threaded = await fixture({ decisionThreads: 2 });
    plain = await fixture();
  });
  after(() => {
    threaded.cleanup();
    plain.cleanup();
  });

  it('concurrent decisions on threads decide what the node thread decides, and their writs verify', async () => {
    const requests = Array.from({ length: 64 }, (_, i) => CASES[i % CASES.length] as AuthorizeRequest);
    const [onThreads, onNode] = await Promise.all([Promise.all(requests.map((r) => threaded.node.authorize(r))), Promise.all(requests.map((r) => plain.node.authorize(r)))]);
    assert.ok(poolOf(threaded).nextId > 0, 'jobs ran on the threads');
    const consume = memoryJtiStore();
    for (const [i, d] of onThreads.entries()) {
      const e = onNode[i]!;
      assert.deepEqual([d.decision, d.reasons, d.policies], [e.decision, e.reasons, e.policies], `request ${i}`);
      if (d.decision === 'allow') {
        assert.equal(d.claims?.led, d.ledgerIndex);
        const r = requests[i]!;
        const v = await verifyWrit(d.writ, { keys: threaded.jwks, audience: r.resource, args: r.args, consume });
        assert.equal(v.claims.jti, d.claims?.jti);
      }
    }
    assert.ok(onThreads.some((d) => d.decision === 'allow') && onThreads.some((d) => d.decision === 'deny'));
  });

  it('a new bundle reaches the threads: decisions after activation follow it', async () => {
    const dir = policyFolder({
      'policy.cedar': '@id("all-reads") permit (principal, action == Action::"tools/call", resource == Tool::"fs/write");',
      'entities.json': '[]',
    });
    await threaded.node.policy.activate(bundleBytes(await threaded.sign(dir, { version: 50 })));
    const write = CASES[3] as AuthorizeRequest;
    const ds = await Promise.all(Array.from({ length: 16 }, () => threaded.node.authorize(write)));
    for (const d of ds) assert.deepEqual([d.decision, d.policies], ['allow', ['all-reads']]);
    const reads = await Promise.all(Array.from({ length: 16 }, () => threaded.node.authorize(CASES[0] as AuthorizeRequest)));
    for (const d of reads) assert.deepEqual([d.decision, d.reasons], ['deny', ['no_permit']]);
  });

  it('a thread that dies mid-decision denies the decisions it held, never allows, and is replaced', async () => {
    const before = workersOf(threaded);
    const pending = Array.from({ length: 32 }, () => threaded.node.authorize(CASES[3] as AuthorizeRequest));
    await Promise.all(before.map((w) => w.terminate()));
    const ds = await Promise.all(pending);
    assert.ok(ds.some((d) => d.decision === 'deny'), 'the jobs the dead threads held were denied');
    for (const d of ds) {
      if (d.decision === 'allow') {
        assert.ok(d.writ && d.claims?.led === d.ledgerIndex, 'an allow decided before the crash still has its evidence and writ');
      } else {
        assert.equal(d.writ, undefined);
        assert.ok(d.reasons.length === 1 && d.reasons[0] !== 'policy_permit', `deny reason ${d.reasons.join(',')}`);
      }
    }
    const after = workersOf(threaded);
    assert.ok(after.every((w) => !before.includes(w)), 'every dead thread was replaced');
    const again = await Promise.all(Array.from({ length: 16 }, () => threaded.node.authorize(CASES[3] as AuthorizeRequest)));
    for (const d of again) assert.equal(d.decision, 'allow', d.message);
  });
});

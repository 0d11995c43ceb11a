/**
 * The enforcement-point core (src/enforce/governed-call.ts) on its own: begin denies or
 * begins a call with verified claims, the lease ends it once on a revocation, and end
 * records exactly one outcome leaf, whichever way the call ended.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { begin, type BeginOptions, type Begun, type GovernedCall } from '../src/enforce/governed-call.ts';
import type { LedgerEntry } from '../src/ledger/ledger.ts';
import { decideApproval } from '../src/node/approval.ts';
import { revoke } from '../src/node/evidence.ts';
import type { AuthorizeRequest } from '../src/node/node.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';

const POLICY = `
@id("a1-runs-tools")
permit (principal == Agent::"a1", action == Action::"exec", resource);

@id("deploy-needs-a-human")
@approval("required")
permit (principal == Agent::"a1", action == Action::"deploy", resource);
`;

interface OutcomeLeaf {
  type: 'outcome';
  jti: string;
  node: string;
  status: string;
  reason: string | null;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  isError: boolean;
  resultDigest: string | null;
}

const decode = (e: LedgerEntry): OutcomeLeaf => JSON.parse(new TextDecoder().decode(e.leaf)) as OutcomeLeaf;

let serial = 0;
/** a fresh request each time: distinct args, so each is its own writ */
const request = (principal = 'Agent::"a1"'): AuthorizeRequest => ({ principal, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/true"', args: { argv: ['/usr/bin/true'], n: serial++ } });

const until = async (what: string, cond: () => boolean, ms = 3000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

function begun(b: Begun): GovernedCall {
  if ('denied' in b) assert.fail(`expected a call, got a denial: ${b.denied.reasons.join(',')}: ${b.denied.message}`);
  return b.call;
}

describe('governed call: the enforcement-point core', () => {
  let f: Fixture;
  let opts: (o?: Partial<BeginOptions>) => BeginOptions;
  const outcomes = (jti: string) => f.ledger.findByJti(jti, 'outcome').map(decode);
  const revokeWrit = (jti: string) => revoke(f.ledger, f.state, { kind: 'writ', value: jti, reason: 'test', by: 'test' });
  /**
   * A witness of the lease's checks: a call on the same node and cadence whose `also` counts
   * its checks. One watcher per node and cadence checks all its leases in each tick, in the
   * order they began, so every lease begun before the probe (and still held) was checked in
   * each tick the probe counts.
   */
  const probe = async () => {
    let checks = 0;
    const call = begun(await begin(opts({ lease: { pollMs: 10, also: () => (checks++, null) } })));
    return {
      async ticks(n: number) {
        const from = checks;
        await until(`${n} more lease ticks`, () => checks >= from + n);
      },
      end: () => call.abandon(),
    };
  };
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    opts = (o = {}) => ({ node: f.node, ledger: f.ledger, request: request(), verify: 'here', lease: { pollMs: 10 }, ...o });
  });
  after(() => f?.cleanup());

  it('begin denies with the node’s reasons and begins no call', async () => {
    const b = await begin(opts({ request: request('Agent::"nobody"') }));
    assert.ok('denied' in b);
    assert.deepEqual(b.denied.reasons, ['no_permit']);
    assert.equal(b.denied.decision.decision, 'deny');
    assert.equal(b.denied.decisionId, b.denied.decision.decisionId);
    assert.ok(f.ledger.findByDecisionId(b.denied.decisionId), 'the denial is recorded');
  });

  it('begin allows: the verified claims, the writ consumed here (and not when it is carried)', async () => {
    const req = request();
    const call = begun(await begin(opts({ request: req })));
    assert.equal(call.claims.sub, req.principal);
    assert.deepEqual(call.claims.act, { action: req.action, resource: req.resource });
    assert.equal(call.jti, call.claims.jti);
    assert.equal(call.terminated, null);
    const again = { audience: req.resource, args: req.args, consume: true };
    await assert.rejects(f.node.verify(call.writ, again), { code: 'writ_replayed' });
    await call.end({ status: 'ok' });

    const creq = request();
    const carried = begun(await begin(opts({ request: creq, verify: 'carried' })));
    const verified = await f.node.verify(carried.writ, { audience: creq.resource, args: creq.args, consume: true });
    assert.equal(verified.claims.jti, carried.jti, 'a carried writ is left for the executor to consume');
    carried.abandon();
  });

  it('begin denies with the verifier’s code when the writ fails verification here', async () => {
    let skew = 0;
    const g = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }), now: () => new Date(Date.now() + skew) });
    try {
      g.node.onDecision(() => (skew = 3600_000)); // the clock jumps between the decision and the verification
      const b = await begin({ node: g.node, ledger: g.ledger, request: request(), verify: 'here' });
      assert.ok('denied' in b);
      assert.deepEqual(b.denied.reasons, ['writ_expired']);
      assert.equal(b.denied.decision.decision, 'allow', 'the node allowed; verification refused');
    } finally {
      g.cleanup();
    }
  });

  it('approval_required is a denial without an approval wait, and allows once approved with one', async () => {
    const req = { ...request(), action: 'Action::"deploy"' };
    const d = await begin(opts({ request: req }));
    assert.ok('denied' in d);
    assert.deepEqual(d.denied.reasons, ['approval_required']);

    const asked: string[] = [];
    const onWait = (id: string) => {
      asked.push(id);
      void decideApproval(f.ledger, f.state, id, 'approved', 'Human::"h"'); // a human approves while the call waits
    };
    const approval = { state: f.state, timeoutMs: 5000, onWait };
    const call = begun(await begin(opts({ request: { ...req, args: { n: serial++ } }, approval })));
    assert.equal(asked.length, 1);
    assert.equal(call.decision.decision, 'allow');
    await call.end({ status: 'ok' });
  });

  it('a revocation after begin fires onTerminate once', async () => {
    const call = begun(await begin(opts()));
    const fired: string[] = [];
    call.onTerminate((r) => fired.push(r));
    call.onTerminate((r) => fired.push(`second listener: ${r}`));
    const p = await probe();
    await p.ticks(3);
    assert.deepEqual(fired, [], 'nothing fires before a revocation');
    await revokeWrit(call.jti);
    await until('onTerminate', () => fired.length >= 2);
    await p.ticks(5); // several more ticks
    p.end();
    assert.equal(fired.length, 2, 'each listener once');
    assert.match(fired[0] ?? '', /revoked/);
    assert.equal(call.terminated, fired[0]);
    const late: string[] = [];
    call.onTerminate((r) => late.push(r));
    await until('a listener added after the termination', () => late.length === 1);
    await call.end({ status: 'terminated', reason: 'writ_revoked' });
  });

  it('a revoked principal, and what only the enforcement point knows of (`also`), end the call too', async () => {
    const p = 'Agent::"a1"';
    const call = begun(await begin(opts()));
    let sessionRevoked = false;
    const other = begun(await begin(opts({ lease: { pollMs: 10, also: () => (sessionRevoked ? 'the session was revoked' : null) } })));
    sessionRevoked = true;
    await until('the `also` revocation', () => other.terminated !== null);
    assert.equal(other.terminated, 'the session was revoked');
    assert.equal(call.terminated, null, 'the other call is not covered');
    const g = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    try {
      const c = begun(await begin({ node: g.node, ledger: g.ledger, request: request(p), verify: 'here', lease: { pollMs: 10 } }));
      await revoke(g.ledger, g.state, { kind: 'principal', value: p, reason: 'test', by: 'test' });
      await until('the principal revocation', () => c.terminated !== null);
      await c.end({ status: 'terminated', reason: 'writ_revoked' });
    } finally {
      g.cleanup();
    }
    await Promise.all([call.end({ status: 'ok' }), other.end({ status: 'terminated', reason: 'writ_revoked' })]);
  });

  it('a revocation check that fails terminates the call (fail closed), and says why', async () => {
    const errors: unknown[] = [];
    const call = begun(await begin(opts({ lease: { pollMs: 10, onError: (e) => errors.push(e), also: () => { throw new Error('state.db is unreadable'); } } })));
    let told: string | null = null;
    call.onTerminate((r) => (told = r));
    await until('the failed check ends the call', () => call.terminated !== null);
    assert.match(String(call.terminated), /revocation state could not be read: state\.db is unreadable/);
    await until('onTerminate told', () => told !== null);
    assert.equal(errors.length, 1, 'reported once, then the lease is released');
    await call.end({ status: 'terminated', reason: 'writ_revoked' });
  });

  it('end records one outcome leaf with the call’s jti and node', async () => {
    const call = begun(await begin(opts()));
    const index = await call.end({ status: 'failed', exitCode: 3, signal: null });
    assert.equal(typeof index, 'number');
    const [leaf, ...more] = outcomes(call.jti);
    assert.equal(more.length, 0);
    assert.ok(leaf);
    assert.equal(leaf.node, f.node.identity.nodeId);
    assert.deepEqual(
      { status: leaf.status, reason: leaf.reason, exitCode: leaf.exitCode, signal: leaf.signal, isError: leaf.isError, resultDigest: leaf.resultDigest },
      { status: 'failed', reason: null, exitCode: 3, signal: null, isError: true, resultDigest: null },
    );
    assert.ok(Number.isInteger(leaf.durationMs) && leaf.durationMs >= 0);
    const carried = begun(await begin(opts({ verify: 'carried' })));
    await carried.end({ status: 'ok', isError: false, resultDigest: 'abc', durationMs: 0 });
    const [ok] = outcomes(carried.jti);
    assert.deepEqual([ok?.status, ok?.isError, ok?.resultDigest, ok?.durationMs], ['ok', false, 'abc', 0]);
  });

  it('a second end records nothing, and ends the lease: a later revocation fires nothing', async () => {
    const call = begun(await begin(opts()));
    const fired: string[] = [];
    call.onTerminate((r) => fired.push(r));
    const [first, second] = await Promise.all([call.end({ status: 'ok' }), call.end({ status: 'failed' })]);
    assert.equal(typeof first, 'number');
    assert.equal(second, null);
    assert.equal(await call.end({ status: 'terminated', reason: 'writ_revoked' }), null);
    assert.equal(outcomes(call.jti).length, 1);
    assert.equal(outcomes(call.jti)[0]?.status, 'ok');
    assert.ok(call.ended);
    const p = await probe();
    await revokeWrit(call.jti);
    await p.ticks(3); // the revocation was there to see for three ticks
    p.end();
    assert.deepEqual(fired, []);
    assert.equal(call.terminated, null);
  });

  it('end after a termination records the terminated outcome', async () => {
    const call = begun(await begin(opts()));
    await revokeWrit(call.jti);
    await until('the termination', () => call.terminated !== null);
    // the process exited 0 after the SIGTERM: it still ended because of the revocation
    await call.end({ status: 'ok', exitCode: 0, signal: null });
    const leaves = outcomes(call.jti);
    assert.equal(leaves.length, 1);
    assert.deepEqual([leaves[0]?.status, leaves[0]?.reason], ['terminated', 'writ_revoked']);
    // a call refused before it started keeps not_started, revoked or not
    const refused = begun(await begin(opts()));
    await revokeWrit(refused.jti);
    await until('the termination', () => refused.terminated !== null);
    await refused.end({ status: 'not_started', reason: 'attestation_mismatch', durationMs: 0 });
    assert.deepEqual([outcomes(refused.jti)[0]?.status, outcomes(refused.jti)[0]?.reason], ['not_started', 'attestation_mismatch']);
  });

  it('abandon stops the lease without recording anything', async () => {
    const call = begun(await begin(opts()));
    const fired: string[] = [];
    call.onTerminate((r) => fired.push(r));
    call.abandon();
    const p = await probe();
    await revokeWrit(call.jti);
    await p.ticks(3); // the revocation was there to see for three ticks
    p.end();
    assert.deepEqual(fired, []);
    assert.equal(outcomes(call.jti).length, 0);
  });
});

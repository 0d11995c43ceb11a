/** The node's fail-closed gate: every condition it checks before or around Cedar denies with its own code, and is recorded. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { revoke } from '../src/node/evidence.ts';
import { GovernanceNode, type AuthorizeRequest } from '../src/node/node.ts';
import type { Clock } from '../src/clock.ts';
import { bundleBytes, DEMO_POLICY, fixture, policyFolder, type Fixture } from './helpers.ts';

const READ: AuthorizeRequest = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/a' } };

async function deniedWith(f: Fixture, req: AuthorizeRequest, code: string): Promise<void> {
  const before = f.ledger.size();
  const d = await f.node.authorize(req);
  assert.equal(d.decision, 'deny', `expected deny ${code}, got ${d.decision}`);
  assert.deepEqual(d.reasons, [code], d.message);
  assert.equal(d.writ, undefined);
  assert.equal(f.ledger.size(), before + 1, 'the denial is recorded');
  const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entry(d.ledgerIndex as number)?.leaf)) as { result: { decision: string; reasons: string[] } };
  assert.deepEqual(leaf.result, { decision: 'deny', reasons: [code], policies: d.policies, errors: d.errors });
}

describe('fail-closed gate', () => {
  it('no active bundle: no_active_bundle', async () => {
    const f = await fixture({ policyDir: null });
    await deniedWith(f, READ, 'no_active_bundle');
    f.cleanup();
  });

  it('an active bundle that has since expired: bundle_expired', async () => {
    let now = new Date();
    const f = await fixture({ now: () => now });
    assert.equal((await f.node.authorize(READ)).decision, 'allow');
    now = new Date(Date.now() + 2 * 3600_000); // the fixture's bundles live one hour
    await deniedWith(f, READ, 'bundle_expired');
    f.cleanup();
  });

  for (const [kind, value, code] of [
    ['bundle', '1', 'bundle_revoked'],
    ['node', 'node-1', 'node_revoked'],
    ['quarantine', 'Agent::"a1"', 'principal_quarantined'],
    ['principal', 'Agent::"a1"', 'principal_revoked'],
  ] as const) {
    it(`${kind} revocation: ${code}`, async () => {
      const f = await fixture();
      assert.equal((await f.node.authorize(READ)).decision, 'allow');
      await revoke(f.ledger, f.state, { kind, value, reason: 'test', by: 'test' });
      await deniedWith(f, READ, code);
      f.cleanup();
    });
  }

  it('minVersion: waits briefly, then behind_min_version; satisfied when the bundle arrives in time', async () => {
    const f = await fixture({ limits: { minVersionWaitMs: 150 } });
    const started = performance.now();
    await deniedWith(f, { ...READ, minVersion: 2 }, 'behind_min_version');
    assert.ok(performance.now() - started >= 140, 'it waited before denying');
    assert.equal((await f.node.authorize({ ...READ, minVersion: 1 })).decision, 'allow');
    const next = bundleBytes(await f.sign(DEMO_POLICY, { version: 2 }));
    const pending = f.node.authorize({ ...READ, minVersion: 2 });
    setTimeout(() => void f.node.policy.activate(next), 30); // arrives while the decision waits (150 ms): the point of the test
    assert.equal((await pending).decision, 'allow');
    f.cleanup();
  });

  it("minVersion: the bounded wait runs on the node's injected clock, and so does governance time when no `now` is given", async () => {
    const f = await fixture();
    let t = Date.now();
    const waits: number[] = [];
    // a clock whose timers fire at once, moving its time on: a minute's wait takes no real time
    const clock: Clock = {
      now: () => t,
      after(ms, run) {
        waits.push(ms);
        t += ms;
        setImmediate(run);
        return () => undefined;
      },
      every: () => () => undefined,
    };
    const node = new GovernanceNode({ identity: f.node.identity, limits: { minVersionWaitMs: 60_000 }, policy: f.node.policy, ledger: f.ledger, state: f.state, clock });
    assert.equal(node.now().getTime(), t, 'now is the clock\'s');
    const started = performance.now();
    const asked = t;
    const d = await node.authorize({ ...READ, minVersion: 2 });
    assert.deepEqual(d.reasons, ['behind_min_version'], d.message);
    assert.ok(performance.now() - started < 30_000, 'the wait did not run on the process clock');
    assert.ok(waits.length > 0 && waits.every((ms) => ms === 25), 'it polled on the injected clock');
    assert.ok(t - asked >= 60_000, 'until the deadline on that clock');
    const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entry(d.ledgerIndex as number)?.leaf)) as { time: string };
    assert.equal(leaf.time, new Date(asked).toISOString(), 'the decision is recorded at the clock\'s time');
    f.cleanup();
  });

  it('a malformed attestation digest: attestation_mismatch', async () => {
    const f = await fixture();
    await deniedWith(f, { ...READ, attestation: { binaryDigest: 'md5:abc' } }, 'attestation_mismatch');
    f.cleanup();
  });

  it('an error while evaluating: policy_evaluation_error (the erroring forbid does not silently fall away)', async () => {
    const dir = policyFolder({
      'p.cedar': '@id("allow-all")\npermit (principal, action, resource);\n@id("forbid-when-flag")\nforbid (principal, action, resource) when { context.flag };\n',
    });
    const f = await fixture({ policyDir: dir });
    const d = await f.node.authorize(READ); // context.flag is missing: the forbid errors
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.reasons, ['policy_evaluation_error']);
    assert.deepEqual(d.policies, ['forbid-when-flag']);
    assert.equal((await f.node.authorize({ ...READ, context: { flag: false } })).decision, 'allow');
    f.cleanup();
  });

  it('an unknown type under the schema: schema_violation', async () => {
    const dir = policyFolder({
      'schema.cedarschema':
        'entity Agent; entity Tool;\naction "tools/call" appliesTo { principal: Agent, resource: Tool, context: { args: { path: String }, now: Long, lineage: { depth: Long, rootPrincipal: String, parentAction: String, parent: String }, attestation: { binaryDigest: String, domain: String, node: String } } };\n',
      'p.cedar': '@id("read")\npermit (principal, action == Action::"tools/call", resource) when { context.args.path like "/srv/*" };\n',
    });
    const f = await fixture({ policyDir: dir });
    assert.equal((await f.node.authorize(READ)).decision, 'allow');
    await deniedWith(f, { ...READ, principal: 'Robot::"r1"' }, 'schema_violation');
    await deniedWith(f, { ...READ, resource: 'Database::"prod"' }, 'schema_violation');
    await deniedWith(f, { ...READ, action: 'Action::"tools/delete"' }, 'schema_violation');
    await deniedWith(f, { ...READ, args: { path: 7 } }, 'schema_violation');
    f.cleanup();
  });

  it('any internal error: internal_error, recorded, never an allow', async () => {
    const f = await fixture();
    const engine = f.node.policy.active?.engine;
    assert.ok(engine);
    engine.evaluate = () => {
      throw new Error('boom');
    };
    await deniedWith(f, READ, 'internal_error');
    f.cleanup();
  });
});

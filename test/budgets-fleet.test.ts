/**
 * Budgets in a fleet (docs/budgets.md, "Fleet"): two `writ node`s over the real NATS
 * JetStream share one budget through the fleet's usage bucket (compare-and-set), and a
 * node cut off from NATS denies a counted request (usage_unavailable) instead of guessing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestFleet, type DecisionBody } from './fleet-harness.ts';

const BUDGETS = join(import.meta.dirname, 'fixtures', 'budgets');

describe('budgets shared by two fleet nodes', { timeout: 120_000 }, () => {
  let f: TestFleet;
  before(async () => {
    f = await TestFleet.start({ nodes: 2, initialVersion: 0, proxied: [1] });
    const v = await f.pushFile(await f.sign(1, { policyDir: BUDGETS }));
    await f.waitReady(v.version);
  });
  after(async () => {
    await f?.close();
  });

  const call = (i: number, p: string) => {
    const n = f.nodes[i];
    assert.ok(n);
    return f.authorize(n, { principal: `User::"${p}"`, action: 'Action::"call"', resource: 'Tool::"t"' });
  };
  const pay = (i: number, p: string, amount: number) => {
    const n = f.nodes[i];
    assert.ok(n);
    return f.authorize(n, { principal: `User::"${p}"`, action: 'Action::"pay"', resource: 'Account::"a"', args: { amount } });
  };
  const reasons = (b: DecisionBody) => b.reasons.join(',');

  it('3 calls a minute, spent on either node: the 4th is denied on both', async () => {
    for (const i of [0, 1, 0]) assert.equal((await call(i, 'alice')).body.decision, 'allow');
    for (const i of [1, 0]) {
      const d = await call(i, 'alice');
      assert.equal(d.body.decision, 'deny');
      assert.equal(reasons(d.body), 'budget_exceeded', d.body.message);
    }
  });

  it('concurrent calls on both nodes at the limit: exactly 3 of 12 are allowed', async () => {
    const ds = await Promise.all(Array.from({ length: 12 }, (_, i) => call(i % 2, 'bob')));
    const allowed = ds.filter((d) => d.body.decision === 'allow');
    assert.equal(allowed.length, 3, ds.map((d) => `${d.body.decision} ${reasons(d.body)}`).join('; '));
    assert.ok(ds.filter((d) => d.body.decision === 'deny').every((d) => reasons(d.body) === 'budget_exceeded'));
  });

  it('a spend cap: what one node allowed counts at the other', async () => {
    assert.equal((await pay(0, 'carol', 600)).body.decision, 'allow');
    const over = await pay(1, 'carol', 500);
    assert.equal(reasons(over.body), 'budget_exceeded');
    assert.equal((await pay(1, 'carol', 400)).body.decision, 'allow', 'a denial took no share of the budget');
    assert.equal(reasons((await pay(0, 'carol', 1)).body), 'budget_exceeded');
  });

  it('a node cut off from NATS denies a counted request: usage_unavailable', async () => {
    const n = f.nodes[1];
    assert.ok(n?.proxy);
    n.proxy.partition();
    try {
      const d = await call(1, 'dave');
      assert.equal(d.body.decision, 'deny');
      // its beacon is still fresh: the gate passes, the count cannot be established (and the denial cannot reach the stream either)
      assert.ok(d.body.reasons.includes('usage_unavailable'), reasons(d.body));
      assert.ok(!d.body.reasons.includes('stale_policy'), reasons(d.body));
      assert.ok(!d.body.writ);
    } finally {
      n.proxy.heal();
    }
  });
});

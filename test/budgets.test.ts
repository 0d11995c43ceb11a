/** Budgets and rate limits (docs/budgets.md): usage counters on the embedded ledger, their reason codes, replay and lint. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Ledger } from '../src/ledger/ledger.ts';
import { GovernanceNode } from '../src/node/node.ts';
import { replayDecisions } from '../src/node/replay.ts';
import type { UsageMeter } from '../src/node/usage.ts';
import { FleetUsageMeter } from '../src/node/usage-fleet.ts';
import { readPolicyFolder } from '../src/policy/sign.ts';
import { loadPolicySource, PolicySourceError } from '../src/policy/source.ts';
import { canonicalJson } from '../src/writ/intent.ts';
import { writ } from './cli-fixture.ts';
import { bundleBytes, fixture, policyFolder, type Fixture } from './helpers.ts';

const BUDGETS = join(import.meta.dirname, 'fixtures', 'budgets');

interface Leaf {
  input: { context: Record<string, unknown> & { usage?: Record<string, number> } } | null;
  result: { reasons: string[] };
}

describe('budgets on the embedded ledger', () => {
  let f: Fixture;
  let t = Date.now();
  before(async () => {
    f = await fixture({ policyDir: BUDGETS, now: () => new Date(t) });
  });
  after(() => f.cleanup());

  const leafAt = (i: number | null): Leaf => JSON.parse(new TextDecoder().decode(f.ledger.entry(i as number)?.leaf)) as Leaf;
  const call = (p: string) => f.node.authorize({ principal: `User::"${p}"`, action: 'Action::"call"', resource: 'Tool::"t"' });
  const pay = (p: string, amount: unknown) => f.node.authorize({ principal: `User::"${p}"`, action: 'Action::"pay"', resource: 'Account::"a"', args: { amount } });

  it('a limit of 3 calls a minute denies the 4th with budget_exceeded, per principal, and lets one through once the window slid', async () => {
    const t0 = t;
    for (let i = 0; i < 3; i++) {
      t = t0 + i * 1000;
      const d = await call('alice');
      assert.equal(d.decision, 'allow', d.message);
      assert.equal(leafAt(d.ledgerIndex).input?.context.usage?.calls_per_minute, i, 'the recorded usage counts the earlier allows');
    }
    t = t0 + 3000;
    const fourth = await call('alice');
    assert.equal(fourth.decision, 'deny');
    assert.deepEqual(fourth.reasons, ['budget_exceeded']);
    assert.deepEqual(fourth.policies, ['calls-per-minute']);
    assert.equal(leafAt(fourth.ledgerIndex).input?.context.usage?.calls_per_minute, 3);
    assert.equal((await call('bob')).decision, 'allow', 'counted per principal');
    // the window is (t − 60 s, t]: at t0 + 60 s the first call is out of it, the denial never counted
    t = t0 + 60_000;
    const again = await call('alice');
    assert.equal(again.decision, 'allow', again.message);
    assert.equal(leafAt(again.ledgerIndex).input?.context.usage?.calls_per_minute, 2);
    assert.deepEqual((await call('alice')).reasons, ['budget_exceeded'], 'and the slot it took is taken');
  });

  it('a spend cap on amount denies the call that would exceed it, and allows one that reaches it exactly', async () => {
    t += 1000;
    assert.equal((await pay('carol', 600)).decision, 'allow');
    assert.equal((await pay('carol', 300)).decision, 'allow');
    const over = await pay('carol', 200);
    assert.deepEqual(over.reasons, ['budget_exceeded']);
    assert.deepEqual(over.policies, ['spend-cap']);
    assert.equal(leafAt(over.ledgerIndex).input?.context.usage?.spend_per_hour, 900);
    const exact = await pay('carol', 100);
    assert.equal(exact.decision, 'allow', exact.message);
    assert.deepEqual((await pay('carol', 1)).reasons, ['budget_exceeded']);
  });

  it('an amount the sum cannot count (negative, fractional, text) is refused before evaluation', async () => {
    for (const amount of [-5, 1.5, '100']) {
      const d = await pay('dave', amount);
      assert.deepEqual(d.reasons, ['request_invalid'], String(amount));
      assert.match(d.message, /usage counter spend_per_hour sums it/);
    }
  });

  it('concurrent calls at the limit: exactly 3 of 10 are allowed', async () => {
    t += 1000;
    const ds = await Promise.all(Array.from({ length: 10 }, () => call('erin')));
    assert.equal(ds.filter((d) => d.decision === 'allow').length, 3);
    assert.ok(ds.filter((d) => d.decision === 'deny').every((d) => d.reasons.includes('budget_exceeded')));
  });

  it('a request no counter applies to carries no context.usage; a caller may not set it', async () => {
    const d = await f.node.authorize({ principal: 'User::"alice"', action: 'Action::"read"', resource: 'Doc::"d"' });
    assert.equal(d.decision, 'allow');
    assert.equal(leafAt(d.ledgerIndex).input?.context.usage, undefined);
    const forged = await f.node.authorize({ principal: 'User::"zed"', action: 'Action::"call"', resource: 'Tool::"t"', context: { usage: { calls_per_minute: 0 } } });
    assert.deepEqual(forged.reasons, ['request_invalid']);
  });

  it('replay agrees, and reports a usage value the ledger before it does not show', async () => {
    const clean = await replayDecisions(f.ledger, f.state, f.trust);
    assert.deepEqual(clean.differences, []);
    assert.ok(clean.replayed > 20);
    // a node that lied: the third allow of the first test recorded 1 call instead of 2 (Cedar still allows it, only the count is wrong)
    const third = f.ledger.entries(0, 1000).find((e) => {
      const l = JSON.parse(new TextDecoder().decode(e.leaf)) as Leaf & { type: string };
      return l.type === 'decision' && l.input?.context.usage?.calls_per_minute === 2 && l.result.reasons[0] === 'policy_permit';
    });
    assert.ok(third);
    const leaf = JSON.parse(new TextDecoder().decode(third.leaf)) as Leaf;
    (leaf.input as { context: { usage: Record<string, number> } }).context.usage.calls_per_minute = 1;
    f.db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(new TextEncoder().encode(canonicalJson(leaf)), third.index);
    const report = await replayDecisions(f.ledger, f.state, f.trust);
    assert.equal(report.differences.length, 1);
    assert.equal(report.differences[0]?.index, third.index);
    assert.match(report.differences[0]?.error ?? '', /calls_per_minute: recorded 1, the ledger shows 2/);
    const cli = writ(['audit', 'replay', '--home', f.home]);
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /usage re-derived from the ledger differs: calls_per_minute: recorded 1, the ledger shows 2/);
    f.db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(third.leaf, third.index);
  });

  it('fails closed (usage_unavailable) where the ledger is not the whole log, and never asks a meter for what no counter counts', async () => {
    // a ledger that cannot answer for the whole log (a fleet node's stream mirror): no approvalUse
    const l = f.ledger;
    const partial: Ledger = { append: (r, a) => l.append(r, a), entry: (i) => l.entry(i), size: () => l.size(), entries: (a, b) => l.entries(a, b), findByJti: (j, ty) => l.findByJti(j, ty), findByDecisionId: (i) => l.findByDecisionId(i), writ: (j) => l.writ(j), children: (j) => l.children(j) };
    const mirror = new GovernanceNode({ identity: f.node.identity, policy: f.node.policy, ledger: partial, state: f.state, now: () => new Date(t) });
    const d = await mirror.authorize({ principal: 'User::"fay"', action: 'Action::"call"', resource: 'Tool::"t"' });
    assert.deepEqual(d.reasons, ['usage_unavailable']);
    assert.equal(leafAt(d.ledgerIndex).input, null, 'recorded, and not replayed');
    let opened = 0;
    const spy: UsageMeter = { open: () => (opened++, Promise.reject(new Error('not here'))) };
    const spied = new GovernanceNode({ identity: f.node.identity, policy: f.node.policy, ledger: f.ledger, state: f.state, now: () => new Date(t), usage: spy });
    assert.equal((await spied.authorize({ principal: 'User::"fay"', action: 'Action::"read"', resource: 'Doc::"d"' })).decision, 'allow');
    assert.equal(opened, 0);
    assert.deepEqual((await spied.authorize({ principal: 'User::"fay"', action: 'Action::"call"', resource: 'Tool::"t"' })).reasons, ['internal_error']);
    assert.equal(opened, 1);
  });
});

describe('a bundle without usage.json', () => {
  it('never reaches the meter', async () => {
    const f = await fixture();
    try {
      let opened = 0;
      const spy: UsageMeter = { open: () => (opened++, Promise.reject(new Error('not here'))) };
      const node = new GovernanceNode({ identity: f.node.identity, policy: f.node.policy, ledger: f.ledger, state: f.state, usage: spy });
      const d = await node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/data.txt' } });
      assert.equal(d.decision, 'allow', d.message);
      assert.equal(opened, 0);
    } finally {
      f.cleanup();
    }
  });
});

describe('usage.json is checked at lint, sign and activation', () => {
  const policies = '@id("p")\n@budget("per_min")\nforbid (principal, action, resource) when { context.usage.per_min >= 1 };\n@id("q") permit (principal, action, resource);\n';
  const lint = (usage: string, cedar = policies): string => {
    try {
      loadPolicySource(readPolicyFolder(policyFolder({ 'p.cedar': cedar, 'usage.json': usage })));
      return '';
    } catch (err) {
      assert.ok(err instanceof PolicySourceError, String(err));
      return err.message;
    }
  };
  const counter = (c: Record<string, unknown>) => JSON.stringify({ v: 1, counters: [{ name: 'per_min', window: 60, count: 'calls', ...c }] });

  it('writ policy lint and test: the fixture folder lints clean and its tests, which fix context.usage, pass', () => {
    const r = writ(['policy', 'test', BUDGETS]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /3 passed/);
    assert.equal(writ(['policy', 'lint', BUDGETS]).status, 0);
  });

  it('a well-formed one lints clean', () => {
    assert.equal(lint(counter({ by: ['principal', 'action'], match: { resourceType: ['Tool'] } })), '');
  });

  it('names each mistake with its file', () => {
    assert.match(lint('{'), /^usage\.json:1:1: not JSON/);
    assert.match(lint(JSON.stringify({ v: 2, counters: [] })), /"v" must be 1/);
    assert.match(lint(counter({ window: 0 })), /per_min: "window" must be whole seconds/);
    assert.match(lint(counter({ count: { sum: 'a', x: 1 } })), /"count" must be "calls" or \{"sum"/);
    assert.match(lint(counter({ by: ['principal', 'principal'] })), /"by" must list distinct parts/);
    assert.match(lint(counter({ by: ['tenant'] })), /"by" must list distinct parts/);
    assert.match(lint(counter({ match: { verb: 'x' } })), /"match" has unknown member "verb"/);
    assert.match(lint(counter({ name: 'per-min' })), /"name" must be an identifier/);
    assert.match(lint(counter({ extra: true })), /unknown member "extra"/);
  });

  it('a @budget naming no declared counter is an error', () => {
    assert.match(lint(counter({}), policies.replace('@budget("per_min")', '@budget("per_hour")')), /p\.cedar:1:1: policy p: @budget\("per_hour"\) names no counter declared in usage\.json/);
  });

  it('activation refuses a signed bundle whose usage.json is bad', async () => {
    const f = await fixture({ policyDir: null });
    try {
      const good = await f.sign(BUDGETS);
      await f.node.policy.activate(bundleBytes(good));
      const dir = policyFolder({ 'p.cedar': policies, 'usage.json': counter({ window: 'a minute' }) });
      // signed past the linter (buildBundle does not lint): activation compiles and refuses it
      const bad = await f.sign(dir);
      await assert.rejects(f.node.policy.activate(bundleBytes(bad)), (e: Error & { code?: string }) => e.code === 'bundle_policy_invalid' && /usage\.json/.test(e.message));
      const sign = writ(['policy', 'sign', dir, '--home', f.home, '--out', join(dir, 'b.json')]);
      assert.notEqual(sign.status, 0);
      assert.match(sign.stderr, /usage\.json:1:1: per_min: "window" must be whole seconds/);
    } finally {
      f.cleanup();
    }
  });
});

describe('the fleet meter over a shared swap store', () => {
  /** a swap store in memory, as NATS KV behaves: a put expecting a stale revision fails; `down` makes every call reject */
  function memoryStore() {
    const values = new Map<string, { value: Uint8Array; revision: number }>();
    let revision = 0;
    const s = {
      down: false,
      swaps: 0,
      async get(key: string) {
        await new Promise((r) => setImmediate(r)); // a round trip: lets racing requests interleave
        if (s.down) throw new Error('no responders');
        return values.get(key) ?? null;
      },
      async swap(key: string, value: Uint8Array, expected: number) {
        await new Promise((r) => setImmediate(r));
        if (s.down) throw new Error('no responders');
        s.swaps++;
        if ((values.get(key)?.revision ?? 0) !== expected) return false;
        values.set(key, { value, revision: ++revision });
        return true;
      },
    };
    return s;
  }

  it('two nodes racing for one budget allow exactly its limit; denials give their slot back; an unreachable store denies', async () => {
    const f = await fixture({ policyDir: BUDGETS });
    try {
      const store = memoryStore();
      // two nodes, each with its own meter (and so its own locks), one store: only compare-and-set keeps them apart
      const nodes = [0, 1].map(() => new GovernanceNode({ identity: f.node.identity, policy: f.node.policy, ledger: f.ledger, state: f.state, usage: new FleetUsageMeter(store) }));
      const call = (n: GovernanceNode) => n.authorize({ principal: 'User::"gil"', action: 'Action::"call"', resource: 'Tool::"t"' });
      const ds = await Promise.all(Array.from({ length: 10 }, (_, i) => call(nodes[i % 2] as GovernanceNode)));
      assert.equal(ds.filter((d) => d.decision === 'allow').length, 3);
      assert.ok(store.swaps > 10, 'the racing writes collided and were retried');
      // the 7 denials took their reservations out again: a spend cap still has room exactly where it should
      const pay = (n: GovernanceNode, amount: number) => n.authorize({ principal: 'User::"gil"', action: 'Action::"pay"', resource: 'Account::"a"', args: { amount } });
      assert.equal((await pay(nodes[0] as GovernanceNode, 700)).decision, 'allow');
      assert.deepEqual((await pay(nodes[1] as GovernanceNode, 400)).reasons, ['budget_exceeded']);
      assert.equal((await pay(nodes[1] as GovernanceNode, 300)).decision, 'allow', 'the denied 400 was given back');
      store.down = true;
      const d = await call(nodes[0] as GovernanceNode);
      assert.deepEqual(d.reasons, ['usage_unavailable']);
      assert.match(d.message, /could not be reached: no responders/);
    } finally {
      f.cleanup();
    }
  });
});

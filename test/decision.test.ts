import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, type Fixture } from './helpers.ts';

describe('governed decision path', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.cleanup());

  it('allows what the demo policy permits and returns a writ recorded in the ledger first', async () => {
    const d = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/data.txt' } });
    assert.equal(d.decision, 'allow', d.message);
    assert.deepEqual(d.policies, ['agents-read-srv']);
    assert.ok(d.writ && d.claims);
    assert.equal(d.claims.led, d.ledgerIndex);
    const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entry(d.ledgerIndex as number)?.leaf)) as { type: string; writ: { jti: string } };
    assert.equal(leaf.type, 'decision');
    assert.equal(leaf.writ.jti, d.claims.jti);
  });

  it('denies by default and records the denial', async () => {
    const d = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/x' } });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.reasons, ['no_permit']);
    assert.equal(d.writ, undefined);
    assert.ok(f.ledger.entry(d.ledgerIndex as number));
  });

  it('forbid overrides permit', async () => {
    const d = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/secret/key' } });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.reasons, ['policy_forbid']);
    assert.deepEqual(d.policies, ['no-secrets']);
  });

  it('a path that climbs out with .. is refused even under an allowed prefix', async () => {
    const d = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/../etc/shadow' } });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.policies, ['no-dot-dot']);
  });

  it('no durable evidence, no writ: a failed append denies with ledger_append_failed', async () => {
    const before = f.ledger.size();
    f.ledger.failNextAppends = 1;
    const d = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/ok' } });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.reasons, ['ledger_append_failed']);
    assert.equal(d.writ, undefined);
    assert.equal(f.ledger.size(), before);
  });

  it('refuses node-reserved context keys and Cedar escapes in args', async () => {
    const d1 = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', context: { now: 0 } });
    assert.deepEqual(d1.reasons, ['request_invalid']);
    const d2 = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: { __entity: { type: 'X', id: 'y' } } } });
    assert.deepEqual(d2.reasons, ['request_invalid']);
  });

  it('rejects malformed entity UIDs', async () => {
    const d = await f.node.authorize({ principal: 'a1', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.reasons, ['request_invalid']);
  });
});

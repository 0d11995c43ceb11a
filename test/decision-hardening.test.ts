/** Requests the evidence cannot hold exactly, and audiences that name another resource: recorded denials that reveal nothing of the policy. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { revoke } from '../src/node/evidence.ts';
import { fixture, policyFolder } from './helpers.ts';

const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };

describe('decision path: unrepresentable arguments and foreign audiences', () => {
  it('arguments with no RFC 8785 form are a recorded request_invalid, the same whatever the policy would say', async () => {
    const f = await fixture();
    try {
      for (const junk of [Infinity, Number.NaN, '\ud800']) {
        const seen = [];
        for (const path of ['/srv/a', '/srv/secret']) {
          const before = f.ledger.size();
          const d = await f.node.authorize({ ...READ, args: { path, x: junk } });
          assert.equal(d.decision, 'deny');
          assert.deepEqual(d.reasons, ['request_invalid'], `${String(junk)} ${path}: ${d.message}`);
          assert.equal(f.ledger.size(), before + 1, 'recorded');
          const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entries(before, 1)[0]?.leaf)) as { request: { args: unknown }; input: unknown };
          assert.deepEqual(leaf.request.args, { unrepresentable: true });
          assert.equal(leaf.input, null);
          seen.push(d.policies);
        }
        assert.deepEqual(seen, [[], []], 'no policy is named: the denial does not reveal what the policy would decide');
      }
    } finally {
      f.cleanup();
    }
  });

  it('an audience naming another resource is a recorded request_invalid; a non-resource audience (an MCP server) is fine', async () => {
    const f = await fixture();
    try {
      const before = f.ledger.size();
      const d = await f.node.authorize({ ...READ, args: { path: '/srv/a' }, audience: 'Tool::"fs/write"' });
      assert.deepEqual([d.decision, d.reasons], ['deny', ['request_invalid']]);
      assert.equal(f.ledger.size(), before + 1);
      const same = await f.node.authorize({ ...READ, args: { path: '/srv/a' }, audience: ' Tool::"fs/read"' });
      assert.equal(same.decision, 'allow', 'the resource itself, in any spelling');
      const mcp = await f.node.authorize({ ...READ, args: { path: '/srv/a' }, audience: 'mcp:files' });
      assert.equal(mcp.decision, 'allow');
      assert.equal(mcp.claims?.aud, 'mcp:files');
    } finally {
      f.cleanup();
    }
  });

  it('a revocation or quarantine takes however the principal is spelled, by the operator or by the request', async () => {
    const f = await fixture();
    try {
      const odd = 'Agent::"\\u0061\\u0031"'; // Agent::"a1", escaped
      const first = await f.node.authorize({ ...READ, principal: odd, args: { path: '/srv/a' } });
      assert.equal(first.decision, 'allow');
      await revoke(f.ledger, f.state, { kind: 'quarantine', value: ' Agent::"a1"', reason: 'test', by: 'test' });
      assert.deepEqual((await f.node.authorize({ ...READ, principal: odd, args: { path: '/srv/a' } })).reasons, ['principal_quarantined']);
      assert.deepEqual((await f.node.authorize({ ...READ, args: { path: '/srv/a' } })).reasons, ['principal_quarantined']);
      await revoke(f.ledger, f.state, { kind: 'principal', value: odd, reason: 'test', by: 'test' });
      await assert.rejects(f.node.verify(first.writ as string, { audience: READ.resource, args: { path: '/srv/a' }, consume: false }), /revoked/);
    } finally {
      f.cleanup();
    }
  });

  it('a null argument is present for `has`: {"mode": null} does not step around a forbid on the member', async () => {
    const f = await fixture({
      policyDir: policyFolder({ 'p.cedar': '@id("read") permit (principal, action, resource == Tool::"fs/read");\n@id("no-mode") forbid (principal, action, resource) when { context.args has mode };\n' }),
    });
    try {
      assert.equal((await f.node.authorize({ ...READ, args: { path: '/a' } })).decision, 'allow');
      assert.deepEqual((await f.node.authorize({ ...READ, args: { path: '/a', mode: null } })).policies, ['no-mode']);
    } finally {
      f.cleanup();
    }
  });
});

/**
 * Revocation in the middle of an MCP session through `writ mcp` (stdio, upstream
 * @modelcontextprotocol/server-everything): after `writ revoke` the next call is denied,
 * and a call still running when its writ is revoked ends with writ_revoked and a
 * `terminated` outcome.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { leafObject } from '../src/ledger/leaf.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { allowedFor, connectStdio, decisionsSince, EVERYTHING, mcpError, ok, outcomesOf, proxyCommand, SESSION_PERMIT, tool, until, writAsync, WRIT_DENIED, type Connected } from './mcp-helpers.ts';

const POLICY = `${SESSION_PERMIT}
@id("agents-use-tools")
permit (principal is Agent, action == Action::"tools/call", resource)
when { [${tool('echo')}, ${tool('trigger-long-running-operation')}].contains(resource) };
`;

describe('writ mcp: revocation in the middle of a session', () => {
  let f: Fixture;
  const sessions: Connected[] = [];
  const connect = async (principal: string) => {
    const c = await connectStdio(proxyCommand(f.home, principal, [EVERYTHING, 'stdio']));
    sessions.push(c);
    return c;
  };
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
  });
  after(async () => {
    await Promise.allSettled(sessions.map((s) => s.close()));
    f?.cleanup();
  });

  const echo = (c: Connected, message: string) => c.client.callTool({ name: 'echo', arguments: { message } });

  it('denies the next call once the principal is revoked (writ revoke --kind principal)', async () => {
    const [a1, other] = await Promise.all([connect('Agent::"a1"'), connect('Agent::"other"')]);
    assert.deepEqual((await echo(a1, 'before')).content, [{ type: 'text', text: 'Echo: before' }]);
    ok(await writAsync(['revoke', '--home', f.home, '--kind', 'principal', 'Agent::"a1"']), 'revoke');
    const from = f.ledger.size();
    const e = await mcpError(echo(a1, 'after'));
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['principal_revoked']);
    assert.ok(e.data.decisionId && f.ledger.findByDecisionId(e.data.decisionId));
    assert.ok(!decisionsSince(f, from).some((d) => d.result.decision === 'allow' && d.request.principal === 'Agent::"a1"'), 'nothing was allowed for a1 after its revocation');
    // another principal's session is unaffected
    assert.deepEqual((await echo(other, 'still fine')).content, [{ type: 'text', text: 'Echo: still fine' }]);
  });

  it("denies the next call once the session's root writ is revoked", async () => {
    const c = await connect('Agent::"a2"');
    const from = f.ledger.size();
    await echo(c, 'first');
    const root = allowedFor(f, from, tool('echo')).writ.lin.root;
    assert.equal(f.ledger.writ(root)?.action, 'Action::"mcp/session"');
    ok(await writAsync(['revoke', '--home', f.home, root]), 'revoke the session');
    const after = f.ledger.size();
    const e = await mcpError(echo(c, 'second'));
    assert.equal(e.code, WRIT_DENIED, 'a call in a revoked session was not denied');
    assert.ok(e.data.decisionId && f.ledger.findByDecisionId(e.data.decisionId));
    assert.ok(!decisionsSince(f, after).some((d) => d.result.decision === 'allow'), 'the revoked session was silently replaced by a new allowed root');
  });

  it('ends a call still running when its writ is revoked: error writ_revoked, outcome terminated, session usable', async () => {
    const c = await connect('Agent::"a3"');
    const from = f.ledger.size();
    let progressed = 0;
    const started = Date.now();
    let endedAt = 0;
    const running = mcpError(
      c.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 40 } }, undefined, { onprogress: () => void progressed++ }),
    ).finally(() => (endedAt = Date.now()));
    await until('the long call to be running (a progress notification)', () => progressed > 0);
    const jti = allowedFor(f, from, tool('trigger-long-running-operation')).writ.jti;
    ok(await writAsync(['revoke', '--home', f.home, jti]), 'revoke the running call');
    const e = await running;
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['writ_revoked']);
    assert.equal(e.data.jti, jti);
    // from the revocation's recorded time, not from spawning `writ revoke`: the CLI's own start-up
    // (seconds on a loaded machine) is not the proxy's reaction time
    const [revocation] = f.ledger.findByJti(jti, 'revocation');
    assert.ok(revocation, 'the revocation is in the ledger');
    const revokedAt = Date.parse((leafObject(revocation.leaf) as { time: string }).time);
    assert.ok(endedAt - revokedAt < 3000, `ended ${endedAt - revokedAt} ms after the revocation`);
    assert.ok(endedAt - started < 10_000, 'ended long before the operation would have completed');

    const [o] = await until('the outcome', () => outcomesOf(f, jti).length > 0 && outcomesOf(f, jti));
    assert.equal(o?.status, 'terminated');
    assert.equal(o?.reason, 'writ_revoked');
    assert.equal(outcomesOf(f, jti).length, 1);

    // only that writ was revoked: the session goes on
    const afterCount = progressed;
    assert.deepEqual((await echo(c, 'next')).content, [{ type: 'text', text: 'Echo: next' }]);
    // longer than the operation's progress interval (20 s / 40 steps = 500 ms): a progress the upstream's own
    // timer would send, and nothing of the upstream's marks its absence (no witness to wait on)
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(progressed <= afterCount + 1, 'progress of the cancelled call keeps arriving');
  });
});

/**
 * What an MCP client is told of a refusal (issue 16, point 1): the error's data names the
 * decision (its id and ledger index, which `writ explain` takes), the principal, action and
 * resource Cedar evaluated, and whether the call or the session was refused — here through
 * `writ mcp`'s governor in front of the real filesystem server (the demo's path).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { openDemoMcp } from '../src/demo/mcp-session.ts';
import { Sandbox } from '../src/demo/sandbox.ts';
import { WRIT_DENIED } from '../src/enforce/mcp/names.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';

interface DenialData {
  reasons: string[];
  decisionId: string;
  ledgerIndex: number;
  evaluated: { principal: string; action: string; resource: string } | null;
  refused: 'call' | 'session';
}

async function refusal(f: Fixture, name: string, args: Record<string, unknown>): Promise<{ message: string; data: DenialData }> {
  const s = await openDemoMcp({ node: f.node, ledger: f.ledger, state: f.state, principal: 'Agent::"a1"', sandbox: Sandbox.create(f.home).root, approvalTimeoutMs: 5000, log: () => undefined });
  try {
    await s.client.callTool({ name, arguments: args });
    assert.fail('the call was not refused');
  } catch (err) {
    assert.ok(err instanceof McpError && err.code === WRIT_DENIED, String(err));
    return { message: err.message, data: err.data as DenialData };
  } finally {
    await s.close();
  }
}

describe("writ mcp's refusals say what was judged", { timeout: 60_000 }, () => {
  const fixtures: Fixture[] = [];
  after(() => fixtures.forEach((f) => f.cleanup()));

  it('a refused call: its decision, ledger index and evaluated request; refused: call', async () => {
    const f = await fixture();
    fixtures.push(f);
    const { data } = await refusal(f, 'write_file', { path: 'notes/out.txt', content: 'x' });
    assert.equal(data.refused, 'call');
    assert.deepEqual(data.reasons, ['no_permit']);
    assert.deepEqual(data.evaluated, { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write_file"' });
    assert.equal(f.ledger.findByDecisionId(data.decisionId)?.index, data.ledgerIndex);
  });

  it('a refused session: refused: session, the message says so, the evaluated resource is the server', async () => {
    const f = await fixture({ policyDir: policyFolder({ 'policy.cedar': 'permit (principal, action == Action::"tools/call", resource);\n' }) });
    fixtures.push(f);
    const { message, data } = await refusal(f, 'read_text_file', { path: 'notes/readme.txt' });
    assert.equal(data.refused, 'session');
    assert.match(message, /the MCP session was refused/);
    assert.deepEqual(data.evaluated, { principal: 'Agent::"a1"', action: 'Action::"mcp/session"', resource: 'Server::"fs"' });
    assert.equal(f.ledger.findByDecisionId(data.decisionId)?.index, data.ledgerIndex);
  });
});

/**
 * A call awaiting human approval through `writ mcp` tells its client it is still alive:
 * MCP progress notifications on the request's progressToken, naming the approval, so a
 * client that resets its request timeout on progress (the SDK's resetTimeoutOnProgress)
 * waits for the human instead of giving up. The default wait is under the common 60 s
 * client timeout. Modeled on test/mcp-approval.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { approvalProgressCheck } from './approval-progress-check.ts';
import { connectStdio, EVERYTHING, ok, proxyCommand, SESSION_PERMIT, tool, writAsync, type Connected } from './mcp-helpers.ts';

const A1 = 'Agent::"a1"';

const POLICY = `${SESSION_PERMIT}
@id("sum-needs-a-human")
@approval("required")
permit (principal == Agent::"a1", action == Action::"tools/call", resource == ${tool('get-sum')});
`;

function announced(c: Connected): string[] {
  return [...c.stderr().matchAll(/writ approve (\S+)/g)].map((m) => m[1] ?? '');
}

describe('writ mcp: progress while a call awaits approval', () => {
  let f: Fixture;
  let proxied: Connected;
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    proxied = await connectStdio(proxyCommand(f.home, A1, [EVERYTHING, 'stdio'], ['--approval-timeout', '30s', '--approval-progress', '200ms']));
  });
  after(async () => {
    await Promise.allSettled([proxied?.close()]);
    f?.cleanup();
  });

  it('sends increasing progress naming the approval; a client resetting its timeout on progress outlasts its own timeout', async () => {
    await approvalProgressCheck(proxied.client, () => announced(proxied), f.home);
  });

  it('waits under 60 s by default', async () => {
    const help = ok(await writAsync(['mcp', '--help']), 'mcp --help').stdout.replace(/\s+/g, ' ');
    assert.match(help, /--approval-timeout <duration>.*\(default: "50s"\)/);
  });
});

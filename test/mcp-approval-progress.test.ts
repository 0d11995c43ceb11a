/**
 * A call awaiting human approval through `writ mcp` tells its client it is still alive:
 * MCP progress notifications on the request's progressToken, naming the approval, so a
 * client that resets its request timeout on progress (the SDK's resetTimeoutOnProgress)
 * waits for the human instead of giving up. The default wait is under the common 60 s
 * client timeout. Modeled on test/mcp-approval.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { connectStdio, EVERYTHING, ok, proxyCommand, SESSION_PERMIT, tool, until, writAsync, type Connected } from './mcp-helpers.ts';

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
    const seen = announced(proxied).length;
    const progress: Progress[] = [];
    const started = Date.now();
    // a 2 s request timeout, kept alive only by the progress notifications
    const call = proxied.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }, undefined, { timeout: 2000, resetTimeoutOnProgress: true, onprogress: (p) => progress.push(p) });
    const id = await until('the approval request', () => announced(proxied)[seen]);
    await until('progress notifications', () => progress.length >= 3);
    assert.ok(progress.every((p) => typeof p.message === 'string' && p.message.includes(`writ approve ${id}`)), JSON.stringify(progress));
    for (let i = 1; i < progress.length; i++) assert.ok((progress[i]?.progress ?? 0) > (progress[i - 1]?.progress ?? 0), 'progress increases');
    // outlast the client's own 2 s timeout before deciding
    await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - started))));
    ok(await writAsync(['approve', id, '--home', f.home, '--by', 'tester']), 'approve');
    const r = (await call) as { content: { text: string }[] };
    assert.equal(r.content[0]?.text, 'The sum of 1 and 2 is 3.');
    assert.ok(Date.now() - started > 2000, 'the call outlived the request timeout');
    const count = progress.length;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(progress.length, count, 'no progress after the call is decided');
  });

  it('waits under 60 s by default', async () => {
    const help = ok(await writAsync(['mcp', '--help']), 'mcp --help').stdout.replace(/\s+/g, ' ');
    assert.match(help, /--approval-timeout <duration>.*\(default: "50s"\)/);
  });
});

/**
 * Approval progress over Streamable HTTP: a call awaiting human approval through
 * `writ mcp --listen` sends MCP progress notifications on the request's progressToken, as the
 * stdio proxy does (test/mcp-approval-progress.test.ts), so an HTTP client that resets its
 * timeout on progress outlasts its own timeout and gets the result once a human approves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { connectHttp, EVERYTHING, ok, serveProxy, SESSION_PERMIT, tool, until, writAsync, type Served } from './mcp-helpers.ts';

const POLICY = `${SESSION_PERMIT}
@id("sum-needs-a-human")
@approval("required")
permit (principal == Agent::"a1", action == Action::"tools/call", resource == ${tool('get-sum')});
`;

describe('writ mcp --listen: progress while a call awaits approval', () => {
  let f: Fixture;
  let proxy: Served;
  let client: Awaited<ReturnType<typeof connectHttp>> | undefined;
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    proxy = await serveProxy(f.home, ['--principal', 'Agent::"a1"', '--approval-timeout', '30s', '--approval-progress', '200ms'], [EVERYTHING, 'stdio']);
  });
  after(async () => {
    await Promise.allSettled([client?.close()]);
    await proxy?.stop();
    f?.cleanup();
  });

  const announced = () => [...proxy.output().matchAll(/writ approve (\S+)/g)].map((m) => m[1] ?? '');

  it('sends increasing progress naming the approval; the call outlasts a 2 s client timeout and returns once approved', async () => {
    client = await connectHttp(proxy.url);
    const seen = announced().length;
    const progress: Progress[] = [];
    const started = Date.now();
    const call = client.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }, undefined, { timeout: 2000, resetTimeoutOnProgress: true, onprogress: (p) => progress.push(p) });
    const id = await until('the approval request', () => announced()[seen]);
    await until('progress notifications over HTTP', () => progress.length >= 3);
    assert.ok(progress.every((p) => typeof p.message === 'string' && p.message.includes(`writ approve ${id}`)), JSON.stringify(progress));
    for (let i = 1; i < progress.length; i++) assert.ok((progress[i]?.progress ?? 0) > (progress[i - 1]?.progress ?? 0), 'progress increases');
    await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - started))));
    ok(await writAsync(['approve', id, '--home', f.home, '--by', 'tester']), 'approve');
    const r = (await call) as { content: { text: string }[] };
    assert.equal(r.content[0]?.text, 'The sum of 1 and 2 is 3.');
    assert.ok(Date.now() - started > 2000, 'the call outlived the request timeout');
    const count = progress.length;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(progress.length, count, 'no progress after the call is decided');
  });
});

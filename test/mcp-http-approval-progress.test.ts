/**
 * Approval progress over Streamable HTTP: a call awaiting human approval through
 * `writ mcp --listen` sends MCP progress notifications on the request's progressToken, as the
 * stdio proxy does (test/mcp-approval-progress.test.ts), so an HTTP client that resets its
 * timeout on progress outlasts its own timeout and gets the result once a human approves.
 */
import { after, before, describe, it } from 'node:test';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { approvalProgressCheck } from './approval-progress-check.ts';
import { connectHttp, EVERYTHING, serveProxy, SESSION_PERMIT, tool, type Served } from './mcp-helpers.ts';

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
    await approvalProgressCheck(client.client, announced, f.home);
  });
});

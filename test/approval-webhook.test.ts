/**
 * `--approval-webhook`: each approval request is POSTed (approvalId, principal, action,
 * resource, args, intent, expires); a webhook that fails is logged and never blocks.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { notifyApprovals, parseApprovalWebhook, type ApprovalNotice } from '../src/node/approval-webhook.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { connectStdio, EVERYTHING, mcpError, ok, proxyCommand, SESSION_PERMIT, tool, until, writAsync } from './mcp-helpers.ts';

const WRITE = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/a', data: 'x' } };
const POLICY = policyFolder({
  'p.cedar': `@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n${SESSION_PERMIT}@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == ${tool('get-sum')});\n`,
});

describe('approval webhook', () => {
  let f: Fixture;
  let server: Server;
  let url: URL;
  const received: { type: string | undefined; body: ApprovalNotice }[] = [];
  before(async () => {
    f = await fixture({ policyDir: POLICY });
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ type: req.headers['content-type'], body: JSON.parse(body) as ApprovalNotice });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    f?.cleanup();
  });

  it('POSTs each approval request once, with its arguments', async () => {
    const logged: string[] = [];
    notifyApprovals(f.node, f.state, url, (l) => logged.push(l));
    const from = received.length;
    const id = (await f.node.authorize(WRITE)).approvalId as string;
    const got = await until('the webhook POST', () => received[from]);
    assert.equal(got.type, 'application/json');
    const a = f.state.approval(id);
    assert.deepEqual(got.body, { approvalId: id, principal: WRITE.principal, action: WRITE.action, resource: WRITE.resource, args: WRITE.args, intent: a?.intent, expires: a?.expires });
    // asking again with the (still pending) approval opens nothing new
    await f.node.authorize({ ...WRITE, approval: id });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.length, from + 1);
    assert.deepEqual(logged, []);
  });

  it('a webhook that cannot be reached is logged; the request is opened all the same', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = new URL(`http://127.0.0.1:${(closed.address() as AddressInfo).port}/`);
    await new Promise((r) => closed.close(r));
    const g = await fixture({ policyDir: POLICY });
    try {
      const logged: string[] = [];
      notifyApprovals(g.node, g.state, dead, (l) => logged.push(l));
      const d = await g.node.authorize(WRITE);
      assert.deepEqual(d.reasons, ['approval_required']);
      assert.equal(g.state.approval(d.approvalId as string)?.status, 'pending');
      const line = await until('the failure logged', () => logged[0]);
      assert.match(line, new RegExp(`approval ${d.approvalId as string} not delivered`));
    } finally {
      g.cleanup();
    }
  });

  it('only http(s) URLs', () => {
    assert.throws(() => parseApprovalWebhook('file:///etc/passwd'), /http\(s\)/);
    assert.throws(() => parseApprovalWebhook('not a url'), /not a URL/);
    assert.equal(parseApprovalWebhook('https://hooks.example/x').host, 'hooks.example');
  });

  it('writ up and writ mcp refuse a webhook that is not http(s) before they start', async () => {
    for (const [cmd, ...rest] of [['up', '--port', '0'], ['mcp', '--principal', 'Agent::"a1"', '--', 'true']]) {
      const r = await writAsync([cmd ?? '', '--home', f.home, '--approval-webhook', 'ftp://hooks.example/', ...rest]);
      assert.notEqual(r.status, 0, cmd);
      assert.match(r.stderr, /--approval-webhook must be an http\(s\) URL/, cmd);
    }
  });

  it('writ mcp --approval-webhook notifies of a waiting call', async () => {
    const from = received.length;
    const c = await connectStdio(proxyCommand(f.home, 'Agent::"a1"', [EVERYTHING, 'stdio'], ['--approval-webhook', url.href]));
    try {
      const call = mcpError(c.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }));
      const got = await until('the webhook POST', () => received.slice(from).find((r) => r.body.resource === tool('get-sum')));
      assert.deepEqual(got.body.args, { a: 1, b: 2 });
      ok(await writAsync(['reject', got.body.approvalId, '--home', f.home]), 'reject');
      assert.deepEqual((await call).data.reasons, ['approval_rejected']);
    } finally {
      await c.close();
    }
  });
});

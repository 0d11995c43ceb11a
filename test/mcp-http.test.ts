/**
 * `writ mcp --listen` (Streamable HTTP) in front of @modelcontextprotocol/server-everything:
 * as `--upstream URL` (the server running its own Streamable HTTP transport) and as
 * `-- CMD` (a stdio server per session), driven by the SDK's StreamableHTTPClientTransport.
 * The core checks of the stdio tests, plus bearer credentials (`--tokens`): the token
 * decides the principal, an unknown token gets 401, another principal's session 403.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateMessageRequestSchema, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import {
  allowedFor,
  connectHttp,
  EV,
  EVERYTHING,
  mcpError,
  ok,
  outcomesOf,
  serve,
  serveProxy,
  SESSION_PERMIT,
  tool,
  until,
  writ,
  writAsync,
  WRIT_DENIED,
  type Served,
} from './mcp-helpers.ts';
import { freePort } from '../scripts/ports.ts';

const DOC = 'demo://resource/static/document/architecture.md';
const POLICY = `${SESSION_PERMIT}
@id("a1-tools")
permit (principal == Agent::"a1", action == Action::"tools/call", resource)
when { [${['echo', 'get-sum', 'trigger-long-running-operation', 'trigger-sampling-request'].map((t) => tool(t)).join(', ')}].contains(resource) };

@id("reader-sums")
permit (principal == Agent::"reader", action == Action::"tools/call", resource == ${tool('get-sum')});

@id("a1-document")
permit (principal == Agent::"a1", action == Action::"resources/read", resource == Resource::"${EV}/${DOC}");

@id("a1-prompt")
permit (principal == Agent::"a1", action == Action::"prompts/get", resource == Prompt::"${EV}/simple-prompt");
`;


type Closeable = { client: Client; close(): Promise<void> };

describe('writ mcp --listen (Streamable HTTP)', () => {
  let f: Fixture;
  let upstream: Served;
  let upstreamUrl: string;
  let viaUpstream: Served;
  let viaCommand: Served;
  const clients: Closeable[] = [];
  const open = async (url: string, o: Parameters<typeof connectHttp>[1] = {}) => {
    const c = await connectHttp(url, o);
    clients.push(c);
    return c;
  };

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    const tokens = join(tempDir('writ-mcp-tokens-'), 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ 'token-a1': 'Agent::"a1"', 'token-reader': 'Agent::"reader"' }));
    const port = await freePort();
    upstream = await serve([process.execPath, EVERYTHING, 'streamableHttp'], /listening on port (\d+)/, { env: { PORT: String(port) } });
    upstreamUrl = `http://127.0.0.1:${upstream.url}/mcp`;
    [viaUpstream, viaCommand] = await Promise.all([
      serveProxy(f.home, ['--principal', 'Agent::"a1"'], { url: upstreamUrl }),
      serveProxy(f.home, ['--tokens', tokens], [EVERYTHING, 'stdio']),
    ]);
  });
  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled([viaUpstream?.stop(), viaCommand?.stop(), upstream?.stop()]);
    f?.cleanup();
  });

  it('prints its URL and serves MCP at /mcp', () => {
    assert.match(viaUpstream.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    assert.match(viaCommand.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  });

  it('--upstream: allowed calls return exactly what the server returns directly', async () => {
    const [direct, proxied] = await Promise.all([open(upstreamUrl), open(viaUpstream.url)]);
    assert.deepEqual(proxied.client.getServerVersion(), direct.client.getServerVersion());
    const calls: [string, (c: Client) => Promise<unknown>][] = [
      ['echo', (c) => c.callTool({ name: 'echo', arguments: { message: 'over http' } })],
      ['get-sum', (c) => c.callTool({ name: 'get-sum', arguments: { a: 40, b: 2 } })],
      ['resource', (c) => c.readResource({ uri: DOC })],
      ['prompt', (c) => c.getPrompt({ name: 'simple-prompt' })],
    ];
    for (const [what, call] of calls) {
      const [d, p] = await Promise.all([call(direct.client), call(proxied.client)]);
      assert.deepEqual(p, d, `${what}: the proxied result differs`);
    }
    assert.deepEqual(await proxied.client.ping(), {});
  });

  it('--upstream: denies with -32003 and a recorded decision; lists are filtered', async () => {
    const c = await open(viaUpstream.url);
    const e = await mcpError(c.client.callTool({ name: 'get-env', arguments: {} }));
    assert.equal(e.code, WRIT_DENIED);
    assert.ok(e.data.reasons.length > 0);
    assert.ok(e.data.decisionId && f.ledger.findByDecisionId(e.data.decisionId));
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('echo') && names.includes('get-sum'));
    assert.ok(!names.includes('get-env'));
    assert.deepEqual(
      (await c.client.listResources()).resources.map((r) => r.uri),
      [DOC],
    );
    assert.deepEqual(
      (await c.client.listPrompts()).prompts.map((p) => p.name),
      ['simple-prompt'],
    );
  });

  it('--upstream: passes progress and a server → client sampling request through; records outcomes under the session root', async () => {
    let sampled = 0;
    const c = await open(viaUpstream.url, {
      capabilities: { sampling: {} },
      setup: (cl) =>
        cl.setRequestHandler(CreateMessageRequestSchema, () => {
          sampled++;
          return { model: 'm', role: 'assistant', content: { type: 'text', text: 'sampled over http' } };
        }),
    });
    const from = f.ledger.size();
    const progress: Progress[] = [];
    const r = await c.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } }, undefined, { onprogress: (p) => void progress.push(p) });
    assert.deepEqual(
      progress.map((p) => p.progress),
      [1, 2, 3],
    );
    assert.deepEqual(r.content, [{ type: 'text', text: 'Long running operation completed. Duration: 0.6 seconds, Steps: 3.' }]);

    const s = (await c.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi' } })) as { content: { text: string }[] };
    assert.equal(sampled, 1);
    assert.match(s.content[0]?.text ?? '', /sampled over http/);

    const long = allowedFor(f, from, tool('trigger-long-running-operation'));
    const [o] = await until('the outcome', () => outcomesOf(f, long.writ.jti).length > 0 && outcomesOf(f, long.writ.jti));
    assert.equal(o?.status, 'ok');
    const root = long.writ.lin.root;
    assert.equal(f.ledger.writ(root)?.action, 'Action::"mcp/session"');
    assert.equal(allowedFor(f, from, tool('trigger-sampling-request')).writ.lin.root, root);
    const l = JSON.parse(ok(writ(['lineage', root, '--home', f.home, '--json'])).stdout) as { tree: { children: { jti: string }[] } };
    assert.ok(l.tree.children.some((ch) => ch.jti === long.writ.jti));
  });

  it('--upstream: a running call whose writ is revoked ends with writ_revoked and a terminated outcome', async () => {
    const c = await open(viaUpstream.url);
    const from = f.ledger.size();
    let progressed = 0;
    const running = mcpError(c.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 40 } }, undefined, { onprogress: () => void progressed++ }));
    await until('the call to be running', () => progressed > 0);
    const jti = allowedFor(f, from, tool('trigger-long-running-operation')).writ.jti;
    ok(await writAsync(['revoke', '--home', f.home, jti]));
    const e = await running;
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['writ_revoked']);
    const [o] = await until('the outcome', () => outcomesOf(f, jti).length > 0 && outcomesOf(f, jti));
    assert.equal(o?.status, 'terminated');
    assert.equal(o?.reason, 'writ_revoked');
  });

  it('-- CMD: a stdio server per session, the principal from the bearer token', async () => {
    const [a1, reader] = await Promise.all([open(viaCommand.url, { token: 'token-a1' }), open(viaCommand.url, { token: 'token-reader' })]);
    assert.equal(a1.client.getServerVersion()?.name, EV);
    const from = f.ledger.size();
    assert.deepEqual((await a1.client.callTool({ name: 'echo', arguments: { message: 'cmd mode' } })).content, [{ type: 'text', text: 'Echo: cmd mode' }]);
    assert.equal(allowedFor(f, from, tool('echo')).request.principal, 'Agent::"a1"');

    // the reader's token makes it Agent::"reader": it sees and may call only get-sum
    assert.deepEqual(
      (await reader.client.listTools()).tools.map((t) => t.name),
      ['get-sum'],
    );
    const sum = (await reader.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 1 } })) as { content: { text: string }[] };
    assert.equal(sum.content[0]?.text, 'The sum of 1 and 1 is 2.');
    assert.equal(allowedFor(f, from, tool('get-sum')).request.principal, 'Agent::"reader"');
    const e = await mcpError(reader.client.callTool({ name: 'echo', arguments: { message: 'not mine' } }));
    assert.equal(e.code, WRIT_DENIED);
    const leaf = f.ledger.findByDecisionId(e.data.decisionId ?? '');
    assert.ok(leaf);
    assert.equal((JSON.parse(new TextDecoder().decode(leaf.leaf)) as { request: { principal: string } }).request.principal, 'Agent::"reader"');
  });

  it('--tokens: an unknown or missing bearer token gets 401; a session used with another principal gets 403', async () => {
    const init = (headers: Record<string, string>) =>
      fetch(viaCommand.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
      });
    const unknown = await init({ authorization: 'Bearer not-a-token' });
    assert.equal(unknown.status, 401);
    assert.match(unknown.headers.get('www-authenticate') ?? '', /Bearer/);
    await unknown.body?.cancel();
    const none = await init({});
    assert.equal(none.status, 401, 'no --principal: a request without a token is refused');
    await none.body?.cancel();
    await assert.rejects(open(viaCommand.url, { token: 'wrong' }));

    const a1 = await open(viaCommand.url, { token: 'token-a1' });
    const sid = a1.transport.sessionId;
    assert.ok(sid, 'a session id was issued');
    const hijack = await fetch(viaCommand.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer token-reader', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hijack' } } }),
    });
    assert.equal(hijack.status, 403);
    await hijack.body?.cancel();
    // the owner still uses it
    assert.deepEqual((await a1.client.callTool({ name: 'echo', arguments: { message: 'mine' } })).content, [{ type: 'text', text: 'Echo: mine' }]);
  });
});

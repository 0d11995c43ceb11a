/**
 * The MCP governor against a client that does not play by the rules: reused request ids,
 * governed methods sent as notifications or before initialize, task-augmented calls, a
 * parent writ used to step around the session decision, concurrent first calls, prototype
 * method names; and the HTTP front: nothing starts for a non-initialize request, and a
 * credential in another spelling is refused, not downgraded.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { McpGovernor } from '../src/enforce/mcp/governor.ts';
import { serveHttpProxy } from '../src/enforce/mcp/http.ts';
import { revoke } from '../src/node/evidence.ts';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { EVERYTHING, until } from './mcp-helpers.ts';

const A1 = 'Agent::"a1"';
const POLICY = policyFolder({
  'p.cedar': `permit (principal == Agent::"a1", action == Action::"mcp/session", resource == Server::"fx");
permit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fx/read");
permit (principal == Agent::"a1", action == Action::"http/get", resource);
`,
});

const msg = (m: Record<string, unknown>) => ({ jsonrpc: '2.0', ...m }) as JSONRPCMessage;
const call = (id: number, extra: Record<string, unknown> = {}) => msg({ id, method: 'tools/call', params: { name: 'read', arguments: { path: '/a' }, ...extra } });

async function initialized(f: Fixture): Promise<McpGovernor> {
  const g = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: A1, session: 's-1' });
  assert.ok('forward' in (await g.fromClient(msg({ id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }))));
  await g.fromUpstream(msg({ id: 0, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'fx', version: '1' } } }));
  return g;
}

const decisions = (f: Fixture, action: string) =>
  f.ledger
    .entries(0, 10_000)
    .filter((e) => e.type === 'decision')
    .map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as { request: { action: string }; result: { decision: string } })
    .filter((d) => d.request.action === action);

describe('MCP governor: clients that do not play by the rules', () => {
  it('a request id still in use is refused, and the running call keeps its revocation and its outcome', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      const g = await initialized(f);
      const first = await g.fromClient(call(8));
      assert.ok('forward' in first);
      const dup = await g.fromClient(msg({ id: 8, method: 'ping' }));
      assert.ok('reply' in dup && JSON.stringify(dup.reply).includes('already in use'));
      await g.fromUpstream(msg({ id: 8, result: { content: [{ type: 'text', text: 'done' }] } }));
      const outcomes = () => f.ledger.entries(0, 1000).filter((e) => e.type === 'outcome').length;
      await until('the outcome recorded', () => outcomes() > 0);
      assert.equal(outcomes(), 1, 'the outcome of the real call');
    } finally {
      f.cleanup();
    }
  });

  it('a call the client cancels is recorded as cancelled with its result unknown, and its late response is not passed on', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      const g = await initialized(f);
      assert.ok('forward' in (await g.fromClient(call(9))));
      await g.fromClient(msg({ method: 'notifications/cancelled', params: { requestId: 9, reason: 'user' } }));
      const outcome = f.ledger.entries(0, 1000).filter((e) => e.type === 'outcome').map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as { status: string; reason: string });
      assert.equal(outcome.length, 1);
      assert.equal(outcome[0]?.status, 'terminated');
      assert.match(outcome[0]?.reason ?? '', /^cancel requested, result unknown/);
      assert.equal(await g.fromUpstream(msg({ id: 9, result: { content: [] } })), null, 'the late response is dropped');
    } finally {
      f.cleanup();
    }
  });

  it('governed methods as notifications are dropped; prototype names are plain methods', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      const g = await initialized(f);
      assert.deepEqual(await g.fromClient(msg({ method: 'tools/call', params: { name: 'read', arguments: {} } })), { drop: true });
      for (const method of ['constructor', '__proto__', 'toString']) {
        const m = msg({ id: 20, method });
        assert.deepEqual(await g.fromClient(m), { forward: m }, method);
        await g.fromUpstream(msg({ id: 20, error: { code: -32601, message: 'no' } }));
      }
    } finally {
      f.cleanup();
    }
  });

  it('a call before the initialize exchange, or a task-augmented call, is refused and never forwarded', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      const g = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: A1, session: 's-2' });
      const early = await g.fromClient(call(1));
      assert.ok('reply' in early && JSON.stringify(early.reply).includes('before the upstream'));
      assert.equal(decisions(f, 'Action::"mcp/session"').length, 0, 'no session decided for Server::"unknown"');
      const g2 = await initialized(f);
      const task = await g2.fromClient(call(2, { task: { ttl: 60_000 } }));
      assert.ok('reply' in task && JSON.stringify(task.reply).includes('task-augmented'));
    } finally {
      f.cleanup();
    }
  });

  it('an upstream that names itself unusably (quotes, spaces, empty) gets no governed call until --server-name pins it', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      for (const name of ['fx"/read', 'f x', '', 42]) {
        const g = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: A1, session: 's-3' });
        await g.fromClient(msg({ id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }));
        await g.fromUpstream(msg({ id: 0, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name, version: '1' } } }));
        const r = await g.fromClient(call(1));
        assert.ok('reply' in r, JSON.stringify(name));
      }
      const pinned = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: A1, session: 's-4', serverName: 'fx' });
      assert.ok('forward' in (await pinned.fromClient(call(1))), 'with --server-name the call is decided');
    } finally {
      f.cleanup();
    }
  });

  it('a parent writ does not step around the session: the session is decided for every call, and its revocation ends it', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      const other = await f.node.authorize({ principal: A1, action: 'Action::"http/get"', resource: 'Url::"x"' });
      assert.equal(other.decision, 'allow');
      const g = await initialized(f);
      // three calls at once: one session root, not three
      const first = await Promise.all([1, 2, 3].map((i) => g.fromClient(call(i))));
      assert.ok(first.every((a) => 'forward' in a));
      assert.equal(decisions(f, 'Action::"mcp/session"').length, 1);
      const root = (decisions(f, 'Action::"mcp/session"')[0] as unknown as { writ: { jti: string } }).writ.jti;
      await revoke(f.ledger, f.state, { kind: 'writ', value: root, reason: 'test', by: 'test' });
      const viaParent = await g.fromClient(call(4, { _meta: { 'writ/parent': other.writ } }));
      assert.ok('reply' in viaParent, 'denied');
      assert.match(JSON.stringify(viaParent.reply), /parent_revoked/);
    } finally {
      f.cleanup();
    }
  });
});

describe('MCP over HTTP: what a request without a session can start', () => {
  it('nothing runs for a non-initialize request; any credential must be known, in any spelling of the scheme', async () => {
    const f = await fixture({ policyDir: POLICY });
    const dir = tempDir('writ-mcp-marker-');
    const marker = join(dir, 'started');
    const p = await serveHttpProxy({
      node: f.node,
      ledger: f.ledger,
      state: f.state,
      principal: A1,
      tokens: new Map(),
      host: '127.0.0.1',
      port: 0,
      upstream: { command: 'sh', args: ['-c', `echo x >> '${marker}'; exec '${process.execPath}' '${EVERYTHING}' stdio`] },
    });
    try {
      const post = (body: unknown, headers: Record<string, string> = {}) =>
        fetch(p.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) });
      for (const body of [{}, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, [{ jsonrpc: '2.0', id: 1, method: 'ping' }]]) {
        assert.equal((await post(body)).status, 400, JSON.stringify(body));
      }
      assert.equal(existsSync(marker), false, 'no upstream was started');
      for (const auth of ['bearer nope', 'Basic abc', 'Bearer', 'BEARER  nope']) assert.equal((await post({}, { authorization: auth })).status, 401, auth);
      const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      assert.equal(init.status, 200);
      await init.text();
      assert.equal(readFileSync(marker, 'utf8'), 'x\n', 'one upstream for one initialize');
    } finally {
      await p.close();
      f.cleanup();
    }
  });
});

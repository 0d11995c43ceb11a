/**
 * `writ mcp` over stdio in front of @modelcontextprotocol/server-everything (from npm),
 * driven by the SDK's Client: allowed calls are identical with and without the proxy,
 * denied calls get a JSON-RPC error with evidence, lists are filtered, everything not
 * governed passes through (ping, logging, progress, cancellation, sampling, elicitation,
 * roots), and every governed call leaves an outcome in the session's lineage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  type CreateMessageRequest,
  type LoggingMessageNotification,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { sha256Base64urlSync } from '../src/util.ts';
import { canonicalJson } from '../src/writ/intent.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import {
  allowedFor,
  connectStdio,
  EV,
  EVERYTHING,
  mcpError,
  ok,
  outcomesOf,
  proxyCommand,
  SESSION_PERMIT,
  sleep,
  tool,
  until,
  writ,
  WRIT_DENIED,
  type Connected,
} from './mcp-helpers.ts';

const A1 = 'Agent::"a1"';
const DOC = 'demo://resource/static/document/architecture.md';

const POLICY = `${SESSION_PERMIT}
@id("everyday-tools")
permit (principal == Agent::"a1", action == Action::"tools/call", resource)
when { [${['echo', 'get-annotated-message', 'get-sum', 'trigger-long-running-operation', 'toggle-simulated-logging', 'trigger-sampling-request', 'trigger-elicitation-request', 'get-roots-list'].map((t) => tool(t)).join(', ')}].contains(resource) };

@id("no-secrets-in-echo")
forbid (principal, action == Action::"tools/call", resource == ${tool('echo')})
when { context.args has message && context.args.message like "*secret*" };

@id("never-annotated")
forbid (principal, action, resource == ${tool('get-annotated-message')});

@id("one-document")
permit (principal == Agent::"a1", action == Action::"resources/read", resource == Resource::"${EV}/${DOC}");

@id("two-prompts")
permit (principal == Agent::"a1", action == Action::"prompts/get", resource)
when { [Prompt::"${EV}/simple-prompt", Prompt::"${EV}/args-prompt"].contains(resource) };

@id("delegation")
permit (principal is Agent, action == Action::"agent/delegate", resource);
`;

describe('writ mcp over stdio with server-everything', () => {
  let f: Fixture;
  let direct: Connected;
  let proxied: Connected;
  const logs: LoggingMessageNotification['params'][] = [];
  /** what the server asked of the client, per client */
  const asked = () => ({ sampling: [] as CreateMessageRequest['params'][], elicitations: 0, roots: 0 });
  const seenDirect = asked();
  const seen = asked();
  const capabilities = { sampling: {}, elicitation: {}, roots: { listChanged: true } };
  const handlers = (c: Client, into: ReturnType<typeof asked>) => {
    c.setRequestHandler(CreateMessageRequestSchema, (req) => {
      into.sampling.push(req.params);
      return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled through the proxy' } };
    });
    c.setRequestHandler(ElicitRequestSchema, () => {
      into.elicitations++;
      return { action: 'decline' };
    });
    c.setRequestHandler(ListRootsRequestSchema, () => {
      into.roots++;
      return { roots: [{ uri: 'file:///tmp/writ-test-root', name: 'test root' }] };
    });
  };

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    [direct, proxied] = await Promise.all([
      // the same capabilities both ways: server-everything registers some tools only for clients that have them
      connectStdio([process.execPath, EVERYTHING, 'stdio'], { capabilities, setup: (c) => handlers(c, seenDirect) }),
      connectStdio(proxyCommand(f.home, A1, [EVERYTHING, 'stdio']), {
        capabilities,
        setup: (c) => {
          handlers(c, seen);
          c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
        },
      }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([direct?.close(), proxied?.close()]);
    f?.cleanup();
  });

  it('initializes through the proxy with the upstream server info unchanged', () => {
    assert.deepEqual(proxied.client.getServerVersion(), direct.client.getServerVersion());
    assert.deepEqual(proxied.client.getServerCapabilities(), direct.client.getServerCapabilities());
    assert.equal(proxied.client.getServerVersion()?.name, EV);
  });

  it('returns exactly what the server returns without the proxy (tools, a resource, prompts)', async () => {
    const calls: [string, (c: Client) => Promise<unknown>][] = [
      ['echo', (c) => c.callTool({ name: 'echo', arguments: { message: 'hello through writ' } })],
      ['get-sum', (c) => c.callTool({ name: 'get-sum', arguments: { a: 19, b: 23 } })],
      ['resource', (c) => c.readResource({ uri: DOC })],
      ['simple-prompt', (c) => c.getPrompt({ name: 'simple-prompt' })],
      ['args-prompt', (c) => c.getPrompt({ name: 'args-prompt', arguments: { city: 'Lyon', state: 'Rhône' } })],
    ];
    for (const [what, call] of calls) {
      const [d, p] = await Promise.all([call(direct.client), call(proxied.client)]);
      assert.deepEqual(p, d, `${what}: the proxied result differs from the direct one`);
    }
    const sum = (await proxied.client.callTool({ name: 'get-sum', arguments: { a: 19, b: 23 } })) as { content: { text: string }[] };
    assert.equal(sum.content[0]?.text, 'The sum of 19 and 23 is 42.');
  });

  it('hides from tools/list, resources/list and prompts/list what the principal can never be allowed', async () => {
    const [dt, pt] = await Promise.all([direct.client.listTools(), proxied.client.listTools()]);
    const names = pt.tools.map((t) => t.name).sort();
    for (const n of ['echo', 'get-sum', 'trigger-long-running-operation', 'toggle-simulated-logging']) assert.ok(names.includes(n), `${n} is callable, so it is listed`);
    // get-annotated-message is permitted but always forbidden: hidden too
    for (const n of ['get-env', 'get-tiny-image', 'gzip-file-as-resource', 'get-annotated-message']) {
      assert.ok(dt.tools.some((t) => t.name === n), `${n} exists upstream`);
      assert.ok(!names.includes(n), `${n} can never be allowed, yet it is listed`);
    }
    // the listed tools are the upstream's definitions, untouched
    for (const t of pt.tools) assert.deepEqual(t, dt.tools.find((d) => d.name === t.name));

    const [dr, pr] = await Promise.all([direct.client.listResources(), proxied.client.listResources()]);
    assert.ok(dr.resources.length > 1);
    assert.deepEqual(pr.resources, dr.resources.filter((r) => r.uri === DOC));

    const [dp, pp] = await Promise.all([direct.client.listPrompts(), proxied.client.listPrompts()]);
    assert.ok(dp.prompts.length > 2);
    assert.deepEqual(pp.prompts.map((p) => p.name).sort(), ['args-prompt', 'simple-prompt']);
  });

  it('denies with a JSON-RPC error carrying the reasons and a recorded decision id', async () => {
    for (const call of [
      () => proxied.client.callTool({ name: 'get-env', arguments: {} }),
      () => proxied.client.callTool({ name: 'echo', arguments: { message: 'my secret' } }),
      () => proxied.client.readResource({ uri: 'demo://resource/static/document/features.md' }),
      () => proxied.client.getPrompt({ name: 'completable-prompt', arguments: { department: 'Engineering', name: 'x' } }),
    ]) {
      const e = await mcpError(call());
      assert.equal(e.code, WRIT_DENIED);
      assert.ok(e.data.reasons.length > 0, 'reasons given');
      assert.ok(e.data.decisionId, 'decision id given');
      const entry = f.ledger.findByDecisionId(e.data.decisionId);
      assert.ok(entry, `decision ${e.data.decisionId} is in the ledger`);
      assert.equal(entry.type, 'decision');
    }
    const forbidden = await mcpError(proxied.client.callTool({ name: 'echo', arguments: { message: 'my secret' } }));
    assert.deepEqual(forbidden.data.policies, ['no-secrets-in-echo']);
  });

  it('records an outcome per governed call, linked to its writ, under the session root', async () => {
    const from = f.ledger.size();
    const result = await proxied.client.callTool({ name: 'echo', arguments: { message: 'outcome' } });
    const failed = await proxied.client.callTool({ name: 'get-sum', arguments: { a: 'not a number', b: 1 } });
    assert.equal(failed.isError, true, 'the server reports a tool error');

    const call = allowedFor(f, from, tool('echo'));
    const [o] = await until('the outcome of echo', () => outcomesOf(f, call.writ.jti).length > 0 && outcomesOf(f, call.writ.jti));
    assert.equal(o?.status, 'ok');
    assert.equal(o?.isError, false);
    assert.equal(o?.resultDigest, sha256Base64urlSync(canonicalJson(result)));
    const bad = allowedFor(f, from, tool('get-sum'));
    const [fo] = await until('the outcome of get-sum', () => outcomesOf(f, bad.writ.jti).length > 0 && outcomesOf(f, bad.writ.jti));
    assert.equal(fo?.status, 'failed');
    assert.equal(fo?.isError, true);

    // both calls are children of the one session root
    const root = call.writ.lin.root;
    assert.equal(call.writ.lin.parent, root);
    assert.equal(bad.writ.lin.parent, root);
    assert.equal(call.writ.lin.depth, 1);
    const session = f.ledger.writ(root);
    assert.equal(session?.action, 'Action::"mcp/session"');
    assert.equal(session?.resource, `Server::"${EV}"`);
    assert.equal(session?.principal, A1);

    const l = JSON.parse(ok(writ(['lineage', root, '--home', f.home, '--json']), 'lineage').stdout) as {
      tree: { jti: string; action: string; children: { jti: string; resource: string; outcome: { status: string } | null }[] };
    };
    assert.equal(l.tree.jti, root);
    const echo = l.tree.children.find((c) => c.jti === call.writ.jti);
    assert.equal(echo?.resource, tool('echo'));
    assert.equal(echo?.outcome?.status, 'ok');
    assert.equal(l.tree.children.find((c) => c.jti === bad.writ.jti)?.outcome?.status, 'failed');
  });

  it('links a call made on behalf of another writ (params._meta["writ/parent"]) under that writ', async () => {
    const parent = await f.node.authorize({ principal: A1, action: 'Action::"agent/delegate"', resource: 'Agent::"planner"', args: { task: 't1' } });
    assert.equal(parent.decision, 'allow', parent.message);
    assert.ok(parent.writ && parent.claims);
    const from = f.ledger.size();
    const r = await proxied.client.callTool({ name: 'echo', arguments: { message: 'delegated' }, _meta: { 'writ/parent': parent.writ } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: delegated' }]);
    const call = allowedFor(f, from, tool('echo'));
    assert.equal(call.writ.lin.parent, parent.claims.jti);
    assert.equal(call.writ.lin.root, parent.claims.jti);
    assert.equal(call.writ.lin.depth, 1);
    const l = JSON.parse(ok(writ(['lineage', parent.claims.jti, '--home', f.home, '--json'])).stdout) as { tree: { children: { jti: string }[] } };
    assert.deepEqual(
      l.tree.children.map((c) => c.jti),
      [call.writ.jti],
    );
    // a parent writ that is not a writ is refused
    const bogus = await mcpError(proxied.client.callTool({ name: 'echo', arguments: { message: 'x' }, _meta: { 'writ/parent': 'not.a.writ' } }));
    assert.equal(bogus.code, WRIT_DENIED);
    assert.deepEqual(bogus.data.reasons, ['parent_invalid']);
    // a parent writ of another principal is refused
    const theirs = await f.node.authorize({ principal: 'Agent::"a2"', action: 'Action::"agent/delegate"', resource: 'Agent::"planner"', args: {} });
    assert.ok(theirs.writ);
    const mismatch = await mcpError(proxied.client.callTool({ name: 'echo', arguments: { message: 'x' }, _meta: { 'writ/parent': theirs.writ } }));
    assert.deepEqual(mismatch.data.reasons, ['parent_principal_mismatch']);
  });

  it('passes ping and logging (setLevel, notifications/message) through', async () => {
    assert.deepEqual(await proxied.client.ping(), {});
    assert.deepEqual(await proxied.client.setLoggingLevel('debug'), {});
    const before = logs.length;
    const r = (await proxied.client.callTool({ name: 'toggle-simulated-logging', arguments: {} })) as { content: { text: string }[] };
    assert.match(r.content[0]?.text ?? '', /Started simulated/);
    try {
      await until('a notifications/message from the server', () => logs.length > before);
    } finally {
      await proxied.client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    }
    assert.ok(logs.some((l) => typeof l.level === 'string' && typeof l.data === 'string'));
  });

  it('passes progress notifications through (onprogress fires) and returns the same result', async () => {
    const progress: Progress[] = [];
    const args = { duration: 0.8, steps: 4 };
    const [r, d] = await Promise.all([
      proxied.client.callTool({ name: 'trigger-long-running-operation', arguments: args }, undefined, { onprogress: (p) => void progress.push(p) }),
      direct.client.callTool({ name: 'trigger-long-running-operation', arguments: args }),
    ]);
    // server-everything itself often sends its last progress notification after the
    // result (measured: 25 of 30 direct calls lose it), so the client may see 3 or 4.
    const seen = progress.map((p) => [p.progress, p.total]);
    assert.ok(seen.length >= 3, `progress passed through: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen, [
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ].slice(0, seen.length));
    assert.deepEqual(r, d);
  });

  it('passes a cancellation (AbortSignal) through to the server; the cancelled call gets an outcome; the session stays usable', async () => {
    const ac = new AbortController();
    const from = f.ledger.size();
    let progressed = 0;
    const started = Date.now();
    // 2 s in 10 steps; the client cancels at the first progress notification
    const call = proxied.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 2, steps: 10 } }, undefined, {
      signal: ac.signal,
      onprogress: () => {
        progressed++;
        ac.abort('test cancels');
      },
    });
    await assert.rejects(call);
    assert.ok(Date.now() - started < 1500, 'the call ended at the cancellation, not at the end of the operation');
    assert.equal(progressed, 1);
    const jti = allowedFor(f, from, tool('trigger-long-running-operation')).writ.jti;
    // past the operation's full length: had the cancellation not reached the server, it would have answered by now
    await sleep(2600 - (Date.now() - started));
    const outcomes = outcomesOf(f, jti);
    assert.ok(!outcomes.some((o) => o.status === 'ok'), 'the server completed the call: the cancellation did not reach it');
    assert.equal(outcomes.length, 1, `a cancelled governed call has an outcome linked to its writ ${jti} (none recorded)`);
    assert.deepEqual(await proxied.client.ping(), {});
  });

  it('passes server → client requests through: sampling, elicitation, roots', async () => {
    await until('the server asking for roots after initialization', () => seen.roots > 0, 5000);
    const s = (await proxied.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 7 } })) as { content: { text: string }[] };
    assert.equal(seen.sampling.length, 1);
    assert.equal(seen.sampling[0]?.maxTokens, 7);
    assert.match(s.content[0]?.text ?? '', /sampled through the proxy/);

    const e = await proxied.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    assert.equal(seen.elicitations, 1);
    assert.notEqual(e.isError, true);
    assert.match(JSON.stringify(e.content), /decline/);

    const roots = (await proxied.client.callTool({ name: 'get-roots-list', arguments: {} })) as { content: { text: string }[] };
    assert.match(roots.content[0]?.text ?? '', /writ-test-root/);
  });
});

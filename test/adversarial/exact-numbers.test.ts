/**
 * Issue 9, point 5 (and issue 10's duplicate members): arguments are exact. RFC 8785 —
 * and JSON.parse — read numbers as doubles, so `{"amount": 9007199254740993}` would be
 * decided, recorded and forwarded as …992, sharing its intent with another request.
 * Every boundary reads the source text as I-JSON (docs/json.md) and refuses such a
 * request with a recorded request_invalid: the HTTP API, `writ authorize --args`, and
 * `writ mcp` over stdio and Streamable HTTP, whose upstream never receives the call.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { OpenHome } from '../../src/home/open.ts';
import { IJsonError, ijsonViolation, parseIJson } from '../../src/writ/i-json.ts';
import { A1, authorizeArgs, CALL, demoHome, json, READ as READ_TOOL, writ, type AllowOut, type DenyOut } from '../cli-fixture.ts';
import { fixture, policyFolder, tempDir, type Fixture } from '../helpers.ts';
import { connectHttp, decisionsSince, env, proxyCommand, serveProxy, SESSION_PERMIT, WRIT_DENIED, type Served } from '../mcp-helpers.ts';
import { app, auth, f as served, leafAt, READ, useServerApp, type DecisionBody, type ErrorBody, type LeafJson } from '../server-fixture.ts';

const UNSAFE = '9007199254740993'; // 2^53 + 1: read as 9007199254740992
const SAFE = '9007199254740991'; // 2^53 − 1

/** the refusal's message names the member and the literal */
const names = (message: string | undefined, pointer: string, literal = UNSAFE) => {
  assert.ok(message?.includes(pointer) && message.includes(literal), `message names ${pointer} and ${literal}: ${message}`);
};

describe('parseIJson: I-JSON (RFC 7493) from the source text', () => {
  const refused = (text: string, pointer: string, what: RegExp) => {
    assert.throws(
      () => parseIJson(text),
      (e: unknown) => e instanceof IJsonError && e.pointer === pointer && what.test(e.message),
      text,
    );
  };

  it('refuses integers beyond ±(2^53−1), however they are written', () => {
    for (const lit of [UNSAFE, `-${UNSAFE}`, `${UNSAFE}.0`, '9.007199254740993e15', '9007199254740992', '1e16', '1e300']) refused(`{"amount": ${lit}}`, '/amount', /2\^53/);
  });

  it('refuses numbers beyond a double and literals with more precision than it holds', () => {
    refused('[1e400]', '/0', /beyond the range of a double/);
    refused('[-1e400]', '/0', /beyond the range of a double/);
    refused('{"a": [1, {"b": 1e-400}]}', '/a/1/b', /would be read as 0/);
    refused('0.10000000000000001', '', /would be read as 0\.1/);
    refused('{"pi": 3.141592653589793238462643383279}', '/pi', /more precision/);
  });

  it('accepts what a double holds exactly, in any spelling', () => {
    assert.deepEqual(parseIJson(`{"amount": ${SAFE}, "neg": -${SAFE}}`), { amount: 9007199254740991, neg: -9007199254740991 });
    for (const [lit, n] of [['0.1', 0.1], ['1.5', 1.5], ['1.50', 1.5], ['15e-1', 1.5], ['1E2', 100], ['-0', -0], ['0.30000000000000004', 0.30000000000000004], ['5e-324', 5e-324]] as const) {
      assert.deepEqual(parseIJson(`[${lit}]`), [n], lit);
    }
  });

  it('finds them nested in arrays and objects, named by JSON Pointer', () => {
    refused(`[1, [2, {"a": [0.1, ${UNSAFE}]}]]`, '/1/1/a/1', /2\^53/);
    refused(`{"a/b~": [{"x": ${UNSAFE}}]}`, '/a~1b~0/0/x', /2\^53/);
  });

  it('refuses lone surrogates and duplicate member names; carries the value as JSON.parse reads it', () => {
    refused('{"s": "\\ud800"}', '/s', /lone surrogate/);
    refused('{"\\udc00": 1}', '/\udc00', /lone surrogate/);
    refused('{"a": 1, "b": {"a": 2}, "a": 3}', '/a', /duplicate member name "a"/);
    refused('{"ab": 1, "a\\u0062": 2}', '/ab', /duplicate/); // the same name, escaped
    refused('{"x": "\\"", "x": 1}', '/x', /duplicate/);
    assert.doesNotThrow(() => parseIJson('{"a": {"b": 1}, "c": {"b": 2}, "s": "\\\\\\"{,"}'));
    try {
      parseIJson(`{"amount": ${UNSAFE}}`);
      assert.fail('refused');
    } catch (e) {
      assert.ok(e instanceof IJsonError);
      assert.deepEqual(e.value, { amount: 9007199254740992 });
    }
    assert.throws(() => parseIJson('{"a": '), SyntaxError, 'not JSON is a SyntaxError, as for JSON.parse');
  });

  it('ijsonViolation: for parsed values, refuses what cannot be told apart from a rounded integer', () => {
    assert.match(ijsonViolation({ args: { amount: 2 ** 53 } }) ?? '', /\/args\/amount/);
    assert.match(ijsonViolation([Infinity]) ?? '', /finite/);
    assert.match(ijsonViolation({ s: '\ud800' }) ?? '', /lone surrogate/);
    assert.equal(ijsonViolation({ a: [0.1, 1.5, -9007199254740991, 'x', null, true] }), null);
  });
});

const authorizeText = (args: string, extra = '') => `{"principal": ${JSON.stringify(READ.principal)}, "action": ${JSON.stringify(READ.action)}, "resource": ${JSON.stringify(READ.resource)}, "args": ${args}${extra}}`;

describe('HTTP API: a body that is not I-JSON', () => {
  useServerApp();
  const post = async (url: string, payload: string) => {
    const res = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...auth(app) } });
    return { status: res.statusCode, body: res.json<DecisionBody & ErrorBody>() };
  };
  /** the recorded decision leaf of a refusal */
  const recordedRefusal = (body: DecisionBody): LeafJson => {
    assert.equal(body.decision, 'deny');
    assert.deepEqual(body.reasons, ['request_invalid']);
    assert.equal(typeof body.ledgerIndex, 'number', 'the refusal is recorded');
    const leaf = leafAt(served, body.ledgerIndex ?? -1);
    assert.equal(leaf.type, 'decision');
    assert.deepEqual(leaf.result, { decision: 'deny', reasons: ['request_invalid'], policies: [], errors: body.errors });
    return leaf;
  };

  it(`POST /v1/authorize with {"amount": ${UNSAFE}} is denied request_invalid and recorded, never evaluated`, async () => {
    const r = await post('/v1/authorize', authorizeText(`{"path": "/srv/a", "amount": ${UNSAFE}}`));
    assert.equal(r.status, 403);
    assert.equal(r.body.writ, undefined);
    names(r.body.message, '/args/amount');
    recordedRefusal(r.body);
  });

  it('the same in context, spelled as 9.007199254740993e15, or a duplicate member: each refused and recorded', async () => {
    const inContext = await post('/v1/authorize', authorizeText('{"path": "/srv/a"}', `, "context": {"limit": ${UNSAFE}}`));
    names(inContext.body.message, '/context/limit');
    recordedRefusal(inContext.body);
    const spelled = await post('/v1/authorize', authorizeText('{"path": "/srv/a", "amount": 9.007199254740993e15}'));
    names(spelled.body.message, '/args/amount', '9.007199254740993e15');
    recordedRefusal(spelled.body);
    // JSON.parse keeps the last "path", a reader of the first would see another request
    const dup = await post('/v1/authorize', authorizeText('{"path": "/srv/secret", "path": "/srv/a"}'));
    assert.equal(dup.status, 403);
    assert.match(dup.body.message ?? '', /duplicate member name "path"/);
    recordedRefusal(dup.body);
  });

  it('issue 10, point 2: glue that builds the body from a request path cannot smuggle a second principal in', async () => {
    // a gateway templates {"args": {"path": "<request path>"}} and the path closes the string and the object
    const path = '/items/x"}, "principal": "Agent::\\"root\\"", "args": {"path": "/srv/a';
    const glued = `{"principal": ${JSON.stringify(READ.principal)}, "action": ${JSON.stringify(READ.action)}, "resource": ${JSON.stringify(READ.resource)}, "args": {"path": "${path}"}}`;
    assert.equal((JSON.parse(glued) as { principal: string }).principal, 'Agent::"root"', 'JSON.parse alone lets the last principal win');
    const r = await post('/v1/authorize', glued);
    assert.equal(r.status, 403);
    assert.equal(r.body.writ, undefined);
    assert.match(r.body.message ?? '', /duplicate member name "principal"/);
    recordedRefusal(r.body);
  });

  it(`${SAFE} (2^53 − 1) is decided as usual, and exactly`, async () => {
    const r = await post('/v1/authorize', authorizeText(`{"path": "/srv/a", "amount": ${SAFE}}`));
    assert.equal(r.status, 200, r.body.message);
    assert.equal(r.body.decision, 'allow');
    const leaf = leafAt(served, r.body.ledgerIndex ?? -1) as LeafJson & { request: { args: { amount: number } } };
    assert.equal(leaf.request.args.amount, 9007199254740991);
  });

  it('other routes answer 400 and change nothing', async () => {
    const r = await post('/v1/verify', `{"writ": "a.b.c", "audience": "Tool::\\"fs/read\\"", "args": {"amount": ${UNSAFE}}}`);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'bad_request');
    names(r.body.message, '/args/amount');
  });

  it('the decision path itself refuses a number it may hold rounded (a library caller, no source text)', async () => {
    const d = await served.node.authorize({ ...READ, args: { path: '/srv/a', amount: 2 ** 53 } });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.reasons, ['request_invalid']);
    assert.equal(typeof d.ledgerIndex, 'number');
    assert.match(d.message, /\/args\/amount/);
  });
});

describe('writ authorize / verify --args: I-JSON', () => {
  let home: string;
  before(() => {
    home = demoHome();
  });

  it(`--args '{"amount": ${UNSAFE}}' is a recorded request_invalid denial (exit 3), also without --json`, async () => {
    const r = writ(['authorize', '--home', home, '--principal', A1, '--action', CALL, '--resource', READ_TOOL, '--args', `{"path": "/srv/a", "amount": ${UNSAFE}}`, '--json']);
    assert.equal(r.status, 3, r.stderr);
    const d = json<DenyOut & { message: string }>(r);
    assert.deepEqual(d.reasons, ['request_invalid']);
    assert.equal(typeof d.ledgerIndex, 'number', 'recorded');
    assert.equal(d.writ, undefined);
    names(d.message, '/amount');
    const plain = writ(['authorize', '--home', home, '--principal', A1, '--action', CALL, '--resource', READ_TOOL, '--context', `{"n": -${UNSAFE}}`]);
    assert.equal(plain.status, 3);
    assert.equal(plain.stdout, '', 'no writ printed');
    assert.match(plain.stderr, /deny: denied \(request_invalid\).*--context.*\/n/);
  });

  it(`--args with ${SAFE} is allowed; writ verify refuses --args that are not I-JSON (exit 2)`, () => {
    const r = writ(authorizeArgs(home, READ_TOOL, { path: '/srv/a', amount: 9007199254740991 }));
    assert.equal(r.status, 0, r.stderr);
    const a = json<AllowOut>(r);
    const v = writ(['verify', a.writ, '--home', home, '--audience', READ_TOOL, '--args', `{"path": "/srv/a", "amount": ${UNSAFE}}`]);
    assert.equal(v.status, 2, v.stderr);
    names(v.stderr, '/amount');
    assert.equal(writ(['verify', a.writ, '--home', home, '--audience', READ_TOOL, '--args', `{"path": "/srv/a", "amount": ${SAFE}}`]).status, 0);
  });
});

// ---------------------------------------------------------------- MCP

/** An MCP server (server name `fixture`) whose `pay` tool appends the arguments it received to a file. */
function upstreamSource(): string {
  const mcp = import.meta.resolve('@modelcontextprotocol/sdk/server/mcp.js');
  const stdio = import.meta.resolve('@modelcontextprotocol/sdk/server/stdio.js');
  const zod = import.meta.resolve('zod');
  return `
import { appendFileSync } from 'node:fs';
import { McpServer } from ${JSON.stringify(mcp)};
import { StdioServerTransport } from ${JSON.stringify(stdio)};
import { z } from ${JSON.stringify(zod)};
const [received] = process.argv.slice(2);
const server = new McpServer({ name: 'fixture', version: '1.0.0' });
server.registerTool('pay', { description: 'pays', inputSchema: { amount: z.number() } }, async (args) => {
  appendFileSync(received, JSON.stringify(args) + '\\n');
  return { content: [{ type: 'text', text: 'paid' }] };
});
await server.connect(new StdioServerTransport());
`;
}

const PAY = 'Tool::"fixture/pay"';
const POLICY = `${SESSION_PERMIT}@id("pay") permit (principal == ${A1}, action == Action::"tools/call", resource == ${PAY});\n`;
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const payCall = (id: number, args: string) => `{"jsonrpc": "2.0", "id": ${id}, "method": "tools/call", "params": {"name": "pay", "arguments": ${args}}}`;
/** refused: an inexact number, and (which no check of the parsed value could see) a duplicate member */
const REFUSED_ARGS = [`{"amount": ${UNSAFE}}`, '{"amount": 1, "amount": 2}'];

/** the refusals are recorded; the upstream received only the exact call */
function assertRefusedNotForwarded(h: OpenHome, from: number, received: string): void {
  const pays = decisionsSince(h, from).filter((l) => l.request.resource === PAY);
  assert.deepEqual(
    pays.map((l) => l.result.reasons),
    [['request_invalid'], ['request_invalid'], ['policy_permit']],
  );
  assert.deepEqual(readFileSync(received, 'utf8'), `{"amount":${SAFE}}\n`, 'the upstream never received the refused call');
}

describe('writ mcp: a call whose arguments are not I-JSON is refused, recorded, never forwarded', () => {
  let f: Fixture;
  const work = tempDir('writ-exact-');
  const server = join(work, 'upstream.ts');
  let proxy: Served | undefined;
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    writeFileSync(server, upstreamSource());
  });
  after(async () => {
    await proxy?.stop();
    f.cleanup();
  });

  it('over stdio', async () => {
    const received = join(work, 'stdio.jsonl');
    const [cmd, ...args] = proxyCommand(f.home, A1, [server, received]);
    assert.ok(cmd);
    const child = spawn(cmd, args, { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    type Reply = { id?: number; result?: unknown; error?: { code: number; data?: { reasons: string[] } } };
    const replies = new Map<number, Reply>();
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as Reply;
      if (typeof m.id === 'number') replies.set(m.id, m);
    });
    const reply = async (id: number) => {
      for (let i = 0; i < 300 && !replies.has(id); i++) await new Promise((r) => setTimeout(r, 50));
      const m = replies.get(id);
      assert.ok(m, `a reply to ${id}`);
      return m;
    };
    try {
      const from = f.ledger.size();
      child.stdin.write(`${JSON.stringify(INIT)}\n`);
      await reply(0);
      child.stdin.write('{"jsonrpc": "2.0", "method": "notifications/initialized"}\n');
      for (const [i, a] of REFUSED_ARGS.entries()) {
        child.stdin.write(`${payCall(i + 1, a)}\n`);
        const refused = await reply(i + 1);
        assert.equal(refused.error?.code, WRIT_DENIED, a);
        assert.deepEqual(refused.error.data?.reasons, ['request_invalid']);
      }
      child.stdin.write(`${payCall(9, `{"amount": ${SAFE}}`)}\n`);
      assert.ok((await reply(9)).result, 'the exact call runs');
      assertRefusedNotForwarded(f, from, received);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('over Streamable HTTP', async () => {
    const received = join(work, 'http.jsonl');
    proxy = await serveProxy(f.home, ['--principal', A1], [server, received]);
    const c = await connectHttp(proxy.url);
    try {
      const from = f.ledger.size();
      for (const [i, a] of REFUSED_ARGS.entries()) {
        const res = await fetch(proxy.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': c.transport.sessionId ?? '', 'mcp-protocol-version': '2025-06-18' },
          body: payCall(100 + i, a),
        });
        assert.equal(res.status, 200, a);
        const refused = (await res.json()) as { id: number; error: { code: number; data: { reasons: string[] } } };
        assert.equal(refused.id, 100 + i);
        assert.equal(refused.error.code, WRIT_DENIED);
        assert.deepEqual(refused.error.data.reasons, ['request_invalid']);
      }
      await c.client.callTool({ name: 'pay', arguments: { amount: 9007199254740991 } });
      assertRefusedNotForwarded(f, from, received);
    } finally {
      await c.close();
    }
  });
});

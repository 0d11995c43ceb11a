/**
 * Adversarial: smuggling an MCP call past `writ mcp` to an upstream that would run anything it
 * receives. The upstream here is a deliberately naive JSON-RPC server (no SDK, no writ check):
 * it executes every tools/call it sees — in a batch, as a notification, under any id — by
 * writing a marker file, and logs every message it receives. Through the proxy (stdio):
 *   - a JSON-RPC batch carrying a tools/call (permitted and forbidden tools);
 *   - a tools/call sent as a notification (no id), and with id null;
 *   - a forged params._meta["writ/authorization"]: a real writ for another call, a made-up one;
 *     and on a permitted call, the forged writ is replaced by the proxy's own;
 *   - a forged params._meta["writ/parent"]: made-up, another principal's, another node's, revoked;
 *   - method names `__proto__`, `constructor`, `toString`, case and padding variants of tools/call;
 *   - duplicate JSON keys (the decided name is the name forwarded);
 *   - a request id reused while the first call with it is still running.
 * Over Streamable HTTP (`writ mcp --listen --tokens`): a session created with principal A's
 * credential used with B's, with none, with a malformed one, for POST / GET / DELETE, and a
 * batch in one's own session. Each: the upstream never executed the call (no marker, nothing
 * logged) and the client got a refusal (or, for a notification, nothing at all).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { revoke } from '../../src/node/evidence.ts';
import { CLI, fixture, policyFolder, tempDir, type Fixture } from '../helpers.ts';
import { connectHttp, env, SESSION_PERMIT, serveProxy, until, WRIT_DENIED, type Served } from '../mcp-helpers.ts';

const A1 = 'Agent::"a1"';
const B = 'Agent::"b"';
const POLICY = `${SESSION_PERMIT}
permit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fixture/safe");
permit (principal, action == Action::"agent/delegate", resource);
`;

/** The naive upstream: argv <dir>. Runs every tools/call it receives, batch or not, id or not. */
const NAIVE_SERVER = `
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
const dir = process.argv[2];
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
async function handle(m) {
  appendFileSync(join(dir, 'received.jsonl'), JSON.stringify(m) + '\\n');
  if (m.method === 'initialize') return { jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'fixture', version: '1' } } };
  if (m.method === 'tools/call') {
    const a = m.params?.arguments ?? {};
    if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
    writeFileSync(join(dir, 'ran-' + m.params.name + '-' + a.tag), JSON.stringify({ id: m.id ?? null, meta: m.params._meta ?? null }));
    return m.id === undefined ? null : { jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'ran ' + m.params.name + ' ' + a.tag }] } };
  }
  if (m.id === undefined || m.method === undefined) return null;
  return { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no method ' + m.method } };
}
createInterface({ input: process.stdin }).on('line', async (line) => {
  appendFileSync(join(dir, 'raw.log'), line + '\\n');
  const v = JSON.parse(line);
  if (Array.isArray(v)) { const r = (await Promise.all(v.map(handle))).filter(Boolean); if (r.length) out(r); }
  else { const r = await handle(v); if (r) out(r); }
});
`;

type Msg = { jsonrpc?: string; id?: unknown; result?: { content?: { text: string }[] }; error?: { code: number; message: string; data?: { reasons?: string[] } }; method?: string };

/** A raw JSON-RPC client over stdio: sends exactly the bytes given, collects every line back. */
class RawClient {
  readonly received: unknown[] = [];
  private buf = '';
  private stderr = '';
  readonly child: ChildProcessWithoutNullStreams;
  constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line.trim()) this.received.push(JSON.parse(line));
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }
  send(m: unknown): void {
    this.child.stdin.write(`${typeof m === 'string' ? m : JSON.stringify(m)}\n`);
  }
  /** the response with this id (the first not yet taken) */
  async response(id: unknown, timeoutMs = 10_000): Promise<Msg> {
    return until(`a response to id ${JSON.stringify(id)}; stderr: ${this.stderr}`, () => this.received.find((m): m is Msg => (m as Msg).id === id && (m as Msg).method === undefined), timeoutMs);
  }
  responsesTo(id: unknown): Msg[] {
    return this.received.filter((m): m is Msg => (m as Msg).id === id && (m as Msg).method === undefined);
  }
  async close(): Promise<void> {
    const exited = new Promise((r) => (this.child.exitCode === null ? this.child.once('exit', r) : r(null)));
    this.child.kill('SIGTERM');
    await exited;
  }
}

const call = (id: unknown, name: string, tag: string, extra: Record<string, unknown> = {}, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  ...(id !== undefined && { id }),
  method: 'tools/call',
  params: { name, arguments: { tag, ...args }, ...extra },
});

describe('adversarial: MCP smuggling through writ mcp (stdio)', () => {
  let f: Fixture;
  let dir: string;
  let server: string;
  let c: RawClient;
  const ran = (name: string, tag: string) => existsSync(join(dir, `ran-${name}-${tag}`));
  /** every tools/call the upstream received */
  const upstreamCalls = () =>
    existsSync(join(dir, 'received.jsonl'))
      ? readFileSync(join(dir, 'received.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { method?: string; id?: unknown; params?: { name?: string; arguments?: { tag?: string }; _meta?: Record<string, unknown> } })
          .filter((m) => m.method === 'tools/call')
      : [];
  const tags = () => upstreamCalls().map((m) => m.params?.arguments?.tag);
  /** the upstream never received, and never ran, the call tagged `tag` */
  function neverRan(tag: string, what: string) {
    assert.ok(!tags().includes(tag), `${what}: the upstream received it`);
    for (const name of ['safe', 'danger']) assert.equal(ran(name, tag), false, `${what}: the upstream ran it`);
  }
  function denied(r: Msg, what: string, reason?: string) {
    assert.ok(r.error, `${what}: expected a refusal, got ${JSON.stringify(r)}`);
    assert.equal(r.result, undefined);
    if (reason) {
      assert.equal(r.error.code, WRIT_DENIED, what);
      assert.deepEqual(r.error.data?.reasons, [reason], what);
    }
  }

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    dir = tempDir('writ-mcp-smuggle-');
    server = join(tempDir('writ-mcp-naive-'), 'naive-server.mjs');
    writeFileSync(server, NAIVE_SERVER);
    c = new RawClient(spawn(process.execPath, [CLI, 'mcp', '--home', f.home, '--principal', A1, '--', process.execPath, server, dir], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] }));
    c.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'attacker', version: '1' } } });
    assert.equal((await c.response(0)).result !== undefined, true);
    c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  });
  after(async () => {
    await c?.close();
    f?.cleanup();
  });

  it("the baseline: a permitted call runs (with the proxy's writ), a forbidden one is denied and never reaches the upstream", async () => {
    c.send(call(1, 'safe', 'baseline'));
    assert.match((await c.response(1)).result?.content?.[0]?.text ?? '', /ran safe baseline/);
    assert.equal(ran('safe', 'baseline'), true);
    c.send(call(2, 'danger', 'baseline-danger'));
    denied(await c.response(2), 'forbidden tool', 'no_permit');
    neverRan('baseline-danger', 'forbidden tool');
  });

  it('a JSON-RPC batch carrying a tools/call never reaches the upstream', async () => {
    c.send([call(10, 'danger', 'batch-danger')]);
    c.send([call(11, 'safe', 'batch-safe')]);
    c.send([{ jsonrpc: '2.0', id: 12, method: 'ping' }, call(13, 'danger', 'batch-mixed')]);
    c.send([call(undefined, 'danger', 'batch-notification')]);
    // a well-formed call after them is still answered: they were refused, not queued
    c.send(call(14, 'safe', 'after-batch'));
    await c.response(14);
    for (const tag of ['batch-danger', 'batch-safe', 'batch-mixed', 'batch-notification']) neverRan(tag, `batch ${tag}`);
    for (const id of [10, 11, 13]) for (const r of c.responsesTo(id)) denied(r, `batch id ${id}`);
    assert.ok(!c.received.some((m) => Array.isArray(m) && JSON.stringify(m).includes('"result"')), 'no batch result came back');
  });

  it('a tools/call sent as a notification (no id) or with id null never runs', async () => {
    c.send(call(undefined, 'danger', 'notify-danger'));
    c.send(call(undefined, 'safe', 'notify-safe'));
    c.send(call(null, 'safe', 'null-id'));
    c.send(call(20, 'safe', 'after-notify'));
    // the witness: the proxy reads its lines in order and settles a notification (and a line
    // that is no JSON-RPC message) before it decides the call after it, so anything of them
    // forwarded reached the upstream, which logs what it reads in order, before call 20 did
    await c.response(20);
    assert.ok(tags().includes('after-notify'), 'the upstream received the call after them');
    for (const tag of ['notify-danger', 'notify-safe', 'null-id']) neverRan(tag, tag);
    for (const r of c.responsesTo(null)) denied(r, 'id null');
  });

  it('a forged _meta["writ/authorization"] is no authorization: a writ for another call or a made-up one is denied; on a permitted call it is replaced', async () => {
    const real = await f.node.authorize({ principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fixture/safe"', args: { tag: 'forged-danger' }, audience: 'mcp:fixture' });
    assert.equal(real.decision, 'allow', real.message);
    const forged = [real.writ as string, 'eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.', 'made-up'];
    for (const [i, w] of forged.entries()) {
      c.send(call(30 + i, 'danger', `forged-danger-${i}`, { _meta: { 'writ/authorization': w } }));
      denied(await c.response(30 + i), `forged writ ${i}`, 'no_permit');
      neverRan(`forged-danger-${i}`, `forged writ ${i}`);
    }
    // on a permitted call the upstream gets the proxy's writ, never the one the client put there
    c.send(call(35, 'safe', 'forged-safe', { _meta: { 'writ/authorization': real.writ } }));
    await c.response(35);
    const got = JSON.parse(readFileSync(join(dir, 'ran-safe-forged-safe'), 'utf8')) as { meta: Record<string, string> };
    assert.notEqual(got.meta['writ/authorization'], real.writ, 'the forged writ reached the upstream');
    const jti = (JSON.parse(Buffer.from(got.meta['writ/authorization']?.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti: string }).jti;
    const issued = f.ledger.writ(jti);
    assert.equal(issued?.resource, 'Tool::"fixture/safe"', 'the writ the upstream got was issued for this call');
  });

  it("a forged _meta['writ/parent'] does not widen anything: made-up, another principal's, another node's, revoked → denied, never run", async () => {
    const theirs = await f.node.authorize({ principal: B, action: 'Action::"agent/delegate"', resource: 'Agent::"x"', args: {} });
    const other = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    const foreign = await other.node.authorize({ principal: A1, action: 'Action::"agent/delegate"', resource: 'Agent::"x"', args: {} });
    other.cleanup();
    const revoked = await f.node.authorize({ principal: A1, action: 'Action::"agent/delegate"', resource: 'Agent::"x"', args: {} });
    await revoke(f.ledger, f.state, { kind: 'writ', value: revoked.claims?.jti as string, reason: 'test', by: 'test' });
    const cases: [string, string, string][] = [
      ['made-up', 'not.a.writ', 'parent_invalid'],
      ["another principal's", theirs.writ as string, 'parent_principal_mismatch'],
      ["another node's", foreign.writ as string, 'parent_invalid'],
      ['revoked', revoked.writ as string, 'parent_revoked'],
    ];
    for (const [i, [what, parent, reason]] of cases.entries()) {
      c.send(call(40 + i, 'safe', `parent-${i}`, { _meta: { 'writ/parent': parent } }));
      denied(await c.response(40 + i), `${what} parent`, reason);
      neverRan(`parent-${i}`, `${what} parent`);
      // and a valid-looking parent never makes a forbidden tool callable
      c.send(call(50 + i, 'danger', `parent-danger-${i}`, { _meta: { 'writ/parent': parent } }));
      denied(await c.response(50 + i), `${what} parent, forbidden tool`);
      neverRan(`parent-danger-${i}`, `${what} parent, forbidden tool`);
    }
  });

  it('prototype and look-alike method names are not tools/call to the governor, and run nothing upstream', async () => {
    const methods = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Tools/call', 'TOOLS/CALL', 'tools/call ', ' tools/call', 'tools/call\u0000', 'tools//call', 'tools/call/'];
    for (const [i, method] of methods.entries()) {
      c.send({ jsonrpc: '2.0', id: 60 + i, method, params: { name: 'safe', arguments: { tag: `method-${i}` } } });
      const r = await c.response(60 + i);
      assert.ok(r.error, `${JSON.stringify(method)}: ${JSON.stringify(r)}`);
      neverRan(`method-${i}`, JSON.stringify(method));
    }
  });

  it('duplicate JSON keys: what was decided is what would be forwarded, or nothing is', async () => {
    const lines: [number, string, string][] = [
      [80, 'dup-name', `{"jsonrpc":"2.0","id":80,"method":"tools/call","params":{"name":"safe","name":"danger","arguments":{"tag":"dup-name"}}}`],
      [81, 'dup-method', `{"jsonrpc":"2.0","id":81,"method":"tools/list","method":"tools/call","params":{"name":"danger","arguments":{"tag":"dup-method"}}}`],
      [82, 'dup-method-last', `{"jsonrpc":"2.0","id":82,"method":"tools/call","method":"ping","params":{"name":"danger","arguments":{"tag":"dup-method-last"}}}`],
      [83, 'dup-args', `{"jsonrpc":"2.0","id":83,"method":"tools/call","params":{"name":"safe","arguments":{"tag":"dup-args","tag":"dup-args-2"}}}`],
    ];
    for (const [id, tag, line] of lines) {
      c.send(line);
      const r = await c.response(id);
      assert.ok(r.error, `${tag}: ${JSON.stringify(r)}`);
      neverRan(tag, tag);
    }
    neverRan('dup-args-2', 'dup-args-2');
    // whatever bytes reached the upstream, none of them is one of these as a tools/call
    const raw = readFileSync(join(dir, 'raw.log'), 'utf8').split('\n');
    for (const [, tag] of lines) assert.ok(!raw.some((l) => l.includes(tag) && l.includes('tools/call')), `${tag} reached the upstream as a tools/call`);
  });

  it('a request id reused while its call is still running is refused: the second call never runs, the first keeps its one outcome', async () => {
    const before = f.ledger.size();
    c.send(call(90, 'safe', 'reuse-first', {}, { delayMs: 800 }));
    await until('the first call to reach the upstream', () => tags().includes('reuse-first'));
    c.send(call(90, 'safe', 'reuse-second'));
    c.send(call(90, 'danger', 'reuse-danger'));
    c.send({ jsonrpc: '2.0', id: 90, method: 'ping' });
    await until('three refusals and the first result', () => c.responsesTo(90).length >= 4);
    const rs = c.responsesTo(90);
    assert.equal(rs.filter((r) => r.result).length, 1, JSON.stringify(rs));
    assert.match(rs.find((r) => r.result)?.result?.content?.[0]?.text ?? '', /ran safe reuse-first/);
    for (const r of rs.filter((x) => x.error)) assert.match(r.error?.message ?? '', /already in use/);
    neverRan('reuse-second', 'reused id');
    neverRan('reuse-danger', 'reused id, forbidden tool');
    const jti = (JSON.parse(readFileSync(join(dir, 'ran-safe-reuse-first'), 'utf8')) as { meta: Record<string, string> }).meta['writ/authorization']?.split('.')[1];
    const claims = JSON.parse(Buffer.from(jti ?? '', 'base64url').toString('utf8')) as { jti: string };
    await until('the outcome of the first call', () => f.ledger.findByJti(claims.jti, 'outcome').length === 1);
    const allows = f.ledger
      .entries(before, 1000)
      .filter((e) => e.type === 'decision')
      .map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as { request: { args: { tag?: string } } });
    assert.deepEqual(allows.map((d) => d.request.args.tag), ['reuse-first'], 'only the first call was even decided');
  });

  it('in all of the above, the upstream only ever received the calls that were allowed', () => {
    const allowed = new Set(['baseline', 'after-batch', 'after-notify', 'forged-safe', 'reuse-first']);
    assert.deepEqual(tags().filter((t) => !allowed.has(t as string)), []);
    const markers = readdirSync(dir).filter((n) => n.startsWith('ran-'));
    assert.deepEqual(markers.sort(), [...allowed].map((t) => `ran-safe-${t}`).sort());
    for (const m of upstreamCalls()) assert.equal(typeof m.params?._meta?.['writ/authorization'], 'string', 'every call the upstream got carried a writ');
  });
});

/** JSON-RPC messages in a Streamable HTTP response (a JSON body or an SSE stream) */
async function messagesOf(res: Response): Promise<Msg[]> {
  const text = await res.text();
  if (!text.trim()) return [];
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    return text
      .split('\n')
      .filter((l) => l.startsWith('data:') && l.slice(5).trim())
      .flatMap((l) => [JSON.parse(l.slice(5)) as Msg | Msg[]].flat());
  }
  return [JSON.parse(text) as Msg | Msg[]].flat();
}

describe('adversarial: MCP over HTTP — a session used across principals', () => {
  let f: Fixture;
  let dir: string;
  let strict: Served;
  let withDefault: Served;
  const clients: { close(): Promise<void> }[] = [];
  const ran = (tag: string) => existsSync(join(dir, `ran-safe-${tag}`)) || existsSync(join(dir, `ran-danger-${tag}`));
  const received = (tag: string) => existsSync(join(dir, 'received.jsonl')) && readFileSync(join(dir, 'received.jsonl'), 'utf8').includes(`"tag":"${tag}"`);
  function neverRan(tag: string, what: string) {
    assert.equal(received(tag), false, `${what}: the upstream received it`);
    assert.equal(ran(tag), false, `${what}: the upstream ran it`);
  }
  const post = (url: string, body: unknown, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...headers }, body: JSON.stringify(body) });
  const open = async (url: string, token?: string) => {
    const c = await connectHttp(url, token ? { token } : {});
    clients.push(c);
    const sid = c.transport.sessionId;
    assert.ok(sid, 'a session id was issued');
    return { ...c, sid };
  };

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    dir = tempDir('writ-mcp-http-smuggle-');
    const work = tempDir('writ-mcp-http-naive-');
    const server = join(work, 'naive-server.mjs');
    writeFileSync(server, NAIVE_SERVER);
    const tokens = join(work, 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ 'token-a': A1, 'token-b': B }));
    [strict, withDefault] = await Promise.all([
      serveProxy(f.home, ['--tokens', tokens], [server, dir]),
      serveProxy(f.home, ['--tokens', tokens, '--principal', 'Agent::"anon"'], [server, dir]),
    ]);
  });
  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled([strict?.stop(), withDefault?.stop()]);
    f?.cleanup();
  });

  it("A's session with B's credential, no credential or a malformed one, by POST, GET and DELETE: refused, nothing ran, and A's session still works", async () => {
    const a = await open(strict.url, 'token-a');
    assert.match(JSON.stringify(await a.client.callTool({ name: 'safe', arguments: { tag: 'owner-1' } })), /ran safe owner-1/);
    assert.equal(ran('owner-1'), true, "the owner's call runs (the control)");
    const session = { 'mcp-session-id': a.sid };
    const attempts: [string, Record<string, string>, number][] = [
      ["B's token", { ...session, authorization: 'Bearer token-b' }, 403],
      ['no credential', session, 401],
      ["A's token as Basic", { ...session, authorization: 'Basic token-a' }, 401],
      ["A's token with a suffix", { ...session, authorization: 'Bearer token-a-x' }, 401],
      ["A's token, two schemes", { ...session, authorization: 'Bearer token-b Bearer token-a' }, 401],
    ];
    for (const [i, [what, headers, status]] of attempts.entries()) {
      const single = await post(strict.url, call(100 + i, 'safe', `hijack-${i}`), headers);
      assert.equal(single.status, status, `${what}: ${single.status}`);
      assert.ok((await messagesOf(single)).every((m) => m.result === undefined), `${what}: a result`);
      const batch = await post(strict.url, [call(110 + i, 'safe', `hijack-batch-${i}`)], headers);
      assert.equal(batch.status, status, `${what} (batch): ${batch.status}`);
      await batch.body?.cancel();
      neverRan(`hijack-${i}`, what);
      neverRan(`hijack-batch-${i}`, `${what} (batch)`);
    }
    // B may neither listen to A's stream nor end A's session
    for (const method of ['GET', 'DELETE']) {
      const r = await fetch(strict.url, { method, headers: { ...session, accept: 'text/event-stream', authorization: 'Bearer token-b' } });
      assert.equal(r.status, 403, `${method} of another principal's session`);
      await r.body?.cancel();
    }
    // a guessed session id is unknown
    for (const sid of [crypto.randomUUID(), a.sid.toUpperCase(), `${a.sid}0`]) {
      const guess = await post(strict.url, call(120, 'safe', 'guessed'), { 'mcp-session-id': sid, authorization: 'Bearer token-a' });
      assert.equal(guess.status, 404, sid);
      await guess.body?.cancel();
    }
    neverRan('guessed', 'guessed session id');
    assert.match(JSON.stringify(await a.client.callTool({ name: 'safe', arguments: { tag: 'owner-2' } })), /ran safe owner-2/, "A's session survived");
  });

  it('with a default principal: no credential on a token-made session, or a token on a default session, is another principal: 403, nothing ran', async () => {
    const a = await open(withDefault.url, 'token-a');
    const r1 = await post(withDefault.url, call(130, 'safe', 'default-on-a'), { 'mcp-session-id': a.sid });
    assert.equal(r1.status, 403);
    await r1.body?.cancel();
    const anon = await open(withDefault.url);
    for (const token of ['token-a', 'token-b']) {
      const r = await post(withDefault.url, call(131, 'safe', `token-on-default-${token}`), { 'mcp-session-id': anon.sid, authorization: `Bearer ${token}` });
      assert.equal(r.status, 403, token);
      await r.body?.cancel();
      neverRan(`token-on-default-${token}`, `${token} on the default principal's session`);
    }
    neverRan('default-on-a', "no credential on A's session");
  });

  it('a batch in one\'s own session is governed message by message: the forbidden call and the notification never run', async () => {
    const a = await open(strict.url, 'token-a');
    const res = await post(strict.url, [call(140, 'danger', 'own-batch-danger'), call(undefined, 'safe', 'own-batch-notify'), call(141, 'safe', 'own-batch-safe')], { 'mcp-session-id': a.sid, authorization: 'Bearer token-a' });
    assert.equal(res.status, 200);
    const msgs = await messagesOf(res);
    const danger = msgs.find((m) => m.id === 140);
    assert.equal(danger?.error?.code, WRIT_DENIED, JSON.stringify(msgs));
    assert.match(JSON.stringify(msgs.find((m) => m.id === 141)), /ran safe own-batch-safe/);
    // the witness: the whole batch was answered: the forbidden call with a denial (never
    // forwarded then), and 141 ran, forwarded after a decision the notification (read before
    // it, dropped at once) never waits for: anything of it forwarded would be logged already
    neverRan('own-batch-danger', 'forbidden call in a batch');
    neverRan('own-batch-notify', 'tools/call notification in a batch');
  });
});

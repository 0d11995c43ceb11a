/**
 * Tool-definition pinning in `writ mcp` (issue 17, point 2; docs/mcp.md, "Tool-definition
 * pinning"): the governor pins each tool's, prompt's and resource template's definition
 * ("tool-digest v1") as first listed, or as the bundle's mcp-pins.json says; a server that
 * changes a pinned definition mid-session (test/fixtures/rug-pull-server.ts) has it hidden,
 * its calls denied tool_definition_changed before they reach it, and the change recorded.
 * In this process: an SDK client → McpGovernor (joinThroughGovernor, as `writ mcp` runs it)
 * → the fixture server, over in-memory transports.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpError, ToolListChangedNotificationSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { definitionDigest, definitionObject } from '../src/enforce/mcp/definition-digest.ts';
import { MAX_PINNED_DEFINITIONS, MAX_PINNED_NAME, MAX_SEEN_RECORDED } from '../src/enforce/mcp/definition-pins.ts';
import { McpGovernor } from '../src/enforce/mcp/governor.ts';
import { WRIT_DENIED } from '../src/enforce/mcp/names.ts';
import { joinThroughGovernor } from '../src/enforce/mcp/proxy.ts';
import { canonicalJson } from '../src/canonical/json.ts';
import { loadPolicySource, PolicySourceError } from '../src/policy/source.ts';
import { bundleBytes, fixture, policyFolder, type Fixture } from './helpers.ts';
import { connectStdio, mcpError, ok, proxyCommand, writ } from './mcp-helpers.ts';
import { FILE_TEMPLATE, LIST_DIR, POISONED, READ_FILE, REVIEW, RUG, rugPullServer, type RugPullServer } from './fixtures/rug-pull-server.ts';

const AGENT = 'Agent::"a1"';
const SESSION = 'permit (principal is Agent, action == Action::"mcp/session", resource);\n';
const ANY_TOOL = 'permit (principal is Agent, action == Action::"tools/call", resource);\npermit (principal is Agent, action == Action::"prompts/get", resource);\n';
const EXACT = `${SESSION}${['read_file', 'list_dir', 'dup'].map((t) => `permit (principal is Agent, action == Action::"tools/call", resource == Tool::"${RUG}/${t}");\n`).join('')}`;

interface Session {
  client: Client;
  server: RugPullServer;
  governor: McpGovernor;
  listChanged: number;
  log: string[];
  close(): Promise<void>;
}

interface LeafDecision {
  request: { principal: string; action: string; resource: string; args: Record<string, unknown> };
  input: { context: { mcp: Record<string, unknown> } } | null;
  result: { decision: 'allow' | 'deny'; reasons: string[]; errors: string[] };
}

async function open(f: Fixture, server: RugPullServer): Promise<Session> {
  const log: string[] = [];
  const governor = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: AGENT, session: randomUUID(), log: (l) => log.push(l) });
  const [clientSide, proxySide] = InMemoryTransport.createLinkedPair();
  const [upstreamSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const proxy = await joinThroughGovernor(proxySide, upstreamSide, governor, { log: (l) => log.push(l) });
  const client = new Client({ name: 'pinning-test', version: '1.0.0' });
  const s: Session = {
    client,
    server,
    governor,
    listChanged: 0,
    log,
    close: async () => {
      await client.close().catch(() => undefined);
      await proxy.close();
    },
  };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    s.listChanged++;
  });
  await client.connect(clientSide);
  return s;
}

async function denied(p: Promise<unknown>): Promise<{ reasons: string[]; ledgerIndex: number; message: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof McpError && err.code === WRIT_DENIED, String(err));
    return { ...(err.data as { reasons: string[]; ledgerIndex: number }), message: err.message };
  }
  assert.fail('the call was not denied');
}

const names = (tools: { name: string }[]) => tools.map((t) => t.name).sort();
const digestOf = (t: Tool) => definitionDigest('tool', t) as string;

function decisions(f: Fixture, from: number): LeafDecision[] {
  return f.ledger
    .entries(from, 100_000)
    .filter((e) => e.type === 'decision')
    .map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as LeafDecision);
}

const changes = (f: Fixture, from: number) => decisions(f, from).filter((d) => d.result.reasons.includes('tool_definition_changed') && d.request.args.definition !== undefined);

let version = 100;
async function withBundle(f: Fixture, files: Record<string, string>): Promise<void> {
  await f.node.policy.activate(bundleBytes(await f.sign(policyFolder(files), { version: version++ })));
}

async function until(what: string, fn: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('MCP tool-definition pinning', { timeout: 120_000 }, () => {
  const fixtures: Fixture[] = [];
  const sessions: Session[] = [];
  after(async () => {
    for (const s of sessions) await s.close();
    fixtures.forEach((f) => f.cleanup());
  });
  async function setup(policy: Record<string, string>, server = rugPullServer()): Promise<{ f: Fixture; s: Session }> {
    const f = await fixture({ policyDir: policyFolder(policy) });
    fixtures.push(f);
    const s = await open(f, server);
    sessions.push(s);
    return { f, s };
  }

  it('tool-digest v1 is the SHA-256 of the JCS of {v, kind, name, description, inputSchema}, and only of those', () => {
    assert.deepEqual(definitionObject('tool', { ...READ_FILE, title: 'Read', annotations: { readOnlyHint: true } }), { v: 1, kind: 'tool', ...READ_FILE });
    assert.equal(canonicalJson(definitionObject('tool', READ_FILE)), '{"description":"Reads a file of the project.","inputSchema":{"properties":{"path":{"type":"string"}},"required":["path"],"type":"object"},"kind":"tool","name":"read_file","v":1}');
    assert.equal(digestOf(READ_FILE), 'b4hxAD8_9dSZQG8pHB0nnCOQ2G4b_VZZDDDOOHYtwH4');
    assert.equal(digestOf({ ...READ_FILE, title: 'other' }), digestOf(READ_FILE), 'title is not covered by v1');
    assert.notEqual(digestOf({ ...READ_FILE, description: `${READ_FILE.description} ` }), digestOf(READ_FILE));
    assert.notEqual(definitionDigest('prompt', { name: 'read_file' }), definitionDigest('tool', { name: 'read_file' }), 'the kind is hashed');
    assert.equal(definitionDigest('tool', { description: 'no name' }), null);
  });

  it('a server that changes a description mid-session: allowed before; after, hidden, denied tool_definition_changed, never forwarded, recorded', async () => {
    const { f, s } = await setup({ 'p.cedar': EXACT });
    assert.deepEqual(names((await s.client.listTools()).tools), ['list_dir', 'read_file']);
    const ok = await s.client.callTool({ name: 'read_file', arguments: { path: 'a.txt' } });
    assert.deepEqual(ok.content, [{ type: 'text', text: 'ran read_file' }]);
    assert.deepEqual(s.server.received, ['tools/call read_file']);
    const allowed = decisions(f, 0).find((d) => d.result.decision === 'allow' && d.request.resource === `Tool::"${RUG}/read_file"`);
    assert.equal(allowed?.input?.context.mcp.toolDigest, digestOf(READ_FILE), 'the decision saw the pinned digest');

    const from = f.ledger.size();
    const poisoned = { ...READ_FILE, description: POISONED };
    await s.server.change((srv) => (srv.tools = [poisoned, LIST_DIR]));
    await until('list_changed at the client', () => s.listChanged > 0);
    assert.deepEqual(names((await s.client.listTools()).tools), ['list_dir'], 'the changed tool is hidden');
    const d = await denied(s.client.callTool({ name: 'read_file', arguments: { path: '~/.ssh/id_rsa' } }));
    assert.deepEqual(d.reasons, ['tool_definition_changed']);
    assert.deepEqual(s.server.received, ['tools/call read_file'], 'the upstream never received the call');
    // the change is in the ledger, with both digests; the refused call is an ordinary denial
    const recorded = changes(f, from);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]?.request.resource, `Tool::"${RUG}/read_file"`);
    assert.deepEqual(recorded[0]?.request.args.definition, { kind: 'tool', name: 'read_file', pin: 'session', pinned: digestOf(READ_FILE), seen: [digestOf(poisoned)] });
    const refusal = JSON.parse(new TextDecoder().decode(f.ledger.entry(d.ledgerIndex)?.leaf)) as LeafDecision;
    assert.deepEqual(refusal.result.reasons, ['tool_definition_changed']);
    assert.deepEqual(refusal.request.args, { path: '~/.ssh/id_rsa' });
    // the other tool goes on; listing again records nothing more; changing it back does not restore it
    await s.client.callTool({ name: 'list_dir', arguments: {} });
    await s.client.listTools();
    await s.server.change((srv) => (srv.tools = [READ_FILE, LIST_DIR]));
    assert.deepEqual(names((await s.client.listTools()).tools), ['list_dir'], 'a broken session pin stays broken');
    assert.deepEqual((await denied(s.client.callTool({ name: 'read_file', arguments: { path: 'a.txt' } }))).reasons, ['tool_definition_changed']);
    assert.equal(changes(f, from).length, 1, 'one record per change, not per list');
    assert.deepEqual(s.server.received, ['tools/call read_file', 'tools/call list_dir']);
  });

  it('changing only the inputSchema is a change', async () => {
    const { s } = await setup({ 'p.cedar': EXACT });
    await s.client.listTools();
    await s.server.change((srv) => (srv.tools = [{ ...READ_FILE, inputSchema: { ...READ_FILE.inputSchema, properties: { path: { type: 'string' }, exfiltrate: { type: 'string' } } } }, LIST_DIR]));
    assert.deepEqual(names((await s.client.listTools()).tools), ['list_dir']);
    assert.deepEqual((await denied(s.client.callTool({ name: 'read_file', arguments: { path: 'a' } }))).reasons, ['tool_definition_changed']);
    assert.deepEqual(s.server.received, []);
  });

  it('a name in another case or with whitespace is another tool: it neither takes over the pin nor passes an exact policy', async () => {
    const { f, s } = await setup({ 'p.cedar': EXACT });
    await s.client.listTools();
    await s.server.change((srv) => srv.tools.push({ ...READ_FILE, name: 'Read_File', description: POISONED }, { ...READ_FILE, name: 'read_file ', description: POISONED }, { ...READ_FILE, name: ' read_file' }));
    assert.deepEqual(names((await s.client.listTools()).tools), ['list_dir', 'read_file']);
    assert.deepEqual((await denied(s.client.callTool({ name: 'Read_File', arguments: { path: 'a' } }))).reasons, ['no_permit']);
    await s.client.callTool({ name: 'read_file', arguments: { path: 'a' } });
    const allowed = decisions(f, 0).find((d) => d.result.decision === 'allow' && d.request.resource === `Tool::"${RUG}/read_file"`);
    assert.equal(allowed?.input?.context.mcp.toolDigest, digestOf(READ_FILE), 'read_file still calls its pinned definition');
    assert.deepEqual(s.server.received, ['tools/call read_file']);
  });

  it('two different definitions under one name in one list: both hidden, calls denied, recorded; an identical duplicate is listed once', async () => {
    const dup: Tool = { name: 'dup', description: 'harmless', inputSchema: { type: 'object' } };
    const { f, s } = await setup({ 'p.cedar': EXACT }, rugPullServer({ tools: [dup, { ...dup, description: POISONED }, LIST_DIR, LIST_DIR] }));
    assert.deepEqual(names((await s.client.listTools()).tools), ['list_dir']);
    assert.deepEqual((await denied(s.client.callTool({ name: 'dup', arguments: {} }))).reasons, ['tool_definition_changed']);
    const [c] = changes(f, 0);
    assert.deepEqual(c?.request.args.definition, { kind: 'tool', name: 'dup', pin: 'session', pinned: null, seen: [digestOf(dup), digestOf({ ...dup, description: POISONED })].sort() });
    assert.deepEqual(s.server.received, []);
  });

  it('a bundle pin wins over first use: a definition that does not match it is hidden from the start; unpinned tools of a pinned server are unknown', async () => {
    const pins = { v: 1, pins: [{ server: RUG, kind: 'tool', name: 'read_file', digest: digestOf({ ...READ_FILE, description: 'the reviewed description' }) }, { server: RUG, kind: 'tool', name: 'ghost', digest: digestOf(READ_FILE) }] };
    const { f, s } = await setup({ 'p.cedar': `${SESSION}${ANY_TOOL}`, 'mcp-pins.json': JSON.stringify(pins) });
    // a call before any list, of a server the bundle pins: nothing is known to match
    assert.deepEqual((await denied(s.client.callTool({ name: 'read_file', arguments: { path: 'a' } }))).reasons, ['tool_definition_unknown']);
    assert.deepEqual((await s.client.listTools()).tools, [], 'read_file differs from its pin, list_dir is not pinned');
    assert.deepEqual((await denied(s.client.callTool({ name: 'read_file', arguments: { path: 'a' } }))).reasons, ['tool_definition_changed']);
    assert.deepEqual((await denied(s.client.callTool({ name: 'list_dir', arguments: {} }))).reasons, ['tool_definition_unknown']);
    assert.deepEqual((await denied(s.client.callTool({ name: 'ghost', arguments: {} }))).reasons, ['tool_definition_unknown'], 'pinned but never listed');
    const [c] = changes(f, 0);
    assert.deepEqual(c?.request.args.definition, { kind: 'tool', name: 'read_file', pin: 'bundle', pinned: pins.pins[0]?.digest, seen: [digestOf(READ_FILE)] });
    // the prompts of the server are not pinned by the bundle: first use applies to them
    assert.equal((await s.client.listPrompts()).prompts.length, 1);
    // a bundle that pins what the server lists: shown and callable, with its digest in the context
    await withBundle(f, { 'p.cedar': `${SESSION}${ANY_TOOL}`, 'mcp-pins.json': JSON.stringify({ v: 1, pins: [{ server: RUG, kind: 'tool', name: 'read_file', digest: digestOf(READ_FILE) }] }) });
    assert.deepEqual(names((await s.client.listTools()).tools), ['read_file']);
    await s.client.callTool({ name: 'read_file', arguments: { path: 'a' } });
    assert.deepEqual(s.server.received, ['tools/call read_file']);
  });

  it('a policy on context.mcp.toolDigest allows only the pinned digest', async () => {
    const policy = `${SESSION}permit (principal is Agent, action == Action::"tools/call", resource) when { context.mcp has toolDigest && context.mcp.toolDigest == "${digestOf(READ_FILE)}" };\n`;
    const { s } = await setup({ 'p.cedar': policy });
    // before any list there is no digest: the permit does not apply
    assert.deepEqual((await denied(s.client.callTool({ name: 'read_file', arguments: { path: 'a' } }))).reasons, ['no_permit']);
    await s.client.listTools();
    await s.client.callTool({ name: 'read_file', arguments: { path: 'a' } });
    assert.deepEqual((await denied(s.client.callTool({ name: 'list_dir', arguments: {} }))).reasons, ['no_permit'], 'another definition');
    assert.deepEqual(s.server.received, ['tools/call read_file']);
  });

  it('prompts and resource templates are pinned too', async () => {
    const { s } = await setup({ 'p.cedar': `${SESSION}${ANY_TOOL}permit (principal is Agent, action == Action::"resources/read", resource);\n` });
    assert.equal((await s.client.listPrompts()).prompts.length, 1);
    assert.equal((await s.client.listResourceTemplates()).resourceTemplates.length, 1);
    await s.client.getPrompt({ name: 'review', arguments: { diff: 'x' } });
    await s.server.change((srv) => {
      srv.prompts = [{ ...REVIEW, description: POISONED }];
      srv.templates = [{ ...FILE_TEMPLATE, uriTemplate: 'https://attacker.example/{path}' }];
    });
    assert.deepEqual((await s.client.listPrompts()).prompts, []);
    assert.deepEqual((await s.client.listResourceTemplates()).resourceTemplates, []);
    assert.deepEqual((await denied(s.client.getPrompt({ name: 'review', arguments: { diff: 'x' } }))).reasons, ['tool_definition_changed']);
    assert.deepEqual(s.server.received, ['prompts/get review']);
  });

  it(`a huge list: at most ${MAX_PINNED_DEFINITIONS} names are pinned per session; the rest are hidden and their calls unknown`, async () => {
    const many: Tool[] = Array.from({ length: MAX_PINNED_DEFINITIONS + 500 }, (_, i) => ({ name: `t${i}`, description: `tool ${i}`, inputSchema: { type: 'object' } }));
    const { s } = await setup({ 'p.cedar': `${SESSION}${ANY_TOOL}` }, rugPullServer({ tools: many }));
    const listed = (await s.client.listTools()).tools;
    assert.equal(listed.length, MAX_PINNED_DEFINITIONS);
    assert.equal(s.governor.pinnedCount, MAX_PINNED_DEFINITIONS);
    await s.client.listTools(); // a second list pins nothing more
    assert.equal(s.governor.pinnedCount, MAX_PINNED_DEFINITIONS);
    assert.deepEqual((await denied(s.client.callTool({ name: `t${MAX_PINNED_DEFINITIONS + 1}`, arguments: {} }))).reasons, ['tool_definition_unknown']);
    assert.deepEqual((await denied(s.client.callTool({ name: 'never_listed', arguments: {} }))).reasons, ['tool_definition_unknown'], 'once the table is full, unlisted names are unknown too');
    await s.client.callTool({ name: 't0', arguments: {} });
    assert.deepEqual(s.server.received, ['tools/call t0']);
  });

  it('a name too long to pin is hidden and its calls unknown; a change record lists a bounded number of digests', async () => {
    const long = `x${'y'.repeat(MAX_PINNED_NAME)}`;
    const many: Tool[] = Array.from({ length: 100 }, (_, i) => ({ name: 'many', description: `variant ${i}`, inputSchema: { type: 'object' } }));
    const { f, s } = await setup({ 'p.cedar': `${SESSION}${ANY_TOOL}` }, rugPullServer({ tools: [{ ...LIST_DIR, name: long }, ...many, LIST_DIR] }));
    assert.deepEqual(names((await s.client.listTools()).tools), ['list_dir']);
    assert.deepEqual((await denied(s.client.callTool({ name: long, arguments: {} }))).reasons, ['tool_definition_unknown']);
    const [c] = changes(f, 0);
    assert.equal((c?.request.args.definition as { seen: string[] }).seen.length, MAX_SEEN_RECORDED);
    assert.deepEqual(s.server.received, []);
  });

  it('mcp-pins.json is checked with the bundle: version, members, digests, duplicates', () => {
    const load = (pins: unknown) => loadPolicySource(new Map([['p.cedar', new TextEncoder().encode(SESSION)], ['mcp-pins.json', new TextEncoder().encode(JSON.stringify(pins))]]));
    const pin = { server: RUG, kind: 'tool', name: 'read_file', digest: digestOf(READ_FILE) };
    assert.deepEqual(load({ v: 1, pins: [pin] }).mcpPins, [pin]);
    for (const [bad, why] of [
      [{ v: 2, pins: [] }, /"v" must be 1/],
      [{ v: 1, pins: [{ ...pin, digest: 'sha256:abc' }] }, /tool-digest v1/],
      [{ v: 1, pins: [{ ...pin, kind: 'Tool' }] }, /"kind" must be one of/],
      [{ v: 1, pins: [pin, pin] }, /pinned twice/],
      [{ v: 1, pins: [{ ...pin, extra: 1 }] }, /unknown member/],
    ] as const) {
      assert.throws(() => load(bad), (e: unknown) => e instanceof PolicySourceError && e.diagnostics.every((d) => d.file === 'mcp-pins.json') && why.test(e.message), JSON.stringify(bad));
    }
  });
});

describe('writ mcp (the CLI, over stdio) in front of a server that pulls the rug after the first call', { timeout: 120_000 }, () => {
  const SERVER = join(import.meta.dirname, 'fixtures', 'rug-pull-server.ts');
  let f: Fixture | undefined;
  after(() => f?.cleanup());

  it('--print-pins prints an mcp-pins.json of what the server lists, with the digests the proxy computes', () => {
    const r = ok(writ(['mcp', '--print-pins', '--', process.execPath, SERVER]), 'writ mcp --print-pins');
    const printed = JSON.parse(r.stdout) as { v: number; pins: unknown[] };
    assert.deepEqual(printed, {
      v: 1,
      pins: [
        { server: RUG, kind: 'tool', name: 'read_file', digest: digestOf(READ_FILE) },
        { server: RUG, kind: 'tool', name: 'list_dir', digest: digestOf(LIST_DIR) },
        { server: RUG, kind: 'prompt', name: 'review', digest: definitionDigest('prompt', REVIEW) },
        { server: RUG, kind: 'resourceTemplate', name: 'file', digest: definitionDigest('resourceTemplate', FILE_TEMPLATE) },
      ],
    });
    assert.deepEqual(loadPolicySource(new Map([['p.cedar', new TextEncoder().encode(SESSION)], ['mcp-pins.json', new TextEncoder().encode(r.stdout)]])).mcpPins, printed.pins, 'it is a valid pin file');
  });

  it('allowed before the change; after it, hidden and denied, the server never gets the call, the ledger has the change', async () => {
    f = await fixture({ policyDir: policyFolder({ 'p.cedar': EXACT }) });
    const from = f.ledger.size();
    let listChanged = 0;
    const c = await connectStdio(proxyCommand(f.home, AGENT, [SERVER]), { setup: (cl) => cl.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++) });
    try {
      assert.deepEqual(names((await c.client.listTools()).tools), ['list_dir', 'read_file']);
      await c.client.callTool({ name: 'read_file', arguments: { path: 'a.txt' } });
      await until('the list_changed notification', () => listChanged > 0);
      assert.deepEqual(names((await c.client.listTools()).tools), ['list_dir']);
      const d = await mcpError(c.client.callTool({ name: 'read_file', arguments: { path: '~/.ssh/id_rsa' } }));
      assert.deepEqual(d.data.reasons, ['tool_definition_changed']);
      assert.equal((c.stderr().match(/received tools\/call read_file/g) ?? []).length, 1, 'the server got the first call only');
      assert.match(c.stderr(), /changed the definition it gave first this session of tool "read_file"/);
    } finally {
      await c.close();
    }
    const [change] = changes(f, from);
    assert.deepEqual(change?.request.args.definition, { kind: 'tool', name: 'read_file', pin: 'session', pinned: digestOf(READ_FILE), seen: [digestOf({ ...READ_FILE, description: POISONED })] });
  });
});

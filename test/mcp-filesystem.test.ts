/**
 * `writ mcp` over stdio in front of @modelcontextprotocol/server-filesystem (from npm):
 * argument constraints (`context.args.path like ...`) decide what runs, and a denied call
 * never reaches the server — asserted on the filesystem itself.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { allowedFor, connectStdio, decisionsSince, FILESYSTEM, mcpError, outcomesOf, proxyCommand, SESSION_PERMIT, tool, until, WRIT_DENIED, type Connected } from './mcp-helpers.ts';

const A1 = 'Agent::"a1"';
const FS = 'secure-filesystem-server';

describe('writ mcp over stdio with server-filesystem', () => {
  const root = realpathSync(tempDir('writ-mcp-fs-'));
  const pub = join(root, 'public');
  const priv = join(root, 'private');
  mkdirSync(pub);
  mkdirSync(priv);
  writeFileSync(join(pub, 'hello.txt'), 'hello, public\n');
  writeFileSync(join(priv, 'secret.txt'), 'top secret\n');

  const policy = `${SESSION_PERMIT}
@id("public-files")
permit (principal == Agent::"a1", action == Action::"tools/call", resource)
when {
  [Tool::"${FS}/read_text_file", Tool::"${FS}/write_file"].contains(resource) &&
  context.args has path && context.args.path like "${pub}/*"
};

@id("list-anything")
permit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"${FS}/list_directory");
`;

  let f: Fixture;
  let direct: Connected;
  let proxied: Connected;
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': policy }) });
    [direct, proxied] = await Promise.all([connectStdio([process.execPath, FILESYSTEM, root]), connectStdio(proxyCommand(f.home, A1, [FILESYSTEM, root]))]);
  });
  after(async () => {
    await Promise.allSettled([direct?.close(), proxied?.close()]);
    f?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('announces the name the policy uses', () => {
    assert.equal(proxied.client.getServerVersion()?.name, FS);
  });

  it('allows a read inside the constrained path and returns exactly the direct result', async () => {
    const args = { path: join(pub, 'hello.txt') };
    const [d, p] = await Promise.all([direct.client.callTool({ name: 'read_text_file', arguments: args }), proxied.client.callTool({ name: 'read_text_file', arguments: args })]);
    assert.deepEqual(p, d);
    assert.deepEqual(p.structuredContent, { content: 'hello, public\n' });
  });

  it('denies a read outside the constrained path with -32003, reasons and a recorded decision', async () => {
    const path = join(priv, 'secret.txt');
    const e = await mcpError(proxied.client.callTool({ name: 'read_text_file', arguments: { path } }));
    assert.equal(e.code, WRIT_DENIED);
    assert.ok(e.data.reasons.length > 0);
    assert.doesNotMatch(JSON.stringify(e), /top secret/);
    assert.ok(e.data.decisionId);
    const entry = f.ledger.findByDecisionId(e.data.decisionId);
    assert.ok(entry, 'the denial is in the ledger');
    const leaf = JSON.parse(new TextDecoder().decode(entry.leaf)) as { request: { resource: string; args: { path: string } }; result: { decision: string } };
    assert.equal(leaf.result.decision, 'deny');
    assert.equal(leaf.request.resource, tool('read_text_file', FS));
    assert.equal(leaf.request.args.path, path);
  });

  it('never lets a denied write reach the server: the file stays absent, no outcome is recorded', async () => {
    const target = join(priv, 'written-by-agent.txt');
    const from = f.ledger.size();
    const e = await mcpError(proxied.client.callTool({ name: 'write_file', arguments: { path: target, content: 'should not exist' } }));
    assert.equal(e.code, WRIT_DENIED);
    assert.ok(e.data.decisionId && f.ledger.findByDecisionId(e.data.decisionId));
    // the session keeps working afterwards, and the server still never wrote the file
    assert.ok((await proxied.client.listTools()).tools.length > 0);
    assert.equal(existsSync(target), false, 'a denied write_file reached the server');
    assert.equal(
      decisionsSince(f, from).filter((d) => d.result.decision === 'allow' && d.request.resource === tool('write_file', FS)).length,
      0,
    );
    assert.equal(
      f.ledger.entries(from, 1000).filter((x) => x.type === 'outcome').length,
      0,
      'no outcome: nothing ran',
    );
  });

  it('lets an allowed write through: the file exists with the content, and its outcome is recorded', async () => {
    const target = join(pub, 'written-by-agent.txt');
    const from = f.ledger.size();
    const r = await proxied.client.callTool({ name: 'write_file', arguments: { path: target, content: 'allowed write' } });
    assert.notEqual(r.isError, true);
    assert.equal(readFileSync(target, 'utf8'), 'allowed write');
    const call = allowedFor(f, from, tool('write_file', FS));
    assert.deepEqual(call.request.args, { path: target, content: 'allowed write' });
    const [o] = await until('the outcome', () => outcomesOf(f, call.writ.jti).length > 0 && outcomesOf(f, call.writ.jti));
    assert.equal(o?.status, 'ok');
  });

  it('records a failed outcome when the server answers with isError', async () => {
    const from = f.ledger.size();
    const r = await proxied.client.callTool({ name: 'read_text_file', arguments: { path: join(pub, 'missing.txt') } });
    assert.equal(r.isError, true);
    const call = allowedFor(f, from, tool('read_text_file', FS));
    const [o] = await until('the outcome', () => outcomesOf(f, call.writ.jti).length > 0 && outcomesOf(f, call.writ.jti));
    assert.equal(o?.status, 'failed');
    assert.equal(o?.isError, true);
  });

  it('lists the tools the principal may call (even under conditions) and hides the others', async () => {
    const [d, p] = await Promise.all([direct.client.listTools(), proxied.client.listTools()]);
    const names = p.tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['list_directory', 'read_text_file', 'write_file']);
    for (const hidden of ['list_allowed_directories', 'move_file', 'edit_file', 'read_file']) assert.ok(d.tools.some((t) => t.name === hidden), `${hidden} exists upstream`);
  });
});

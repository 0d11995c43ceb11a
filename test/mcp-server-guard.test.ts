/**
 * `writ/mcp-server`: the executor-side check. A fixture MCP server written with the SDK's
 * McpServer calls `requireWrits(server.server, { keys, serverName: 'fixture' })` before
 * registering a tool that writes a marker file. Through `writ mcp` the tool runs; called
 * directly, without a valid writ for exactly this call, it is refused and never runs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Decision } from '../src/node/node.ts';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { allowedFor, connectStdio, mcpError, outcomesOf, proxyCommand, SESSION_PERMIT, until, WRIT_DENIED, type Connected } from './mcp-helpers.ts';

const A1 = 'Agent::"a1"';
const WRITE = 'Tool::"fixture/write-marker"';
const OTHER = 'Tool::"fixture/other-tool"';

/**
 * The fixture server. Its imports are resolved from here (the `writ/mcp-server` package
 * export, the SDK, zod), since the file itself lives in a temporary directory.
 * argv: <marker dir> <jwks file>
 */
function fixtureSource(): string {
  const guard = import.meta.resolve('writ/mcp-server');
  const mcp = import.meta.resolve('@modelcontextprotocol/sdk/server/mcp.js');
  const stdio = import.meta.resolve('@modelcontextprotocol/sdk/server/stdio.js');
  const zod = import.meta.resolve('zod');
  return `
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireWrits } from ${JSON.stringify(guard)};
import { McpServer } from ${JSON.stringify(mcp)};
import { StdioServerTransport } from ${JSON.stringify(stdio)};
import { z } from ${JSON.stringify(zod)};

const [dir, jwksFile] = process.argv.slice(2);
const keys = JSON.parse(readFileSync(jwksFile, 'utf8'));
const server = new McpServer({ name: 'fixture', version: '1.0.0' });
requireWrits(server.server, { keys, serverName: 'fixture', clockToleranceSeconds: 0 });
server.registerTool('write-marker', { description: 'writes a marker file', inputSchema: { name: z.string(), content: z.string() } }, async (args, extra) => {
  writeFileSync(join(dir, args.name), JSON.stringify({ content: args.content, writ: extra._meta?.['writ/authorization'] ?? null }));
  return { content: [{ type: 'text', text: 'wrote ' + args.name }] };
});
server.registerTool('other-tool', { description: 'writes another marker', inputSchema: { name: z.string() } }, async (args) => {
  writeFileSync(join(dir, 'other-' + args.name), 'other');
  return { content: [{ type: 'text', text: 'other ' + args.name }] };
});
await server.connect(new StdioServerTransport());
`;
}

const POLICY = `${SESSION_PERMIT}
@id("fixture-tools")
permit (principal == Agent::"a1", action == Action::"tools/call", resource)
when { [${WRITE}, ${OTHER}].contains(resource) };
`;

describe('writ/mcp-server: requireWrits in an McpServer', () => {
  let f: Fixture;
  const work = tempDir('writ-mcp-guard-');
  const markers = join(work, 'markers');
  const server = join(work, 'fixture-server.ts');
  const jwksFile = join(work, 'jwks.json');
  let viaProxy: Connected;
  let direct: Connected;
  let soonExpired: Decision;

  /** a writ as the proxy would get it for this call of the fixture server */
  const mint = (resource: string, args: Record<string, unknown>, ttlSeconds?: number) =>
    f.node.authorize({ principal: A1, action: 'Action::"tools/call"', resource, args, audience: 'mcp:fixture', ...(ttlSeconds && { ttlSeconds }) });
  const call = (name: string, args: Record<string, unknown>, writ?: string) =>
    direct.client.callTool({ name, arguments: args, ...(writ !== undefined && { _meta: { 'writ/authorization': writ } }) });
  const marker = (name: string) => join(markers, name);

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    soonExpired = await mint(WRITE, { name: 'expired', content: 'late' }, 1);
    assert.equal(soonExpired.decision, 'allow', soonExpired.message);
    writeFileSync(server, fixtureSource());
    writeFileSync(jwksFile, JSON.stringify(f.jwks));
    mkdirSync(markers);
    [viaProxy, direct] = await Promise.all([
      connectStdio(proxyCommand(f.home, A1, [server, markers, jwksFile])),
      connectStdio([process.execPath, server, markers, jwksFile]),
    ]);
  });
  after(async () => {
    await Promise.allSettled([viaProxy?.close(), direct?.close()]);
    f?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('runs a call that came through writ mcp: the writ in params._meta verifies against the arguments received', async () => {
    const from = f.ledger.size();
    const r = await viaProxy.client.callTool({ name: 'write-marker', arguments: { name: 'proxied', content: 'hello' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'wrote proxied' }]);
    const written = JSON.parse(readFileSync(marker('proxied'), 'utf8')) as { content: string; writ: string | null };
    assert.equal(written.content, 'hello');
    const d = allowedFor(f, from, WRITE);
    assert.ok(written.writ, 'the server received the writ');
    const claims = JSON.parse(Buffer.from(written.writ.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti: string; aud: string };
    assert.equal(claims.jti, d.writ.jti);
    assert.equal(claims.aud, 'mcp:fixture');
    const [o] = await until('the outcome', () => outcomesOf(f, d.writ.jti).length > 0 && outcomesOf(f, d.writ.jti));
    assert.equal(o?.status, 'ok');
  });

  it('refuses a direct call without a writ: JSON-RPC error, the tool never ran', async () => {
    const e = await mcpError(call('write-marker', { name: 'no-writ', content: 'x' }));
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['writ_malformed']);
    assert.equal(existsSync(marker('no-writ')), false);
    const bogus = await mcpError(call('write-marker', { name: 'bogus', content: 'x' }, 'e30.e30.AAAA'));
    assert.equal(bogus.code, WRIT_DENIED);
    assert.equal(existsSync(marker('bogus')), false);
  });

  it('runs a direct call with a valid writ once; the same writ replayed is refused (writ_replayed)', async () => {
    const args = { name: 'once', content: 'first' };
    const d = await mint(WRITE, args);
    assert.ok(d.writ);
    assert.deepEqual((await call('write-marker', args, d.writ)).content, [{ type: 'text', text: 'wrote once' }]);
    rmSync(marker('once'));
    const e = await mcpError(call('write-marker', args, d.writ));
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['writ_replayed']);
    assert.equal(existsSync(marker('once')), false, 'a replayed writ ran the tool again');
  });

  it('refuses a writ for other arguments (writ_intent_mismatch)', async () => {
    const d = await mint(WRITE, { name: 'args', content: 'authorized' });
    assert.ok(d.writ);
    const e = await mcpError(call('write-marker', { name: 'args', content: 'tampered' }, d.writ));
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['writ_intent_mismatch']);
    assert.equal(existsSync(marker('args')), false);
  });

  it('refuses a writ for another tool (writ_intent_mismatch)', async () => {
    const d = await mint(OTHER, { name: 'x' });
    assert.ok(d.writ);
    const e = await mcpError(call('write-marker', { name: 'x', content: 'y' }, d.writ));
    assert.deepEqual(e.data.reasons, ['writ_intent_mismatch']);
    assert.equal(existsSync(marker('x')), false);
    // with the same arguments, under the other tool's name: still refused
    const same = await mint(OTHER, { name: 'z', content: 'y' });
    const e2 = await mcpError(call('write-marker', { name: 'z', content: 'y' }, same.writ));
    assert.deepEqual(e2.data.reasons, ['writ_intent_mismatch']);
    assert.equal(existsSync(marker('z')), false);
  });

  it('refuses a writ for another server (writ_audience_mismatch)', async () => {
    const args = { name: 'aud', content: 'x' };
    const d = await f.node.authorize({ principal: A1, action: 'Action::"tools/call"', resource: WRITE, args, audience: 'mcp:elsewhere' });
    assert.ok(d.writ);
    const e = await mcpError(call('write-marker', args, d.writ));
    assert.deepEqual(e.data.reasons, ['writ_audience_mismatch']);
    assert.equal(existsSync(marker('aud')), false);
  });

  it('refuses an expired writ (writ_expired)', async () => {
    const exp = soonExpired.claims?.exp ?? 0;
    await until('the writ to expire', () => Date.now() / 1000 > exp + 0.1, 5000);
    const e = await mcpError(call('write-marker', { name: 'expired', content: 'late' }, soonExpired.writ));
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['writ_expired']);
    assert.equal(existsSync(marker('expired')), false);
    // nothing but the proxied call left a marker (the valid direct call's marker was removed above)
    assert.deepEqual(readdirSync(markers), ['proxied']);
  });
});

/**
 * Issue 9, point 2, in one process: a node whose freshness rests on beacons verifies only
 * while its newest beacon is valid. Its HTTP verification, and an MCP server guarded with
 * `requireWrits(server, node.verifierOptions())`, refuse with stale_policy once the beacon
 * expires — and the guarded tool never runs. (The multi-process partition is in
 * fleet-single-use.test.ts.) The beacons are real: signed with the home's authority key.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { signBeacon } from '../../src/authority/beacon.ts';
import { requireWrits } from '../../src/enforce/mcp/server-guard.ts';
import { authoritySigningKeys, openHome, type OpenHome } from '../../src/home/open.ts';
import { BeaconTracker } from '../../src/node/freshness.ts';
import { buildApp } from '../../src/server/app.ts';
import { auth, withTestCaller } from '../server-fixture.ts';
import { fixture, policyFolder, tempDir, type Fixture } from '../helpers.ts';

const A1 = 'Agent::"a1"';
const CALL = 'Action::"tools/call"';
const TOOL = 'Tool::"files/touch"';
const POLICY = `@id("touch") permit (principal == ${A1}, action == ${CALL}, resource == ${TOOL});`;

describe('a node that cannot prove its state current verifies nothing (stale_policy)', () => {
  let f: Fixture;
  let fleetView: OpenHome;
  let beacons: BeaconTracker;
  const dir = tempDir('writ-stale-');

  /** a beacon naming the active bundle, valid for `seconds` */
  async function offerBeacon(seq: number, seconds: number): Promise<void> {
    const [key] = await authoritySigningKeys(f.home, f.config);
    assert.ok(key);
    const a = fleetView.node.policy.active;
    assert.ok(a);
    const now = Math.floor(Date.now() / 1000);
    await beacons.offer(await signBeacon({ domain: f.config.domain, seq, iat: now, exp: now + seconds, bundle: { version: a.bundle.manifest.version, digest: a.bundle.digest }, revocations: { version: 0 } }, key));
  }

  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    // the same home, opened as a fleet node opens it: freshness from beacons
    beacons = new BeaconTracker({ keys: f.config.authority.keys, domain: f.config.domain, appliedRevocations: () => 0 });
    fleetView = await openHome(f.home, { freshness: beacons });
    await fleetView.node.policy.refresh();
  });
  after(() => {
    fleetView?.close();
    f?.cleanup();
  });

  async function mint(args: Record<string, unknown>): Promise<string> {
    const d = await f.node.authorize({ principal: A1, action: CALL, resource: TOOL, args });
    assert.equal(d.decision, 'allow', d.message);
    return d.writ as string;
  }

  it('POST /v1/verify: valid while the beacon is, stale_policy once it expired (also for consume: false)', async () => {
    const app = withTestCaller(await buildApp({ node: fleetView.node, ledger: fleetView.ledger, state: fleetView.state, jwks: fleetView.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: fleetView.log }), fleetView.db);
    try {
      const args = { path: '/a' };
      const writ = await mint(args);
      const verify = (consume: boolean) => app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { writ, audience: TOOL, args, consume } });
      // no beacon yet: stale
      assert.equal((await verify(false)).json<{ reason: string }>().reason, 'stale_policy');
      await offerBeacon(1, 2);
      assert.equal((await verify(false)).statusCode, 200);
      await new Promise((r) => setTimeout(r, 2100)); // the beacon (2 s) expires: the point of the test
      for (const consume of [false, true]) {
        const r = await verify(consume);
        assert.equal(r.statusCode, 403);
        assert.equal(r.json<{ reason: string }>().reason, 'stale_policy', r.body);
      }
      // the refusal consumed nothing: fresh again, the writ is still usable once
      await offerBeacon(2, 30);
      assert.equal((await verify(true)).statusCode, 200);
      assert.equal((await verify(true)).json<{ reason: string }>().reason, 'writ_replayed');
    } finally {
      await app.close();
    }
  });

  it('an MCP server guarded with the node’s verifier options refuses every call while the node is stale; the tool never runs', async () => {
    const server = new McpServer({ name: 'files', version: '1.0.0' });
    requireWrits(server.server, { ...fleetView.node.verifierOptions(), serverName: 'files' });
    server.registerTool('touch', { description: 'creates a file', inputSchema: { name: z.string() } }, async (a) => {
      writeFileSync(join(dir, a.name), 'ran');
      return { content: [{ type: 'text', text: 'touched' }] };
    });
    const [ct, st] = InMemoryTransport.createLinkedPair();
    await server.connect(st);
    const client = new Client({ name: 'agent', version: '1.0.0' });
    await client.connect(ct);
    try {
      const call = async (name: string) => {
        const d = await f.node.authorize({ principal: A1, action: CALL, resource: TOOL, args: { name }, audience: 'mcp:files' });
        assert.equal(d.decision, 'allow', d.message);
        return client.callTool({ name: 'touch', arguments: { name }, _meta: { 'writ/authorization': d.writ } });
      };
      await offerBeacon(10, 30);
      const fresh = await call('fresh');
      assert.notEqual(fresh.isError, true, JSON.stringify(fresh));
      assert.ok(existsSync(join(dir, 'fresh')));
      await offerBeacon(11, 1);
      await new Promise((r) => setTimeout(r, 1100)); // the beacon (1 s) expires: the point of the test
      await assert.rejects(call('stale'), (err: Error) => /stale_policy/.test(err.message));
      assert.equal(existsSync(join(dir, 'stale')), false, 'the tool ran on a stale node');
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('a single-use store that fails is no proof the writ is unused', () => {
  it('consumed_jti unwritable (dropped under the running node): POST /v1/verify refuses with single_use_unavailable, 403', async () => {
    const f = await fixture({ policyDir: policyFolder({ 'policy.cedar': POLICY }) });
    const app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
    try {
      const args = { path: '/b' };
      const d = await f.node.authorize({ principal: A1, action: CALL, resource: TOOL, args });
      assert.equal(d.decision, 'allow', d.message);
      f.db.exec('DROP TABLE consumed_jti'); // as a broken disk or an attacker would leave it
      const r = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { writ: d.writ, audience: TOOL, args, consume: true } });
      assert.equal(r.statusCode, 403, r.body);
      assert.equal(r.json<{ reason: string }>().reason, 'single_use_unavailable');
    } finally {
      await app.close();
      f.cleanup();
    }
  });
});

/**
 * `writ node --gate <file>` (issue 12, point 1): a fleet node serves the HTTP gate like
 * `writ up` does. Its writ is issued with evidence acknowledged by the fleet's stream (the
 * writ's `led` is the stream sequence − 1) and verifies at another node of the fleet;
 * a request the fleet's policy does not allow is a recorded 403; a bad gate file stops
 * the node before it starts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { decodeJwt } from 'jose';
import { httpArgs, WRIT_HEADER } from '../src/writ/http-request.ts';
import { callerHeaders, TestFleet } from './fleet-harness.ts';
import { policyFolder, tempDir } from './helpers.ts';

const KEY = 'k-fleet-0123456789abcdef';
const POLICY = {
  'policy.cedar': `
@id("ci-reads-billing")
permit (principal == Service::"ci", action == Action::"http:GET", resource == Route::"billing");
`,
};

function gateFile(): string {
  const file = join(tempDir('writ-fleet-gate-'), 'gate.json');
  const config = {
    routes: [{ name: 'billing', pathPrefix: '/billing/', audience: 'billing-svc' }],
    credentials: { apiKeys: { header: 'x-api-key', keys: [{ name: 'ci', sha256: createHash('sha256').update(KEY).digest('hex'), principal: 'Service::"ci"' }] } },
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('writ node --gate: the HTTP gate on a fleet node', { timeout: 120_000 }, () => {
  let f: TestFleet;
  const gate = gateFile();
  before(async () => {
    f = await TestFleet.start({ nodes: 2, initialVersion: 0, nodeArgs: (id) => (id === 'n1' ? ['--gate', gate] : []) });
    const v = await f.pushFile(await f.sign(1, { policyDir: policyFolder(POLICY) }));
    await f.waitReady(v.version);
  });
  after(async () => {
    await f?.close();
  });

  it('allows what the fleet policy allows, with evidence in the fleet stream, and the writ verifies at another node', async () => {
    const [n1, n2] = f.nodes;
    assert.ok(n1 && n2);
    const r = await fetch(`${n1.url}/v1/gate/http/forward-auth`, { headers: { 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices?year=2026', 'x-api-key': KEY } });
    assert.equal(r.status, 200, await r.clone().text());
    const writ = r.headers.get(WRIT_HEADER);
    assert.ok(writ);
    const claims = decodeJwt(writ) as { led: number; iss: string; aud: string; jti: string };
    assert.equal(claims.iss, 'n1');
    assert.equal(claims.aud, 'billing-svc');
    // the decision leaf is in the fleet's evidence stream, at led
    const jsm = await jetstreamManager(f.fleet.nc);
    const msg = await jsm.streams.getMessage(f.fleet.stream, { seq: claims.led + 1 });
    const leaf = JSON.parse(new TextDecoder().decode(msg?.data)) as { type: string; writ: { jti: string } | null };
    assert.equal(leaf.type, 'decision');
    assert.equal(leaf.writ?.jti, claims.jti, 'the leaf at led is this writ\'s decision');
    // n2 verifies n1's writ for the request the upstream received
    const v = await fetch(`${n2.url}/v1/verify`, { method: 'POST', headers: callerHeaders(n2), body: JSON.stringify({ writ, audience: 'billing-svc', args: httpArgs({ method: 'GET', host: '', path: '/billing/invoices', query: 'year=2026', bodyDigest: null }), consume: false }) });
    assert.equal(v.status, 200, await v.clone().text());
  });

  it('denies what it does not allow (403 with the reasons), and no credential is a 401', async () => {
    const [n1] = f.nodes;
    assert.ok(n1);
    const denied = await fetch(`${n1.url}/v1/gate/http/forward-auth`, { headers: { 'x-original-method': 'DELETE', 'x-original-uri': '/billing/invoices', 'x-api-key': KEY } });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get(WRIT_HEADER), null);
    // asked as nginx asks (X-Original-*): headers only
    assert.equal(await denied.text(), '');
    assert.ok(denied.headers.get('x-writ-decision-id'));
    assert.ok(denied.headers.get('x-writ-reasons'));
    const anonymous = await fetch(`${n1.url}/v1/gate/http/forward-auth`, { headers: { 'x-original-method': 'GET', 'x-original-uri': '/billing/invoices' } });
    assert.equal(anonymous.status, 401);
    assert.ok(anonymous.headers.get('www-authenticate'));
  });

  it('a node whose gate file cannot be used does not start (usage error)', async () => {
    const r = await f.cli(['node', '--home', f.nodes[1]?.home ?? '', '--fleet', f.name, '--port', '0', '--gate', join(tempDir('writ-no-gate-'), 'missing.json')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /writ node: cannot read the gate configuration/);
  });
});

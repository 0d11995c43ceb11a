/**
 * The fleet console served by `writ authority` (issue 6): every node's version, beacon
 * age and readiness from the status bucket; the fleet's decision rate, deny reasons and
 * latency merged from the nodes' reports; the bundle each domain's beacon names; every
 * node's pending approvals; the fleet ledger from PostgreSQL with proofs that verify
 * offline. Against real NATS, PostgreSQL and `writ` processes; then Debian's Chromium
 * through the pages. Also what a forged or misfiled status report can and cannot do.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readConfig } from '../src/home/config.ts';
import { verifyProofFile } from '../src/ledger/proof-file.ts';
import { generateKeyPair } from 'jose';
import { kvKey } from '../src/sync/nats.ts';
import { signStatusReport } from '../src/sync/status-report.ts';
import type { GovernanceView, HealthView } from '../src/console/source.ts';
import { browse, buildConsole, ROOT, type Browsing } from './console-harness.ts';
import { A1, CALL, READ, sleep, TestFleet, waitFor, type FleetNodeProc } from './fleet-harness.ts';
import { tempDir } from './helpers.ts';

// What the page functions below touch of the browser (this file is type-checked without the DOM library).
interface MiniElement {
  textContent: string | null;
  hidden: boolean;
  dataset: Record<string, string | undefined>;
}
declare const document: { getElementById(id: string): MiniElement | null; querySelector(selector: string): MiniElement | null; querySelectorAll(selector: string): ArrayLike<MiniElement> };

const WRITE = 'Tool::"fs/write"';

async function getJson<T>(base: string, path: string): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

describe('fleet console (writ authority)', { timeout: 300_000 }, () => {
  let f: TestFleet;
  let base: string;
  let n1: FleetNodeProc;
  let n2: FleetNodeProc;
  let approvalId: string;
  let pushed: { version: number; digest: string };
  let b: Browsing | undefined;

  before(async () => {
    buildConsole();
    f = await TestFleet.start({ nodes: 2, sequencer: true, authorityPg: true, initialVersion: 0, beaconInterval: '250ms', beaconTtl: '2s' });
    base = f.authority.url;
    n1 = f.node('n1');
    n2 = f.node('n2');
    // the demo policy plus a rule that needs a person's approval
    const dir = join(tempDir('writ-fleet-console-'), 'policy');
    cpSync(join(ROOT, 'demo', 'policy'), dir, { recursive: true });
    appendFileSync(join(dir, 'policy.cedar'), '\n@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n');
    pushed = await f.pushFile(await f.sign(1, { policyDir: dir }));
    await f.waitReady(1);

    for (const [i, n] of [n1, n1, n1, n2, n2].entries()) assert.equal((await f.authorize(n, { principal: A1, action: CALL, resource: READ, args: { path: `/srv/data/${i}.txt` } })).body.decision, 'allow');
    assert.deepEqual((await f.authorize(n1, { principal: A1, action: CALL, resource: READ, args: { path: '/srv/secret.txt' } })).body.reasons, ['policy_forbid']);
    assert.deepEqual((await f.authorize(n2, { principal: 'Agent::"a2"', action: CALL, resource: 'Tool::"fs/delete"' })).body.reasons, ['no_permit']);
    const ask = await f.authorize(n2, { principal: A1, action: CALL, resource: WRITE, args: { path: '/srv/out.txt' } });
    assert.deepEqual(ask.body.reasons, ['approval_required']);
    approvalId = String(ask.body.decisionId);
  });

  after(async () => {
    await b?.close();
    await f?.close();
  });

  it('says what it is: the authority of this fleet, with a ledger (--pg) and no lineage page', async () => {
    const r = await getJson<{ role: string; fleet: string; pages: string[]; notes: string[] }>(base, '/console/api/about');
    assert.equal(r.status, 200);
    assert.equal(r.body.role, 'authority');
    assert.equal(r.body.fleet, f.name);
    assert.deepEqual(r.body.pages, ['governance', 'health', 'proof', 'ledger']);
    const lineage = await getJson<{ error: string }>(base, '/console/api/lineage?q=x');
    assert.equal(lineage.status, 404);
    assert.equal(lineage.body.error, 'not_available');
  });

  it('health: every node with its version, beacon age and readiness; the fleet decision totals by reason', async () => {
    let h: HealthView | null = null;
    await waitFor('both nodes reported their decisions', async () => {
      h = (await getJson<HealthView>(base, '/console/api/health?seconds=60')).body;
      return h.nodes.length === 2 && h.nodes.every((n) => n.ready) && h.stats.totals.allow >= 5 && h.stats.totals.deny >= 3;
    }, 10_000);
    const health = h as unknown as HealthView;
    assert.deepEqual(health.nodes.map((n) => [n.node, n.mode, n.bundle?.version, n.bundle?.digest, n.certified, n.address]), [
      ['n1', 'fleet', 1, pushed.digest, true, n1.url],
      ['n2', 'fleet', 1, pushed.digest, true, n2.url],
    ]);
    for (const n of health.nodes) {
      assert.ok(n.beacon && n.beacon.ageMs >= 0 && n.beacon.ageMs < 2000, `beacon age of ${n.node}: ${JSON.stringify(n.beacon)}`);
      assert.ok(typeof n.reportAgeMs === 'number' && n.reportAgeMs < 3000);
    }
    assert.deepEqual(health.stats.totals, { allow: 5, deny: 3, denyReasons: { policy_forbid: 1, no_permit: 1, approval_required: 1 } });
    const seen = health.stats.series.filter((p) => p.allow + p.deny > 0);
    assert.equal(seen.reduce((s, p) => s + p.allow, 0), 5, 'per-second allows add up across nodes');
    assert.ok(seen.every((p) => p.p50 !== null && p.p99 !== null && p.p50 > 0 && p.p99 >= p.p50));
  });

  it('governance: the bundle the beacon names, its policies, the authority’s history, and every node’s pending approvals', async () => {
    const g = (await getJson<GovernanceView>(base, '/console/api/governance')).body;
    assert.equal(g.approvalsDecidedHere, false);
    assert.deepEqual(g.bundles.map((x) => [x.domain, x.version, x.digest]), [[readConfig(f.authHome).domain, 1, pushed.digest]]);
    assert.match(g.bundles[0]?.files.find((x) => x.name === 'policy.cedar')?.text ?? '', /careful-write/);
    assert.deepEqual(g.activations.map((a) => [a.index, a.version, a.digest]), [[null, 1, pushed.digest]]);
    await waitFor('the approval is reported', async () => {
      const a = (await getJson<GovernanceView>(base, '/console/api/governance')).body.approvals;
      return a.some((x) => x.id === approvalId);
    }, 5000);
    const a = (await getJson<GovernanceView>(base, '/console/api/governance')).body.approvals.find((x) => x.id === approvalId);
    assert.deepEqual([a?.node, a?.at, a?.principal, a?.resource, a?.status], ['n2', n2.url, A1, WRITE, 'pending']);
  });

  it('approvals are not decided at the authority, with or without its admin credential', async () => {
    const token = readFileSync(join(f.authHome, 'keys', 'admin.token'), 'utf8').trim();
    const post = (auth?: string) =>
      fetch(`${base}/console/api/approvals/${approvalId}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth && { authorization: `Bearer ${auth}` }) }, body: JSON.stringify({ decision: 'approve' }) });
    assert.equal((await post()).status, 401);
    assert.equal((await post('writ_admin_wrong')).status, 401);
    const r = await post(token);
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as { message: string }).message, /decided at the node/);
    const still = await fetch(`${n2.url}/console/api/governance`);
    assert.ok(((await still.json()) as GovernanceView).approvals.some((x) => x.id === approvalId && x.status === 'pending'));
  });

  it('ledger: the fleet ledger from PostgreSQL; a proof from the console verifies offline against the log key', async () => {
    await waitFor('the sequencer signed a checkpoint over every decision', async () => {
      const e = await getJson<{ checkpoint: { size: number } | null; size: number }>(base, '/console/api/entries?limit=1');
      return (e.body.checkpoint?.size ?? 0) >= 8;
    }, 15_000);
    const page = (await getJson<{ size: number; entries: { index: number; type: string; leaf: string }[] }>(base, '/console/api/entries?from=0&limit=100')).body;
    const decisions = page.entries.filter((e) => e.type === 'decision');
    assert.ok(decisions.length >= 8, `${decisions.length} decisions`);
    const p = (await getJson<{ proof: string; entry: string }>(base, `/console/api/proof?index=${decisions[0]?.index}`)).body;
    const logKey = readConfig(f.authHome).log.verifierKey;
    assert.equal(verifyProofFile(p.proof, new TextEncoder().encode(p.entry), logKey).ok, true);
    const forged = p.entry.replace('"allow"', '"deny"').replace('"deny"', '"allow"');
    assert.equal(verifyProofFile(p.proof, new TextEncoder().encode(forged + ' '), logKey).ok, false);
    const cps = (await getJson<{ checkpoints: { size: number; note: string }[] }>(base, '/console/api/checkpoints')).body.checkpoints;
    assert.ok(cps.length >= 1 && cps[0]!.note.startsWith(`${readConfig(f.authHome).log.origin}\n`));
    assert.equal((await fetch(`${base}/v1/log/checkpoint`)).status, 200);
  });

  it('status reports are believed only when signed by the certified node they name: forged, misfiled and unsigned ones change nothing', async () => {
    const before = (await getJson<HealthView>(base, '/console/api/health')).body;
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const lie = { node: 'n1', domain: 'default', version: 99, digest: 'sha256:00', ready: true, reason: null, beacon: { seq: 1, ageMs: 1 }, software: 'x', stats: { since: new Date().toISOString(), totals: { allow: 1000, deny: 0, denyReasons: {} }, seconds: [] } };
    const n1Key = readConfig(n1.home).node.kid;
    const stranger = await generateKeyPair('Ed25519');
    // unsigned JSON, a JWS by a key no certificate names (under n1's kid), a report for an uncertified node
    await f.fleet.kv.status.put(kvKey('n1'), enc(lie));
    await f.fleet.kv.status.put(kvKey('n1'), await signStatusReport(lie, stranger.privateKey, n1Key));
    await f.fleet.kv.status.put(kvKey('n9'), await signStatusReport({ ...lie, node: 'n9' }, stranger.privateKey, 'k9'));
    // n2's genuine signed report, filed under n1's key
    const n2Report = (await f.fleet.kv.status.get(kvKey('n2')))?.string() ?? '';
    await f.fleet.kv.status.put(kvKey('n1'), n2Report);
    await sleep(300);
    const h = (await getJson<HealthView>(base, '/console/api/health')).body;
    assert.deepEqual(h.nodes.map((n) => n.node), ['n1', 'n2'], 'no n9');
    assert.deepEqual(h.nodes.map((n) => n.bundle?.version), [1, 1], 'no version 99');
    assert.deepEqual(h.stats.totals, before.stats.totals, 'no forged decisions');
    // and n1's own next report is believed again
    await waitFor('n1 reports again', async () => ((await getJson<HealthView>(base, '/console/api/health')).body.nodes.find((n) => n.node === 'n1')?.reportAgeMs ?? Infinity) < 1500, 5000);
  });

  it('a node that stops reporting is shown not ready within seconds; the others stay ready', async () => {
    await n1.kill();
    await waitFor('n1 shown as not reporting', async () => {
      const h = (await getJson<HealthView>(base, '/console/api/health')).body;
      const a = h.nodes.find((n) => n.node === 'n1');
      const c = h.nodes.find((n) => n.node === 'n2');
      return a?.ready === false && a.reason === 'not_reporting' && c?.ready === true;
    }, 8000);
    await n1.start();
    await f.waitReady(1, [n1]);
  });

  it('in Chromium: the fleet health table, live charts, the bundle with its policies, fleet approvals, the ledger; no lineage page', async () => {
    b = await browse(base);
    const p = b.page;
    await p.goto(`${base}/console/#/health`);
    await p.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length >= 2 && /ready/.test(document.querySelector('#nodes tr[data-node="n2"] .node-ready')?.textContent ?? ''));
    assert.equal(await p.evaluate(() => document.getElementById('node-id')?.dataset.role), 'authority');
    assert.match((await p.textContent('#node-id')) ?? '', new RegExp(`fleet ${f.name} · authority`));
    assert.equal(await p.evaluate(() => document.querySelector('#nav a[data-page="lineage"]')?.hidden), true);
    await waitFor('n1 ready again', async () => /^ready$/.test((await p.textContent('#nodes tr[data-node="n1"] .node-ready'))?.trim() ?? ''), 10_000);
    assert.match((await p.textContent('#nodes tr[data-node="n1"] .node-bundle')) ?? '', /^v1 · /);
    assert.match((await p.textContent('#nodes tr[data-node="n1"] .node-beacon')) ?? '', /^\d+\.\d s$/);
    assert.match((await p.textContent('#decisions-note')) ?? '', /whole fleet/);
    await p.waitForFunction(() => Number(document.getElementById('updated')?.dataset.updates ?? 0) >= 2);
    assert.equal(await p.locator('#chart-rate canvas').count(), 1);
    assert.equal(await p.locator('#chart-latency canvas').count(), 1);
    assert.match((await p.textContent('#total-allow')) ?? '', /^\d+ allowed$/);
    await b.shot('fleet-health');

    await p.goto(`${base}/console/#/governance`);
    await p.waitForSelector('.bundle .bundle-version');
    assert.equal((await p.textContent('.bundle .bundle-version'))?.trim(), '1');
    assert.match((await p.textContent('.policy-file[data-file="policy.cedar"]')) ?? '', /careful-write/);
    await p.waitForSelector(`#approvals tr[data-approval="${approvalId}"]`);
    assert.equal(await p.getAttribute(`#approvals tr[data-approval="${approvalId}"] a`, 'href'), `${n2.url}/console/#/governance`);
    assert.equal(await p.locator('button.approve').count(), 0, 'no approve button at the authority');
    assert.match((await p.textContent('#history-note')) ?? '', /authority named current/);
    await b.shot('fleet-governance');

    await p.goto(`${base}/console/#/ledger`);
    await p.waitForFunction(() => document.querySelectorAll('#entries tbody tr, .entry').length > 0);
    await b.shot('fleet-ledger');

    await p.goto(`${base}/console/#/lineage`);
    await p.waitForSelector('#not-available');
    assert.match((await p.textContent('#not-available')) ?? '', /Lineage is searched on a node/);

    assert.deepEqual(b.requests.filter((r) => new URL(r.url).origin !== new URL(base).origin), [], 'no request leaves the origin');
    assert.deepEqual(b.problems, []);
    assert.match(b.csp.get(`${base}/console/`) ?? '', /default-src 'self'/);
  });
});

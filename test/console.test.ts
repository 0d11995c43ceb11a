/**
 * The web console in a real browser (issue 6): Debian's Chromium driven by
 * playwright-core through every page of a running `writ up --demo`, after real
 * decisions made over HTTP. Screenshots go to test-results/console/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authorize, browse, buildConsole, cli, post, prepareHome, startServer, type Browsing, type Server } from './console-harness.ts';
import { tempDir } from './helpers.ts';
import { waitFor } from './wait.ts';

// What the page functions below touch of the browser (this file is type-checked without the DOM library).
interface MiniElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
}
declare const document: { getElementById(id: string): MiniElement | null; querySelector(selector: string): MiniElement | null };
declare const sessionStorage: { getItem(key: string): string | null };
declare const localStorage: object;

const A1 = 'Agent::"a1"';
const READ = { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };
const SESSION = 'sess-42';

describe('web console (Chromium, playwright-core)', { timeout: 300_000 }, () => {
  let s: Server;
  let b: Browsing;
  let writ: string;
  let claims: { jti: string; led: number; sub: string };
  let approvalId: string;
  let proofText: string;
  let entryText: string;
  let logKey: string;
  let jwks: string;
  let bundleV2Digest: string;

  before(async () => {
    buildConsole();
    const { home, bundleV2 } = prepareHome();
    s = await startServer(home);
    const activated = await post(s.base, '/v1/bundles', JSON.parse(readFileSync(bundleV2, 'utf8')), s.adminToken);
    assert.equal(activated.status, 201, JSON.stringify(activated.json));
    bundleV2Digest = String(activated.json.digest);

    const root = await authorize(s.base, { ...READ, args: { path: '/srv/data/report.txt' }, context: { mcp: { session: SESSION } }, ttlSeconds: 300 });
    assert.equal(root.json.decision, 'allow', JSON.stringify(root.json));
    writ = String(root.json.writ);
    claims = root.json.claims as typeof claims;
    const child = await authorize(s.base, { ...READ, args: { path: '/srv/data/summary.txt' }, context: { mcp: { session: SESSION } }, parent: writ });
    assert.equal(child.json.decision, 'allow');
    const deniedChild = await authorize(s.base, { principal: A1, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"', args: { argv: ['/usr/bin/echo', 'hi'] }, parent: writ });
    assert.deepEqual(deniedChild.json.policies, ['children-never-exec']);
    assert.deepEqual((await authorize(s.base, { ...READ, args: { path: '/srv/secret.txt' } })).json.policies, ['no-secrets']);
    assert.deepEqual((await authorize(s.base, { principal: 'Agent::"a2"', action: 'Action::"tools/call"', resource: 'Tool::"fs/delete"' })).json.reasons, ['no_permit']);
    const ask = await authorize(s.base, { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path: '/srv/out.txt' } });
    assert.deepEqual(ask.json.reasons, ['approval_required']);
    approvalId = String(ask.json.decisionId);
    const used = await post(s.base, '/v1/verify', { writ, audience: 'Tool::"fs/read"', args: { path: '/srv/data/report.txt' } });
    assert.equal((await post(s.base, '/v1/outcome', { writ, outcomeToken: used.json.outcomeToken, status: 'ok', exitCode: 0, durationMs: 12 })).status, 201);

    // wait for a signed checkpoint covering the writ's decision, then prove it with the CLI
    await waitFor('a signed checkpoint covering the writ', async () => Number((await (await fetch(`${s.base}/v1/log/checkpoint`)).text()).split('\n')[1]) > claims.led, 10_000, 100);
    const dir = tempDir('writ-console-proof-');
    cli(['audit', 'prove', claims.jti, '--out', join(dir, 'p.tlog-proof'), '--entry-out', join(dir, 'e.json'), '--home', home]);
    proofText = readFileSync(join(dir, 'p.tlog-proof'), 'utf8');
    entryText = readFileSync(join(dir, 'e.json'), 'utf8');
    logKey = cli(['keys', '--log', '--home', home]).trim();
    jwks = await (await fetch(`${s.base}/.well-known/jwks.json`)).text(); // pinned out of band, by the test
    b = await browse(s.base);
  });

  after(async () => {
    await b?.close();
    await s?.stop();
  });

  const go = async (hash: string) => {
    await b.page.goto(`${s.base}/console/${hash}`);
  };
  const text = (sel: string) => b.page.locator(sel).first().innerText();

  it('governance: the active bundle, its policies highlighted, the activation history', async () => {
    await go('#/governance');
    const p = b.page;
    await p.locator('.bundle-version').waitFor();
    assert.equal(await text('.bundle-version'), '2');
    assert.equal(await text('.bundle-digest'), bundleV2Digest);
    assert.match(await text('.bundle-signers'), /\S{20,}/);
    assert.match(await text('.bundle-expires'), /^\d{4}-\d\d-\d\dT.*\(in \d+ (d|h)\)$/);
    const policy = p.locator('details.policy-file[data-file="policy.cedar"] pre');
    assert.match(await policy.innerText(), /@id\("careful-write"\)/);
    assert.ok((await policy.locator('.token.keyword').count()) > 5, 'Cedar keywords highlighted');
    assert.ok((await policy.locator('.token.comment').count()) > 3, 'comments highlighted');
    assert.ok((await p.locator('details.policy-file[data-file="entities.json"]').count()) === 1);
    const rows = p.locator('#activations tbody tr');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-version'))), ['2', '1']);
    assert.match(await rows.first().locator('a').getAttribute('href') ?? '', /^#\/ledger\?entry=\d+$/);
    await b.shot('governance');
  });

  it('governance: approvals are read-only without the admin credential, and approved with it', async () => {
    const p = b.page;
    const row = p.locator(`#approvals tr[data-approval="${approvalId}"]`);
    await row.waitFor();
    assert.equal(await row.locator('td').nth(3).innerText(), 'Tool::"fs/write"');
    assert.ok(await row.locator('button.approve').isDisabled(), 'read-only without login');
    // the API refuses without the credential
    assert.equal((await post(s.base, `/console/api/approvals/${approvalId}`, { decision: 'approve' })).status, 401);
    // a wrong credential is refused and changes nothing
    await p.fill('#admin-token', 'writ_admin_wrong');
    await p.click('#admin-use');
    await row.locator('button.approve').click();
    await p.locator('#approval-result .error').waitFor();
    assert.match(await text('#approval-result'), /401/);
    assert.equal(await row.count(), 1, 'still pending');
    await b.shot('governance-wrong-token');
    // the real one: approved, recorded
    await p.fill('#admin-token', s.adminToken);
    await p.click('#admin-use');
    assert.equal(await p.evaluate(() => sessionStorage.getItem('writ.adminToken')), s.adminToken);
    assert.equal(await p.evaluate(() => JSON.stringify(localStorage).includes('writ_admin_')), false, 'never in localStorage');
    await row.locator('button.approve').click();
    await p.locator('#approval-result .notice').waitFor();
    assert.match(await text('#approval-result'), /^approved: Agent::"a1" Action::"tools\/call" Tool::"fs\/write"/);
    await p.locator('#no-approvals').waitFor();
    const entries = (await (await fetch(`${s.base}/console/api/entries?limit=100`)).json()) as { entries: { type: string; leaf: string }[] };
    const leaf = entries.entries.filter((e) => e.type === 'approval').map((e) => JSON.parse(e.leaf) as Record<string, unknown>)[0];
    assert.equal(leaf?.status, 'approved');
    assert.equal(leaf?.by, 'console-admin');
    assert.equal(leaf?.id, approvalId);
    const posts = b.requests.filter((r) => r.method === 'POST');
    assert.ok(posts.length >= 2 && posts.every((r) => r.url.startsWith(`${s.base}/console/api/approvals/`)));
    assert.ok(b.requests.filter((r) => r.method !== 'POST').every((r) => r.authorization === undefined), 'the credential goes only with the POSTs');
    await b.shot('governance-approved');
  });

  it('health: the node, and live charts refreshed every second', async () => {
    await go('#/health');
    const p = b.page;
    await p.locator('#nodes tr[data-node="node-1"]').waitFor();
    assert.match(await text('.node-software'), /^writ \d+\.\d+\.\d+/);
    assert.match(await text('.node-bundle'), /^v2 · sha256:/);
    assert.equal(await text('.node-ready'), 'ready');
    assert.match(await text('.node-beacon'), /embedded/);
    await p.locator('.uplot').nth(2).waitFor();
    assert.equal(await p.locator('.uplot canvas').count(), 3, 'three charts');
    const allowBefore = Number((await text('#total-allow')).split(' ')[0]);
    assert.ok(allowBefore >= 2);
    assert.match(await text('#totals'), /policy_forbid: 2/);
    assert.match(await text('#totals'), /no_permit: 1/);
    // new decisions show up within two seconds
    for (let i = 0; i < 5; i++) await authorize(s.base, { ...READ, args: { path: `/srv/data/f${i}.txt` } });
    await authorize(s.base, { ...READ, args: { path: '/srv/../etc/passwd' } });
    const t0 = Date.now();
    await p.waitForFunction((n) => Number(document.getElementById('total-allow')?.textContent?.split(' ')[0]) >= n, allowBefore + 5, { timeout: 2500 });
    assert.ok(Date.now() - t0 <= 2500);
    const u0 = Number(await p.locator('#updated').getAttribute('data-updates'));
    await p.waitForFunction((n) => Number(document.getElementById('updated')?.dataset.updates) > n, u0, { timeout: 2000 });
    assert.match(await text('#chart-deny'), /policy_forbid/);
    assert.match(await text('#chart-latency'), /p99/);
    await b.shot('health');
  });

  it('lineage: search by writ id draws the graph; vertices show decision, policy, outcome and link to the ledger', async () => {
    await go(`#/lineage?q=${claims.jti}`);
    const p = b.page;
    await p.locator('#vertices').waitFor();
    await p.waitForFunction(() => Number(document.getElementById('graph')?.dataset.vertices) >= 3);
    assert.equal(await p.locator('#graph canvas').count() > 0, true, 'drawn by Cytoscape');
    assert.equal(await p.locator('#graph').getAttribute('data-edges'), '2');
    const root = p.locator(`#vertices tr[data-vertex="w:${claims.jti}"]`);
    assert.equal(await root.locator('.v-policy').innerText(), 'agents-read-srv');
    assert.equal(await root.locator('.v-outcome').innerText(), 'ok (exit 0)');
    const denied = p.locator('#vertices tr[data-decision="deny"]');
    assert.equal(await denied.count(), 1);
    assert.equal(await denied.locator('.v-policy').innerText(), 'children-never-exec');
    assert.match(await text('.vertex-detail'), /agents-read-srv/);
    await b.shot('lineage-writ');
    await root.locator('a.entry-link').click();
    await p.locator('#entry-card').waitFor();
    assert.equal(await text('#entry-card h2'), `Entry #${claims.led}`);
    assert.match(await text('#entry-card pre'), new RegExp(claims.jti));
  });

  it('lineage: search by principal and by MCP session', async () => {
    await go(`#/lineage?q=${encodeURIComponent(A1)}&kind=principal`);
    const p = b.page;
    await p.locator('#vertices').waitFor();
    const policies = await p.locator('#vertices .v-policy').allInnerTexts();
    assert.ok(policies.includes('no-secrets') && policies.includes('agents-read-srv') && policies.includes('children-never-exec'), policies.join());
    await go(`#/lineage?q=${SESSION}`);
    await p.waitForFunction(() => /session sess-42/.test(document.getElementById('lineage-status')?.textContent ?? ''));
    assert.equal(await p.locator('#vertices tr.matched').count(), 2, 'both calls of the session');
    await b.shot('lineage-session');
  });

  it('proof viewer: a writ and its proof verify in the browser against pinned keys, with no request', async () => {
    await go('#/proof');
    const p = b.page;
    await p.fill('#pin-jwks', jwks);
    await p.fill('#pin-log', logKey);
    await p.fill('#writ', writ);
    await p.fill('#audience', 'Tool::"fs/read"');
    await p.fill('#args', '{"path": "/srv/data/report.txt"}');
    await p.fill('#proof', proofText);
    await p.fill('#entry', entryText);
    const before = b.requests.length;
    await p.click('#verify');
    await p.locator('#binding-result .verdict').waitFor();
    assert.equal(b.requests.length, before, 'verification made no request');
    const states = (sel: string) => p.locator(`${sel} li.check`).evaluateAll((lis) => lis.map((li) => `${li.getAttribute('data-check')}:${li.getAttribute('data-state')}`));
    const writChecks = await states('#writ-result');
    for (const c of ['format', 'algorithm', 'typ', 'key', 'signature', 'claims', 'not-before', 'expiry', 'lifetime', 'audience', 'intent']) assert.ok(writChecks.includes(`${c}:pass`), `${c} passed: ${writChecks.join()}`);
    assert.deepEqual(await states('#proof-result'), ['format', 'log-key', 'signature', 'checkpoint', 'origin', 'index', 'inclusion'].map((c) => `${c}:pass`));
    assert.ok((await states('#binding-result')).every((c) => c.endsWith(':pass')));
    assert.equal(await p.locator('#writ-result .verdict').getAttribute('data-ok'), 'true');
    await b.shot('proof-valid');
  });

  it('proof viewer: a tampered writ, other arguments, a tampered entry or checkpoint fail exactly the right check', async () => {
    const p = b.page;
    const failed = async (sel: string) => {
      await p.click('#verify');
      await p.locator(`${sel} .verdict`).waitFor();
      return p.locator(`${sel} li.check[data-state="fail"]`).evaluateAll((lis) => lis.map((li) => li.getAttribute('data-check')));
    };
    const [h, payload, sig] = writ.split('.') as [string, string, string];
    const forged = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    forged.sub = 'Agent::"mallory"';
    await p.fill('#writ', `${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`);
    assert.deepEqual(await failed('#writ-result'), ['signature']);
    assert.equal(await p.locator('#writ-result li[data-check="key"]').getAttribute('data-state'), 'pass');
    assert.equal(await p.locator('#writ-result li[data-check="intent"]').getAttribute('data-state'), 'skip');
    await b.shot('proof-tampered-writ');
    await p.fill('#writ', writ);
    await p.fill('#args', '{"path": "/etc/shadow"}');
    assert.deepEqual(await failed('#writ-result'), ['intent']);
    await p.fill('#args', '{"path": "/srv/data/report.txt"}');
    await p.fill('#entry', entryText.replace('report.txt', 'rep0rt.txt'));
    assert.deepEqual(await failed('#proof-result'), ['inclusion']);
    await b.shot('proof-tampered-entry');
    await p.fill('#entry', entryText);
    const lines = proofText.split('\n');
    const sizeLine = lines.findIndex((l, i) => i > 0 && lines[i - 1]?.startsWith('writ.local/'));
    lines[sizeLine] = String(Number(lines[sizeLine]) + 1);
    await p.fill('#proof', lines.join('\n'));
    assert.deepEqual(await failed('#proof-result'), ['signature']);
    await p.fill('#proof', proofText);
    const other = tempDir('writ-console-other-');
    cli(['init', '--home', other]);
    await p.fill('#pin-log', cli(['keys', '--log', '--home', other]).trim());
    assert.deepEqual(await failed('#proof-result'), ['signature'], 'a key of another log');
    await p.fill('#pin-log', logKey);
    assert.deepEqual(await failed('#proof-result'), []);
  });

  it('ledger: the latest checkpoint verified here, entries page by page, inclusion and consistency checked here', async () => {
    for (let i = 0; i < 12; i++) await authorize(s.base, { ...READ, args: { path: `/srv/data/g${i}.txt` } });
    await go('#/ledger');
    const p = b.page;
    await p.locator('#cp-verified .badge.ok').waitFor();
    const size = Number(await text('#cp-size'));
    assert.ok(size > claims.led);
    await p.locator('#entries tr.entry').first().waitFor();
    assert.match(await text('#page-info'), /page 1 of \d+/);
    await b.shot('ledger');
    await p.click('#older-page');
    await p.waitForFunction(() => /page 2 of/.test(document.getElementById('page-info')?.textContent ?? ''));
    const row = p.locator('#entries tr.entry').first();
    await row.click();
    await p.locator('#entries .verify-inclusion').first().click();
    await p.locator('#entries .inclusion .verdict.ok').waitFor();
    await p.fill('#cons-paste', '');
    await p.click('#check-consistency');
    await p.locator('#consistency-result .verdict').waitFor();
    assert.equal(await p.locator('#consistency-result .verdict').getAttribute('data-ok'), 'true', await text('#consistency-result'));
    await b.shot('ledger-consistency');
    const older = await p.locator('#cons-older').inputValue();
    const ls = older.split('\n');
    ls[2] = Buffer.alloc(32, 7).toString('base64');
    await p.fill('#cons-paste', ls.join('\n'));
    await p.click('#check-consistency');
    await p.waitForFunction(() => document.querySelector('#consistency-result .verdict')?.getAttribute('data-ok') === 'false');
    assert.equal(await p.locator('#consistency-result li[data-check="older checkpoint"]').getAttribute('data-state'), 'fail');
    assert.equal(await p.locator('#consistency-result li[data-check="newer checkpoint"]').getAttribute('data-state'), 'pass');
    await b.shot('ledger-inconsistent');
  });

  it('security: CSP on every console response, nothing leaves 127.0.0.1, no errors', async () => {
    const origin = new URL(s.base).origin;
    assert.ok(b.requests.length > 20);
    const outside = b.requests.filter((r) => new URL(r.url).origin !== origin);
    assert.deepEqual(outside, [], 'no request leaves the server');
    assert.ok(b.requests.every((r) => new URL(r.url).hostname === '127.0.0.1'));
    for (const [url, csp] of b.csp) {
      if (!new URL(url).pathname.startsWith('/console')) continue;
      assert.ok(csp?.includes("default-src 'self'") && csp.includes("script-src 'self'") && !csp.includes('unsafe'), `${url}: ${csp}`);
    }
    assert.ok([...b.csp.keys()].some((u) => u.endsWith('/console/')), 'the page itself was checked');
    assert.deepEqual(b.problems, []);
    const res = await fetch(`${s.base}/console/api/governance`);
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const body = await res.text();
    assert.ok(!body.includes(s.adminToken) && !body.includes('PRIVATE'), 'no secret in what the pages read');
    assert.equal((await fetch(`${s.base}/console/..%2f..%2fpackage.json`)).status, 404);
    assert.equal((await fetch(`${s.base}/console/assets/..%2f..%2f..%2fkeys%2fadmin.token`)).status, 404);
  });
});

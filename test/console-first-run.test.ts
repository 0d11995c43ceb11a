/**
 * The console on a first run (issue 16, point 6), in Chromium against a real `writ up --demo`:
 * the Health page counts every decision in the home's ledger, also those `writ authorize`
 * made in another process; a wide lineage (a root with 40 delegated children) is laid out in
 * wrapped rows at a readable zoom rather than one line shrunk to fit; the vertex table shows
 * each decision's reason codes. Screenshots go to test-results/console/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { browse, buildConsole, cli, startServer, type Browsing, type Server } from './console-harness.ts';
import { tempDir } from './helpers.ts';

declare const document: { getElementById(id: string): { textContent: string | null; dataset: Record<string, string | undefined> } | null };

const A1 = 'Agent::"a1"';
const READ = { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };

describe('console on a first run (Chromium)', { timeout: 300_000 }, () => {
  let s: Server;
  let b: Browsing;
  before(async () => {
    buildConsole();
    s = await startServer(tempDir('writ-console-first-'));
    b = await browse(s.base);
  });
  after(async () => {
    await b?.close();
    await s?.stop();
  });

  async function authorize(body: Record<string, unknown>): Promise<{ decision: string; writ?: string }> {
    const r = await fetch(`${s.base}/v1/authorize`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.callerToken}` }, body: JSON.stringify(body) });
    return (await r.json()) as { decision: string; writ?: string };
  }

  it('Health counts the decisions of every process of the home: the CLI\'s too', async () => {
    await authorize({ ...READ, args: { path: '/srv/by-http.txt' } });
    await b.page.goto(`${s.base}/console/#/health`);
    await b.page.locator('#total-allow').waitFor();
    const before = Number((await b.page.locator('#total-allow').textContent())?.split(' ')[0]);
    // another process on the same home: writ authorize, an allow and a forbid
    cli(['authorize', '--home', s.home, '--principal', A1, '--action', 'Action::"tools/call"', '--resource', 'Tool::"fs/read"', '--args', '{"path":"/srv/by-cli.txt"}']);
    try {
      cli(['authorize', '--home', s.home, '--principal', A1, '--action', 'Action::"tools/call"', '--resource', 'Tool::"fs/read"', '--args', '{"path":"/srv/secret/by-cli"}']);
    } catch {
      // a denial exits 3: expected
    }
    await b.page.waitForFunction((n) => Number(document.getElementById('total-allow')?.textContent?.split(' ')[0]) >= n, before + 1, { timeout: 5000 });
    assert.match((await b.page.locator('#totals-scope').textContent()) ?? '', /in the ledger, by every process/);
    assert.match((await b.page.locator('#totals').textContent()) ?? '', /policy_forbid: 1/);
    await b.shot('first-run-health');
  });

  it('a wide lineage is drawn in wrapped rows at a readable zoom, and the table shows reason codes', async () => {
    const root = await authorize({ ...READ, args: { path: '/srv/root.txt' } });
    assert.ok(root.writ);
    for (let i = 0; i < 38; i++) assert.equal((await authorize({ ...READ, args: { path: `/srv/child-${i}.txt` }, parent: root.writ })).decision, 'allow');
    for (const path of ['/srv/secret/a', '/srv/../etc/passwd']) assert.equal((await authorize({ ...READ, args: { path }, parent: root.writ })).decision, 'deny');
    const jti = JSON.parse(Buffer.from(root.writ.split('.')[1] ?? '', 'base64url').toString()) as { jti: string };
    await b.page.goto(`${s.base}/console/#/lineage?q=${jti.jti}`);
    const graph = b.page.locator('#graph[data-vertices]');
    await graph.waitFor();
    assert.equal(await graph.getAttribute('data-vertices'), '41');
    assert.equal(await graph.getAttribute('data-layout'), 'wrapped');
    assert.ok(Number(await graph.getAttribute('data-zoom')) >= 0.6, `zoom ${await graph.getAttribute('data-zoom')}: labels would be unreadable`);
    const reasons = await b.page.locator('#vertices td.v-reasons .reason').evaluateAll((els) => els.map((e) => e.getAttribute('data-reason')));
    assert.ok(reasons.includes('policy_forbid'), JSON.stringify(reasons));
    assert.equal(reasons.filter((r) => r === 'policy_permit').length, 39);
    await b.shot('first-run-lineage-wide');
  });
});

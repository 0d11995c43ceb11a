/**
 * The console's Running page in a real browser (issue 13, point 5): a running execution
 * registered in the home of a `writ up` is listed, Terminate is off without the admin
 * credential, and with it revokes the writ (recorded; the writ then fails verification).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { paths } from '../src/home/config.ts';
import { openDatabase } from '../src/ledger/sqlite-batch.ts';
import { SqliteRunningRegistry } from '../src/node/sqlite-running.ts';
import { authorize, browse, buildConsole, post, prepareHome, startServer, type Browsing, type Server } from './console-harness.ts';

const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };
const ARGS = { path: '/srv/data/running.txt' };

describe('console: the Running page (Chromium)', { timeout: 180_000 }, () => {
  let s: Server;
  let b: Browsing;
  let writ: string;
  let jti: string;

  before(async () => {
    buildConsole();
    s = await startServer(prepareHome().home);
    const d = await authorize(s.base, { ...READ, args: ARGS, ttlSeconds: 300 });
    assert.equal(d.json.decision, 'allow', JSON.stringify(d.json));
    writ = String(d.json.writ);
    jti = (d.json.claims as { jti: string }).jti;
    const db = openDatabase(paths(s.home).db);
    try {
      new SqliteRunningRegistry(db).register({ jti, node: 'node-1', kind: 'mcp', ...READ, writ, request: { ...READ, args: ARGS }, started: new Date(Date.now() - 90_000).toISOString(), maxRunSeconds: 600, pid: process.pid });
    } finally {
      db.close();
    }
    b = await browse(s.base);
  });
  after(async () => {
    await b?.close();
    await s?.stop();
  });

  it('lists the execution; Terminate needs the admin credential and revokes the writ', async () => {
    const p = b.page;
    await p.goto(`${s.base}/console/#/running`);
    const row = p.locator(`#running tr[data-jti="${jti}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.run-kind').innerText(), 'mcp');
    assert.equal(await row.locator('.run-principal').innerText(), READ.principal);
    assert.match(await row.locator('.run-age').innerText(), /^1 min [3-5]\d s$/);
    assert.match(await row.locator('.run-constraint').innerText(), /^max 10 min · 8 min (30|2\d) s left$/);
    assert.ok(await row.locator('button.terminate').isDisabled(), 'read-only without the credential');
    await p.fill('#admin-token', s.adminToken);
    await p.click('#admin-use');
    await p.waitForFunction((j) => !(globalThis as unknown as { document: { querySelector(s: string): { disabled: boolean } | null } }).document.querySelector(`#running tr[data-jti="${j}"] button.terminate`)?.disabled, jti);
    await row.locator('button.terminate').click();
    await p.locator('#terminate-result .notice').waitFor();
    assert.match(await p.locator('#terminate-result').innerText(), new RegExp(`^terminated: writ ${jti} revoked \\(recorded in the ledger as #\\d+\\)$`));
    const v = await post(s.base, '/v1/verify', { writ, audience: READ.resource, args: ARGS });
    assert.equal(v.json.reason, 'writ_revoked', JSON.stringify(v.json));
    const posts = b.requests.filter((r) => r.method === 'POST');
    assert.deepEqual(posts.map((r) => new URL(r.url).pathname), [`/console/api/running/${jti}/terminate`]);
    assert.deepEqual(b.problems, []);
    await b.shot('running-terminated');
  });
});

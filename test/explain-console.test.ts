/** The Ledger page's "Explain a decision" in a real browser (Chromium, playwright-core), against `writ up` (docs/explain.md). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authorize, browse, buildConsole, prepareHome, startServer, type Browsing, type Server } from './console-harness.ts';

const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };

describe('console: explain a decision (Chromium)', { timeout: 180_000 }, () => {
  let s: Server;
  let b: Browsing;
  let noPermit: { decisionId: string; ledgerIndex: number };
  let forbidIndex: number;

  before(async () => {
    buildConsole();
    s = await startServer(prepareHome().home);
    const d = await authorize(s.base, { ...READ, args: { path: '/etc/passwd' } });
    assert.deepEqual(d.json.reasons, ['no_permit'], JSON.stringify(d.json));
    noPermit = { decisionId: String(d.json.decisionId), ledgerIndex: Number(d.json.ledgerIndex) };
    const f = await authorize(s.base, { ...READ, args: { path: '/srv/secret.txt' } });
    assert.deepEqual(f.json.policies, ['no-secrets']);
    forbidIndex = Number(f.json.ledgerIndex);
    b = await browse(s.base);
  });
  after(async () => {
    await b?.close();
    await s?.stop();
  });

  it('a no_permit by decision id: the permits whose scope matched and the part of the condition that was false', async () => {
    const p = b.page;
    await p.goto(`${s.base}/console/#/ledger`);
    await p.fill('#explain-q', noPermit.decisionId);
    await p.click('#explain-go');
    await p.locator('#explanation').waitFor();
    assert.match(await p.locator('#explanation .verdict').innerText(), /^deny — no_permit/);
    const srv = p.locator('.explain-permit[data-policy="agents-read-srv"]');
    assert.equal(await srv.getAttribute('data-outcome'), 'condition_false');
    assert.match(await srv.innerText(), /when clause 1 was false/);
    assert.match(await srv.innerText(), /decided by: context\.args\.path like "\/srv\/\*"/);
    assert.match(await p.locator('#explain-redecided').innerText(), /the same as recorded/);
    await b.shot('ledger-explain-no-permit');
  });

  it('a forbid by ledger index, opened from the page address; an unknown id is an error shown, not a crash', async () => {
    const p = b.page;
    await p.goto(`${s.base}/console/#/ledger?explain=${forbidIndex}`);
    await p.locator('.explain-policy[data-policy="no-secrets"]').waitFor();
    assert.match(await p.locator('.explain-policy[data-policy="no-secrets"]').innerText(), /forbid \(principal, action == Action::"tools\/call", resource\)/);
    await p.fill('#explain-q', '00000000-0000-4000-8000-000000000000');
    await p.click('#explain-go');
    await p.locator('#explain-result .error').waitFor();
    assert.match(await p.locator('#explain-result .error').innerText(), /404: no decision and no writ/);
    assert.deepEqual(b.problems, []);
  });

  it("an entry's detail links to its explanation", async () => {
    const p = b.page;
    await p.goto(`${s.base}/console/#/ledger?entry=${noPermit.ledgerIndex}`);
    await p.locator('#entry-card .explain-entry').click();
    await p.locator('.explain-permit[data-policy="agents-read-srv"]').waitFor();
    assert.equal(await p.inputValue('#explain-q'), String(noPermit.ledgerIndex));
    assert.deepEqual(b.problems, []);
  });
});

/**
 * The console's Runtime Governance Demo page (issue 15) in a real browser: Debian's
 * Chromium driven by playwright-core against a real `writ up --demo` (its demo routes,
 * src/console/demo-routes.ts). Every step is run from the page and its chain checked
 * against the JSON the page received: the decision and reason codes, the determining
 * policy highlighted, the writ's claims for an allow, "nothing ran" for a denial, the
 * decision's inclusion proof verified in the browser against the pinned log key, the
 * lineage graph drawn; the approval step approved from the page; "try your own" for an
 * allowed and for refused requests. Screenshots go to test-results/console/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'playwright-core';
import { browse, buildConsole, cli, startServer, type Browsing, type Server } from './console-harness.ts';
import { tempDir } from './helpers.ts';
import type { DemoChain, DemoOverview, DemoStepInfo } from '../src/demo/contract.ts';

// What the page functions below touch of the browser (this file is type-checked without the DOM library).
declare const document: { getElementById(id: string): { dataset: Record<string, string | undefined> } | null };

const sameSet = (a: string[], b: string[]) => assert.deepEqual([...new Set(a)].sort(), [...new Set(b)].sort());

describe('console demo page (Chromium, playwright-core)', { timeout: 400_000 }, () => {
  let s: Server;
  let b: Browsing;
  let logKey: string;
  let overview: DemoOverview;
  const chains = new Map<string, DemoChain>();

  before(async () => {
    buildConsole();
    s = await startServer(tempDir('writ-console-demo-'));
    logKey = cli(['keys', '--log', '--home', s.home]).trim();
    overview = (await (await fetch(`${s.base}/console/api/demo`)).json()) as DemoOverview;
    b = await browse(s.base);
  });

  after(async () => {
    await b?.close();
    await s?.stop();
  });

  const json = async <T>(r: Response): Promise<T> => (await r.json()) as T;
  const attrs = (sel: string, name: string) => b.page.locator(sel).evaluateAll((els, n) => els.map((e) => e.getAttribute(n) ?? ''), name);

  /** The page state of one chain, against the chain the page received. */
  async function checkChain(box: string, key: string, c: DemoChain, step?: DemoStepInfo): Promise<void> {
    const p = b.page;
    const run = p.locator(`${box} .demo-run`);
    await run.waitFor();
    assert.equal(await run.getAttribute('data-decision'), c.decision.decision);
    assert.equal(await p.locator(`${box} .demo-decision`).getAttribute('data-decision'), c.decision.decision);
    if (step) {
      // the step's expectation holds: an allow runs; a deny is refused before or at the executor
      const refused = c.decision.decision === 'deny' || c.verification?.ok === false || c.outcome.status === 'not-run';
      assert.equal(step.expect === 'allow' ? c.decision.decision === 'allow' && !refused : refused, true, `${step.id}: expected ${step.expect}, got ${JSON.stringify(c.decision)} ${JSON.stringify(c.outcome)}`);
    }
    assert.deepEqual(await attrs(`${box} .demo-reasons .reason`, 'data-reason'), c.decision.reasons);
    assert.ok(c.decision.reasons.length > 0, 'a reason code');
    assert.equal(await p.locator(`${box} .req-principal`).innerText(), c.request.principal);
    assert.equal(await p.locator(`${box} .req-resource`).innerText(), c.request.resource);
    // the determining policies, highlighted in the policy text
    if (c.determining.length) {
      const ids = await attrs(`${box} .policy-hl`, 'data-policy');
      sameSet(ids, c.determining.map((d) => d.id));
      sameSet(ids, c.decision.policies);
      for (const d of c.determining) assert.match(await p.locator(`${box} .policy-hl[data-policy="${d.id}"]`).innerText(), new RegExp(`@id\\("${d.id}"\\)`));
      assert.ok((await p.locator(`${box} .policy-hl .token.keyword`).count()) > 0, 'Cedar highlighted');
    }
    if (c.writ) {
      assert.equal(await p.locator(`${box} .demo-claims tr[data-claim="jti"] td`).innerText(), String(c.writ.claims.jti));
      assert.equal(await p.locator(`${box} .demo-claims tr[data-claim="sub"] td`).innerText(), c.request.principal);
      assert.equal(await p.locator(`${box} .demo-header tr[data-header="alg"] td`).innerText(), String(c.writ.header.alg));
      assert.equal(await p.locator(`${box} .demo-verification`).getAttribute('data-ok'), String(c.verification?.ok));
    } else {
      await p.locator(`${box} .no-writ`).waitFor();
      assert.equal(await p.locator(`${box} .demo-verification`).getAttribute('data-ok'), 'none');
    }
    assert.equal(await p.locator(`${box} .demo-outcome`).getAttribute('data-status'), c.outcome.status);
    if (c.outcome.status === 'not-run') assert.match(await p.locator(`${box} .nothing-ran`).innerText(), /Nothing ran/);
    if (c.outcome.evidence) assert.equal(await p.locator(`${box} .demo-evidence code`).innerText(), c.outcome.evidence);
    assert.deepEqual(await attrs(`${box} .demo-ledger tbody tr`, 'data-index'), c.ledger.map((e) => String(e.index)));
    // the decision's entry proven in this browser against the pinned log key
    if (c.decision.ledgerIndex !== null) {
      await p.waitForFunction((id) => ['verified', 'failed'].includes(document.getElementById(id)?.dataset.proof ?? ''), `demo-proof-${key}`, { timeout: 30_000 });
      assert.equal(await p.locator(`#demo-proof-${key}`).getAttribute('data-proof'), 'verified', await p.locator(`#demo-proof-${key}`).innerText());
      const states = await p.locator(`#demo-proof-${key} li.check`).evaluateAll((lis) => lis.map((li) => `${li.getAttribute('data-check')}:${li.getAttribute('data-state')}`));
      assert.deepEqual(states, ['format', 'log-key', 'signature', 'checkpoint', 'origin', 'index', 'inclusion', 'decision entry', 'leaf hash'].map((n) => `${n}:pass`));
    }
    // the lineage graph
    if (c.lineageRoot) {
      await p.waitForFunction((id) => Number(document.getElementById(id)?.dataset.vertices) >= 1, `demo-graph-${key}`, { timeout: 10_000 });
      assert.ok((await p.locator(`#demo-graph-${key} canvas`).count()) > 0, 'drawn by Cytoscape');
      assert.equal(await p.locator(`${box} a.lineage-link`).getAttribute('href'), `#/lineage?q=${c.lineageRoot}&kind=writ`);
    }
  }

  it('lists the steps with their explanation and expected result; the nav shows Demo', async () => {
    await b.page.goto(`${s.base}/console/#/demo`);
    const p = b.page;
    await p.locator('.demo-step').first().waitFor();
    assert.ok(overview.steps.length >= 1);
    assert.deepEqual(await attrs('.demo-step', 'data-step'), overview.steps.map((x) => x.id));
    for (const st of overview.steps) {
      assert.match(await p.locator(`#demo-step-${st.id} h2`).innerText(), new RegExp(st.title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(await p.locator(`#demo-step-${st.id} .demo-explain`).innerText(), st.explain);
      assert.equal(await p.locator(`#demo-step-${st.id}`).getAttribute('data-expect'), st.expect);
    }
    assert.equal(await p.locator('#nav a[data-page="demo"]').isVisible(), true);
    await p.fill('#pin-log', logKey);
    await b.shot('demo-steps');
  });

  it('runs every step from the page: decision, reasons, policy, writ, outcome, proof verified here, lineage', async () => {
    const p = b.page;
    for (const st of overview.steps.filter((x) => !x.interactive)) {
      const [res] = await Promise.all([p.waitForResponse((r) => r.url().endsWith(`/console/api/demo/steps/${st.id}/run`)), p.click(`#demo-run-${st.id}`)]);
      assert.equal(res.status(), 200, await res.text());
      const c = await json<DemoChain>(res);
      assert.equal(c.step, st.id);
      chains.set(st.id, c);
      await checkChain(`#demo-chain-${st.id}`, st.id, c, st);
      await p.locator(`#demo-step-${st.id}`).screenshot({ path: `test-results/console/demo-step-${st.id}.png` });
    }
    await b.shot('demo-steps-run');
  });

  it('the approval step waits with the arguments, and Approve finishes the chain', async () => {
    const st = overview.steps.find((x) => x.interactive);
    if (!st) return assert.fail('no interactive (approval) step');
    const p = b.page;
    const [res] = await Promise.all([p.waitForResponse((r) => r.url().endsWith(`/console/api/demo/steps/${st.id}/run`)), p.click(`#demo-run-${st.id}`)]);
    const waiting = await json<DemoChain>(res);
    assert.ok(waiting.pending, 'the approval step answers with pending');
    assert.equal(waiting.outcome.status, 'pending');
    const box = p.locator(`#demo-chain-${st.id} .demo-pending`);
    await box.waitFor();
    assert.equal(await box.getAttribute('data-approval'), waiting.pending.approvalId);
    assert.deepEqual(JSON.parse(await box.locator('.demo-pending-args').innerText()), waiting.pending.args);
    await b.page.locator(`#demo-step-${st.id}`).screenshot({ path: 'test-results/console/demo-approval-pending.png' });
    const [done] = await Promise.all([p.waitForResponse((r) => r.url().includes('/console/api/demo/approvals/') && r.request().method() === 'POST'), box.locator('button.demo-approve').click()]);
    assert.equal(done.status(), 200, await done.text());
    assert.deepEqual(JSON.parse(done.request().postData() ?? '{}'), { approve: true });
    const c = await json<DemoChain>(done);
    assert.equal(c.pending, null);
    await p.locator(`#demo-chain-${st.id} .demo-pending`).waitFor({ state: 'detached' });
    await checkChain(`#demo-chain-${st.id}`, st.id, c, st);
    assert.equal(c.decision.decision, 'allow');
    await p.locator(`#demo-step-${st.id}`).screenshot({ path: 'test-results/console/demo-approval-approved.png' });
  });

  it('try your own: an allowed request shows its chain; refused ones say why', async () => {
    const p = b.page;
    const allowed = [...chains.values()].find((c) => c.decision.decision === 'allow' && overview.principals.includes(c.request.principal) && overview.resources.includes(c.request.resource) && c.request.parent === null);
    assert.ok(allowed, 'a step allowed a sandbox request');
    assert.equal(await p.locator('#try-principal').inputValue(), overview.principals[0]);
    assert.equal(await p.locator('#try-resource').inputValue(), overview.resources[0]);
    assert.equal(await p.locator('#try-action').inputValue(), overview.actions[0]);
    const send = async (fields: { principal: string; action: string; resource: string; args: string; token?: string }) => {
      await p.fill('#try-principal', fields.principal);
      await p.fill('#try-action', fields.action);
      await p.fill('#try-resource', fields.resource);
      await p.fill('#try-args', fields.args);
      await p.fill('#try-token', fields.token ?? '');
      const [res] = await Promise.all([p.waitForResponse((r) => r.url().endsWith('/console/api/demo/try')), p.click('#try-send')]);
      return res;
    };
    const r = allowed.request;
    const ok = await send({ principal: r.principal, action: r.action, resource: r.resource, args: JSON.stringify(r.args) });
    assert.equal(ok.status(), 200, await ok.text());
    const c = await json<DemoChain>(ok);
    assert.equal(c.step, 'try');
    assert.equal(c.decision.decision, 'allow');
    await checkChain('#demo-chain-try', 'try', c);
    await p.locator('#demo-try').screenshot({ path: 'test-results/console/demo-try-allowed.png' });

    // a principal outside the sandbox, without a credential: refused, nothing decided
    const refused = await send({ principal: 'Agent::"mallory"', action: r.action, resource: r.resource, args: JSON.stringify(r.args) });
    assert.ok([401, 403].includes(refused.status()), `status ${refused.status()}`);
    await p.locator('#try-status .demo-error').waitFor();
    assert.equal(await p.locator('#try-status .demo-error').getAttribute('data-status'), String(refused.status()));
    assert.match(await p.locator('#try-status .demo-error').innerText(), new RegExp(`^${refused.status()} not allowed`));
    assert.equal(await p.locator('#demo-chain-try .demo-run').count(), 0, 'no chain for a refused request');
    await p.locator('#demo-try').screenshot({ path: 'test-results/console/demo-try-refused.png' });

    // arguments that are not a JSON object never leave the page
    const before = b.requests.length;
    await p.fill('#try-args', '[1, 2');
    await p.click('#try-send');
    await p.locator('#try-status .demo-error[data-status="client"]').waitFor();
    assert.equal(b.requests.filter((x) => x.url.endsWith('/console/api/demo/try')).length, b.requests.slice(0, before).filter((x) => x.url.endsWith('/console/api/demo/try')).length);
    // a malformed principal: 400 from the server, shown
    const bad = await send({ principal: 'not a uid', action: r.action, resource: r.resource, args: '{}' });
    assert.equal(bad.status(), 400);
    assert.equal(await p.locator('#try-status .demo-error').getAttribute('data-status'), '400');

    // with the admin credential the same outsider gets a decision (a chain), here a denial
    const admitted = await send({ principal: 'Agent::"mallory"', action: r.action, resource: r.resource, args: JSON.stringify(r.args), token: s.adminToken });
    assert.equal(admitted.status(), 200, await admitted.text());
    const d = await json<DemoChain>(admitted);
    await checkChain('#demo-chain-try', 'try', d);
    assert.equal(admitted.request().headers().authorization, `Bearer ${s.adminToken}`);
    assert.ok(b.requests.filter((x) => x.authorization).every((x) => x.url.startsWith(`${s.base}/console/api/demo/`)), 'the credential goes only to the demo routes');
  });

  it('no page errors; nothing left 127.0.0.1', async () => {
    const origin = new URL(s.base).origin;
    assert.deepEqual(b.requests.filter((r) => new URL(r.url).origin !== origin), []);
    // the refused "try" requests (400, 403) are logged by Chromium as failed loads: expected
    assert.deepEqual(b.problems.filter((x) => !/status of (400|403)/.test(x)), []);
  });
});

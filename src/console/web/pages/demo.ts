/**
 * The Runtime Governance Demo (`writ up --demo`): its steps, each with a Run button (and
 * Run all), and for every run the whole chain (demo-chain.ts) — the decision and the
 * policy that made it, the writ, the executor's check, the outcome, the ledger entries,
 * the decision's inclusion proof verified in this browser against the pinned log key,
 * and the lineage graph. The approval step waits for the visitor's Approve or Reject.
 * "Try your own request" (demo-try.ts) sends any request through the same path.
 */
import { adminToken, getJson } from '../api.ts';
import { append, badge, clear, h } from '../dom.ts';
import { pinPanel } from '../pins.ts';
import { renderChain, type ChainView } from './demo-chain.ts';
import { demoApi, errorLine } from './demo-api.ts';
import { tryForm } from './demo-try.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { DemoChain, DemoStepInfo } from '../../../demo/contract.ts';
import type { GovernanceView } from '../../source.ts';

/** Shows chains in `box`, keeping track of them (their proofs re-run when the pinned key changes). */
export class Chains {
  private views = new Map<HTMLElement, ChainView>();
  private policyFile: Promise<Map<string, string>> | null = null;

  /** the Cedar text of each active bundle (by digest), to highlight the determining policy in */
  private files(): Promise<Map<string, string>> {
    this.policyFile ??= getJson<GovernanceView>('/console/api/governance')
      .then((g) => new Map(g.bundles.map((b) => [b.digest, b.files.filter((f) => f.name.endsWith('.cedar')).map((f) => f.text).join('\n')] as const)))
      .catch(() => new Map<string, string>());
    return this.policyFile;
  }

  async show(box: HTMLElement, chain: DemoChain, key: string, onDecided?: (c: DemoChain) => void): Promise<void> {
    const digest = chain.decision.bundle?.digest;
    const file = digest ? ((await this.files()).get(digest) ?? null) : null;
    this.views.get(box)?.destroy();
    const view = renderChain(chain, key, file);
    this.views.set(box, view);
    clear(box, chain.pending ? this.pending(chain, box, key, onDecided) : null, view.el);
    view.start();
  }

  /** The approval step's wait: the arguments to approve, and Approve / Reject. */
  private pending(chain: DemoChain, box: HTMLElement, key: string, onDecided?: (c: DemoChain) => void): HTMLElement {
    const p = chain.pending!;
    const out = h('div', { class: 'demo-approval-result' });
    const decide = async (approve: boolean) => {
      for (const b of buttons) b.disabled = true;
      clear(out, h('p', { class: 'muted' }, approve ? 'Approving…' : 'Rejecting…'));
      try {
        const done = await demoApi.decide(p.approvalId, approve, adminToken.get() || undefined);
        await this.show(box, done, key);
        onDecided?.(done);
      } catch (err) {
        for (const b of buttons) b.disabled = false;
        clear(out, errorLine(err, 'demo-error'));
      }
    };
    const buttons = [
      h('button', { class: 'demo-approve', dataset: { approval: p.approvalId }, on: { click: () => void decide(true) } }, 'Approve'),
      h('button', { class: 'danger demo-reject', dataset: { approval: p.approvalId }, on: { click: () => void decide(false) } }, 'Reject'),
    ];
    return h(
      'div',
      { class: 'notice demo-pending', dataset: { approval: p.approvalId } },
      h('strong', null, 'Waiting for a person: '),
      `${chain.request.principal} asks to run ${chain.request.resource} with these arguments. Approve or reject them.`,
      h('pre', { class: 'code demo-pending-args' }, JSON.stringify(p.args, null, 2)),
      h('div', { class: 'actions-row' }, buttons),
      out,
    );
  }

  recheck(): void {
    for (const v of this.views.values()) v.recheck();
  }

  destroy(): void {
    for (const v of this.views.values()) v.destroy();
    this.views.clear();
  }
}

function stepCard(s: DemoStepInfo, run: () => Promise<void>, chainBox: HTMLElement, status: HTMLElement): HTMLElement {
  return h(
    'section',
    { class: 'card demo-step', id: `demo-step-${s.id}`, dataset: { step: s.id, expect: s.expect, via: s.via } },
    h('h2', null, s.title, ' ', badge(null, `via ${s.via}`), ' ', h('span', { class: `badge ${s.expect === 'allow' ? 'ok' : 'bad'} demo-expect` }, `expected: ${s.expect}`)),
    h('p', { class: 'demo-explain' }, s.explain),
    h(
      'div',
      { class: 'actions-row' },
      h('button', { class: 'demo-run-step', id: `demo-run-${s.id}`, on: { click: () => void run() } }, s.interactive ? 'Run (then approve or reject)' : 'Run'),
      status,
    ),
    chainBox,
  );
}

export async function render(root: HTMLElement): Promise<() => void> {
  const overview = await demoApi.overview();
  const chains = new Chains();
  const runners = new Map<string, () => Promise<boolean>>();
  const cards = overview.steps.map((s) => {
    const box = h('div', { class: 'demo-chain', id: `demo-chain-${s.id}` });
    const status = h('span', { class: 'muted demo-status' });
    const run = async (): Promise<boolean> => {
      const btn = document.getElementById(`demo-run-${s.id}`) as HTMLButtonElement | null;
      if (btn) btn.disabled = true;
      clear(status, 'Running…');
      try {
        const chain = await demoApi.run(s.id);
        clear(status, chain.pending ? 'waiting for your approval' : `done: ${chain.decision.decision}`);
        await chains.show(box, chain, s.id, (c) => clear(status, `done: ${c.decision.decision} (${c.outcome.status})`));
        return true;
      } catch (err) {
        clear(status, errorLine(err, 'demo-error'));
        return false;
      } finally {
        if (btn) btn.disabled = false;
      }
    };
    runners.set(s.id, run);
    const latest = overview.runs.filter((c) => c.step === s.id).at(-1);
    if (latest) queueMicrotask(() => void chains.show(box, latest, s.id));
    return stepCard(s, async () => void (await run()), box, status);
  });
  const allStatus = h('span', { class: 'muted', id: 'demo-run-all-status' });
  const runAll = h(
    'button',
    {
      id: 'demo-run-all',
      on: {
        click: () =>
          void (async () => {
            runAll.disabled = true;
            let done = 0;
            for (const s of overview.steps) {
              clear(allStatus, `running ${s.title}…`);
              if (await runners.get(s.id)!()) done++;
            }
            clear(allStatus, `ran ${done} of ${overview.steps.length} steps${overview.steps.some((s) => s.interactive) ? ' — the approval step waits for you' : ''}`);
            allStatus.dataset.done = String(done);
            runAll.disabled = false;
          })(),
      },
    },
    'Run all',
  );

  append(
    root,
    h('h1', null, 'Runtime Governance Demo'),
    h(
      'p',
      { class: 'demo-intro' },
      'Each step sends one request through Writ: a Cedar policy decides; an allowed action gets a signed, single-use writ that the executor verifies before it runs; every decision and outcome goes to the transparency ledger. The sandbox is ',
      h('code', { id: 'demo-sandbox' }, overview.sandbox),
      '.',
    ),
    pinPanel({ logKey: true }, () => chains.recheck()),
    h('div', { class: 'actions-row' }, runAll, allStatus),
    cards,
    tryForm(overview, chains),
  );
  return () => chains.destroy();
}

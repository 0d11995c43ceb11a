/**
 * The demo chain's last two links: the decision's ledger entry proven in this browser
 * (the proof and the entry bytes come from the node, untrusted; verifyProof checks them
 * against the log key the user pinned, as the ledger and proof pages do), and the
 * lineage graph of the step's writ, drawn as the Lineage page draws it.
 */
import type cytoscape from 'cytoscape';
import { ApiError, getBytes, getJson } from '../api.ts';
import { checkList, clear, errorBox, h, pageHref } from '../dom.ts';
import { drawGraph, type Graph } from '../lineage-graph.ts';
import { pins } from '../pins.ts';
import { verifyProof, type Check } from '../verify/proofs.ts';
import { leafHash } from '../../../tlog/merkle.ts';
import { encodeBase64 } from '../../../tlog/note.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { DemoChain } from '../../../demo/contract.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The proof of entry `index` at the latest checkpoint, waiting (up to `waitMs`) for a checkpoint that covers it. */
async function proofOf(index: number, waitMs: number, alive: () => boolean): Promise<string> {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return (await getJson<{ proof: string }>(`/console/api/proof?index=${index}`)).proof;
    } catch (err) {
      // 404 "no signed checkpoint covers entry N yet": the log signs one shortly
      if (!(err instanceof ApiError) || err.status !== 404 || Date.now() > until || !alive()) throw err;
      await sleep(300);
    }
  }
}

/**
 * A box that proves the decision's entry here; `check()` (re)runs it, e.g. once the
 * user pins a log key. data-proof: waiting | no-key | verified | failed | none.
 */
export function proofBox(chain: DemoChain, id: string): { el: HTMLElement; check: () => Promise<void> } {
  const el = h('div', { class: 'demo-proof', id, dataset: { proof: 'waiting' } });
  const index = chain.decision.ledgerIndex;
  const listed = chain.ledger.find((e) => e.index === index);
  let runs = 0;
  const check = async (): Promise<void> => {
    const mine = ++runs;
    if (index === null) {
      el.dataset.proof = 'none';
      clear(el, h('p', { class: 'muted' }, 'This decision has no ledger entry to prove.'));
      return;
    }
    const key = pins.logKey();
    if (!key) {
      el.dataset.proof = 'no-key';
      clear(el, h('p', { class: 'error' }, `Pin the log verifier key above (writ keys --log) to verify entry #${index} in this browser.`));
      return;
    }
    el.dataset.proof = 'waiting';
    clear(el, h('p', { class: 'muted' }, `Proving entry #${index} in this browser (waiting for a signed checkpoint that covers it)…`));
    try {
      const [proof, bytes] = await Promise.all([proofOf(index, 15_000, () => mine === runs && el.isConnected), getBytes(`/v1/log/entries/${index}`)]);
      const r = await verifyProof(proof, bytes, key);
      if (mine !== runs) return;
      const hash = encodeBase64(leafHash(bytes));
      const extra: Check[] = [
        {
          name: 'decision entry',
          ok: r.index === index,
          detail: r.index === index ? `the proof is for entry #${index}, the decision of this step` : `the proof is for entry #${String(r.index)}, not #${index}`,
        },
        listed
          ? { name: 'leaf hash', ok: listed.leafHash === hash, detail: listed.leafHash === hash ? `the proven bytes hash to ${hash}, the leaf hash listed above` : `the proven bytes hash to ${hash}, the step listed ${listed.leafHash}` }
          : { name: 'leaf hash', ok: false, skipped: true, detail: 'not checked: the step did not list this entry' },
      ];
      const checks = [...r.checks, ...extra];
      const ok = r.ok && checks.every((c) => c.ok || c.skipped);
      el.dataset.proof = ok ? 'verified' : 'failed';
      clear(
        el,
        h(
          'div',
          { class: `verdict ${ok ? 'ok' : 'bad'}`, dataset: { ok: String(ok) } },
          ok ? `entry #${index} is in the signed log: verified in this browser against the pinned log key` : `entry #${index}: inclusion NOT proven`,
        ),
        checkList(checks),
        r.checkpoint ? h('p', { class: 'muted' }, `checkpoint: ${r.checkpoint.origin}, tree size ${r.checkpoint.size}`) : null,
        h('a', { class: 'button secondary', href: pageHref('proof', { index }) }, 'Open in proof viewer'),
      );
    } catch (err) {
      if (mine !== runs) return;
      el.dataset.proof = 'failed';
      clear(el, errorBox(err));
    }
  };
  return { el, check };
}

/** The lineage graph of the step's writ, small, with a link to the Lineage page; returns its cleanup. */
export function lineageBox(chain: DemoChain, id: string): { el: HTMLElement; draw: () => Promise<void>; destroy: () => void } {
  const graph = h('div', { class: 'graph demo-graph', id });
  const status = h('div', { class: 'muted demo-lineage-status' });
  const el = h('div', { class: 'demo-lineage' }, status, graph);
  let cy: cytoscape.Core | null = null;
  const root = chain.lineageRoot;
  const draw = async () => {
    if (!root) {
      graph.hidden = true;
      clear(status, 'No writ was issued, so there is no lineage to draw (the decision is in the ledger above).');
      return;
    }
    clear(status, 'Loading the lineage…');
    try {
      const g = await getJson<Graph>(`/console/api/lineage?q=${encodeURIComponent(root)}&kind=writ`);
      if (!graph.isConnected) return;
      cy?.destroy();
      cy = drawGraph(graph, g, { zoom: false });
      clear(status, `${g.vertices.length} vertices, ${g.edges.length} edges from writ ${root} · `, h('a', { class: 'lineage-link', href: pageHref('lineage', { q: root, kind: 'writ' }) }, 'open in Lineage'));
    } catch (err) {
      clear(status, errorBox(err));
    }
  };
  return { el, draw, destroy: () => cy?.destroy() };
}

/**
 * One demo run, as a chain: request → decision (reason codes, the determining policies
 * highlighted in the bundle's policy text) → the writ's header and claims → the
 * executor's verification → the outcome (for a denial: that nothing ran, and the
 * evidence) → the ledger entries → the decision's inclusion proof, verified here → the
 * lineage graph. Everything the server sent is shown as text (dom.ts), never as markup.
 */
import { highlighted, jsonGrammar, cedarGrammar } from '../cedar.ts';
import { badge, clear, h, pageHref, type Child } from '../dom.ts';
import { lineageBox, proofBox } from './demo-proof.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { DemoChain, DemoPolicy } from '../../../demo/contract.ts';

export interface ChainView {
  el: HTMLElement;
  /** call once `el` is in the document: draws the graph and proves the entry */
  start(): void;
  /** re-checks the proof (the pinned key changed) */
  recheck(): void;
  destroy(): void;
}

const json = (v: unknown): HTMLElement => highlighted(JSON.stringify(v, null, 2) ?? 'null', jsonGrammar, 'json');

function table(rows: Record<string, unknown>, cls: string, attr: string): HTMLElement {
  return h(
    'table',
    { class: `grid claims ${cls}` },
    h(
      'tbody',
      null,
      Object.entries(rows).map(([k, v]) => h('tr', { dataset: { [attr]: k } }, h('th', null, k), h('td', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v)))),
    ),
  );
}

function link(n: number, title: string, ...body: Child[]): HTMLElement {
  return h('li', { class: `chain-link chain-${title.toLowerCase().replace(/[^a-z]+/g, '-')}` }, h('h3', null, h('span', { class: 'chain-n' }, `${n}`), ' ', title), ...body);
}

/** The Cedar text of the active bundle, if it is the one that decided: the determining policies marked within it. */
export function policyText(file: string | null, determining: DemoPolicy[]): HTMLElement {
  const spans: { from: number; to: number; p: DemoPolicy }[] = [];
  if (file !== null) {
    for (const p of determining) {
      let from = file.indexOf(p.text.trim());
      let to = from + p.text.trim().length;
      if (from < 0) {
        from = file.indexOf(`@id("${p.id}")`);
        to = from < 0 ? -1 : file.indexOf(';', from) + 1;
      }
      if (from >= 0 && to > from && !spans.some((s) => from < s.to && to > s.from)) spans.push({ from, to, p });
    }
  }
  spans.sort((a, b) => a.from - b.from);
  if (file === null || spans.length < determining.length) {
    // the bundle's text is not at hand (or does not contain the policy): each policy's own text
    return h(
      'div',
      { class: 'demo-policies' },
      determining.map((p) => h('div', { class: 'policy-hl', dataset: { policy: p.id, effect: p.effect } }, highlighted(p.text, cedarGrammar, 'cedar'))),
    );
  }
  const code = h('code');
  const tokens = (text: string): Node[] => [...(highlighted(text, cedarGrammar, 'cedar').querySelector('code')?.childNodes ?? [])];
  let at = 0;
  for (const s of spans) {
    code.append(...tokens(file.slice(at, s.from)), h('mark', { class: `policy-hl ${s.p.effect}`, dataset: { policy: s.p.id, effect: s.p.effect } }, ...tokens(file.slice(s.from, s.to))));
    at = s.to;
  }
  code.append(...tokens(file.slice(at)));
  return h('div', { class: 'demo-policies' }, h('pre', { class: 'code lang-cedar demo-policy-file' }, code));
}

export function renderChain(chain: DemoChain, key: string, policyFile: string | null): ChainView {
  const d = chain.decision;
  const denied = d.decision === 'deny';
  const proof = proofBox(chain, `demo-proof-${key}`);
  const lineage = lineageBox(chain, `demo-graph-${key}`);
  const r = chain.request;

  const request = link(
    1,
    'Request',
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'principal'),
      h('dd', { class: 'mono req-principal' }, r.principal),
      h('dt', null, 'action'),
      h('dd', { class: 'mono req-action' }, r.action),
      h('dt', null, 'resource'),
      h('dd', { class: 'mono req-resource' }, r.resource),
      r.parent ? [h('dt', null, 'parent writ'), h('dd', { class: 'mono req-parent' }, r.parent)] : null,
    ),
    h('div', { class: 'req-args' }, json(r.args)),
  );

  const decision = link(
    2,
    'Decision',
    h(
      'p',
      { class: 'demo-decision', dataset: { decision: d.decision } },
      badge(!denied, d.decision),
      ' ',
      h('span', { class: 'demo-reasons' }, d.reasons.map((x) => h('span', { class: 'reason', dataset: { reason: x } }, x))),
      ' ',
      h('span', { class: 'demo-message' }, d.message),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'decision id'),
      h('dd', { class: 'mono' }, d.decisionId),
      h('dt', null, 'policies'),
      h('dd', { class: 'demo-policy-ids' }, d.policies.length ? d.policies.join(', ') : '(none: no policy permits this — Cedar denies by default)'),
      h('dt', null, 'bundle'),
      h('dd', { class: 'mono' }, d.bundle ? `v${d.bundle.version} · ${d.bundle.digest}` : '(none)'),
      h('dt', null, 'ledger entry'),
      h('dd', null, d.ledgerIndex !== null ? h('a', { href: pageHref('ledger', { entry: d.ledgerIndex }) }, `#${d.ledgerIndex}`) : '(none)'),
    ),
    chain.determining.length ? [h('h4', null, 'Determining policy', chain.determining.length > 1 ? 'ies' : '', ' (highlighted)'), policyText(policyFile, chain.determining)] : null,
  );

  const writ = link(
    3,
    'Writ',
    chain.writ
      ? [
          h('p', { class: 'muted' }, 'Signed by the node, single use, bound to these arguments (its intent digest).'),
          h('h4', null, 'Header'),
          table(chain.writ.header, 'demo-header', 'header'),
          h('h4', null, 'Claims'),
          table(chain.writ.claims, 'demo-claims', 'claim'),
          h('details', null, h('summary', null, 'compact writ'), h('pre', { class: 'code mono demo-compact' }, chain.writ.compact)),
        ]
      : h('p', { class: 'no-writ' }, 'No writ: the node issued none, so no executor can run this.'),
  );

  const v = chain.verification;
  const verification = link(
    4,
    'Executor’s verification',
    v
      ? h('p', { class: 'demo-verification', dataset: { ok: String(v.ok) } }, badge(v.ok, v.ok ? 'verified' : `refused${v.reason ? `: ${v.reason}` : ''}`), ' ', v.detail)
      : h('p', { class: 'demo-verification muted', dataset: { ok: 'none' } }, 'Nothing to verify: without a writ the executor does not run.'),
  );

  const o = chain.outcome;
  const outcome = link(
    5,
    'Outcome',
    h(
      'p',
      { class: 'demo-outcome', dataset: { status: o.status } },
      badge(o.status === 'ok' ? true : o.status === 'pending' ? null : o.status === 'not-run' ? null : false, o.status),
      ' ',
      o.status === 'not-run' ? h('strong', { class: 'nothing-ran' }, 'Nothing ran. ') : null,
      o.detail,
    ),
    o.evidence ? h('p', { class: 'demo-evidence' }, 'Evidence: ', h('code', null, o.evidence)) : null,
    o.ledgerIndex !== null ? h('p', null, 'Outcome entry: ', h('a', { href: pageHref('ledger', { entry: o.ledgerIndex }) }, `#${o.ledgerIndex}`)) : null,
  );

  const ledger = link(
    6,
    'Ledger entries',
    h(
      'table',
      { class: 'grid demo-ledger' },
      h('thead', null, h('tr', null, ['#', 'kind', 'leaf hash', 'entry'].map((t) => h('th', null, t)))),
      h(
        'tbody',
        null,
        chain.ledger.map((e) =>
          h(
            'tr',
            { dataset: { index: String(e.index), kind: e.kind } },
            h('td', null, h('a', { href: pageHref('ledger', { entry: e.index }) }, `#${e.index}`)),
            h('td', null, h('span', { class: `type t-${e.kind}` }, e.kind)),
            h('td', { class: 'mono' }, e.leafHash),
            h('td', null, h('details', null, h('summary', null, 'show'), json(e.entry))),
          ),
        ),
      ),
    ),
  );

  const proofLink = link(7, 'Inclusion proof', h('p', { class: 'muted' }, 'The decision’s entry, proven against a signed checkpoint in this browser. The server’s word counts for nothing here: only the pinned log key does.'), proof.el);
  const lineageLink = link(8, 'Lineage', lineage.el);

  const el = h(
    'div',
    { class: `demo-run ${denied ? 'denied' : 'allowed'}`, dataset: { decision: d.decision, status: o.status, step: chain.step } },
    h('p', { class: 'muted demo-at' }, `run at ${chain.at}`),
    h('ol', { class: 'chain' }, request, decision, writ, verification, outcome, ledger, proofLink, lineageLink),
  );
  return {
    el,
    start: () => {
      void proof.check();
      void lineage.draw();
    },
    recheck: () => void proof.check(),
    destroy: () => {
      lineage.destroy();
      clear(el);
    },
  };
}

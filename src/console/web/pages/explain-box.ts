/**
 * The Ledger page's "Explain a decision" search: a decision id, writ id (jti) or ledger
 * index, explained by the node (GET /console/api/explain, docs/explain.md). What is shown
 * is the node's reading of its own ledger, not a check made here: the proofs above are.
 */
import { getJson } from '../api.ts';
import { cedarGrammar, highlighted, jsonGrammar } from '../cedar.ts';
import { clear, errorBox, h, pageHref, type Child } from '../dom.ts';

/** The members of src/audit/explain.ts's Explanation this page shows. */
interface PolicyView {
  id: string;
  effect: string | null;
  file: string | null;
  text: string | null;
}
interface PermitCheck {
  id: string;
  file: string;
  text: string;
  outcome: string;
  errors: string[];
  failed: { clause: number; kind: string; clauseText: string; part?: string; value: string; errors: string[] } | null;
}
interface Explanation {
  index: number;
  decisionId: string;
  via: { index: number; type: string } | null;
  time: string | null;
  request: Record<string, unknown>;
  evaluated: { principal: unknown; action: unknown; resource: unknown; context: unknown; principalEntity?: unknown } | null;
  bundle: { domain: string; version: number; digest: string } | null;
  result: { decision: string; reasons: string[]; policies: string[]; errors: string[] };
  gate: { reasons: string[]; message: string } | null;
  bundleLoaded: { ok: boolean; why?: string };
  determining: PolicyView[];
  permits: PermitCheck[] | null;
  redecided: { decision: string; reasons: string[]; policies: string[]; same: boolean } | null;
}

const code = (v: unknown) => highlighted(JSON.stringify(v, null, 2), jsonGrammar, 'json');
const fact = (k: string, v: Child) => [h('dt', null, k), h('dd', null, v)];

function permitItem(p: PermitCheck): HTMLElement {
  const f = p.failed;
  const why =
    p.outcome === 'applies'
      ? 'its condition holds for this input'
      : f === null
        ? p.outcome === 'error'
          ? `evaluating it errored: ${p.errors.join('; ')}`
          : 'its condition was false'
        : `${f.kind} clause ${f.clause + 1} ${f.value === 'error' ? `errored: ${f.errors.join('; ')}` : `was ${f.value}`}`;
  return h(
    'li',
    { class: 'explain-permit', dataset: { policy: p.id, outcome: p.outcome } },
    h('strong', null, p.id),
    ` (${p.file}): scope matched; `,
    why,
    f ? h('pre', { class: 'code' }, f.clauseText) : null,
    f?.part ? h('p', null, 'decided by: ', h('code', null, f.part)) : null,
    h('details', null, h('summary', null, 'policy'), highlighted(p.text, cedarGrammar, 'cedar')),
  );
}

function render(e: Explanation): HTMLElement {
  const r = e.result;
  return h(
    'div',
    { id: 'explanation', dataset: { decision: r.decision } },
    h('div', { class: `verdict ${r.decision === 'allow' ? 'ok' : 'bad'}` }, `${r.decision} — ${r.reasons.join(', ')}${r.policies.length ? ` [${r.policies.join(', ')}]` : ''}`),
    h(
      'dl',
      { class: 'facts' },
      fact('decision', h('span', { class: 'mono' }, e.decisionId)),
      fact('ledger index', h('a', { href: pageHref('ledger', { entry: e.index }) }, `#${e.index}`)),
      e.via ? fact('found from', `entry #${e.via.index} (${e.via.type})`) : null,
      fact('time', e.time ?? ''),
      fact('bundle', e.bundle ? `${e.bundle.domain} v${e.bundle.version} ${e.bundle.digest}` : 'none loaded'),
      r.errors.length ? fact('errors', r.errors.join('; ')) : null,
    ),
    e.gate ? h('p', { id: 'explain-gate' }, `Refused before evaluation: Cedar did not run (${e.gate.reasons.join(', ')}). `, e.gate.message) : null,
    h('h3', null, 'Request as received'),
    code(e.request),
    e.evaluated ? [h('h3', null, 'Request as evaluated (principal, action, resource, the context Cedar saw)'), code(e.evaluated)] : null,
    !e.bundleLoaded.ok && e.evaluated ? h('p', { class: 'muted', id: 'explain-not-loaded' }, `Not re-decided: ${e.bundleLoaded.why ?? ''}`) : null,
    e.determining.length
      ? [
          h('h3', null, 'Determining policies'),
          e.determining.map((p) => h('div', { class: 'explain-policy', dataset: { policy: p.id } }, h('strong', null, p.id), p.effect ? ` (${p.effect}, ${p.file ?? ''})` : '', p.text ? highlighted(p.text, cedarGrammar, 'cedar') : null)),
        ]
      : null,
    e.permits
      ? [
          h('h3', null, 'Permit policies whose scope matched, evaluated alone'),
          e.permits.length ? h('ul', { id: 'explain-permits' }, e.permits.map(permitItem)) : h('p', null, "No permit policy's scope matches this request."),
        ]
      : null,
    e.redecided ? h('p', { id: 'explain-redecided' }, `Re-decided under the recorded bundle: ${e.redecided.decision} ${e.redecided.reasons.join(', ')} — ${e.redecided.same ? 'the same as recorded' : 'DIFFERENT from what was recorded'}.`) : null,
  );
}

/** The search card; `initial` (the page's `explain` parameter) is explained at once. */
export function explainBox(initial: string | null): HTMLElement {
  const input = h('input', { id: 'explain-q', type: 'search', placeholder: 'decision id, writ id (jti) or ledger index', value: initial ?? '' });
  const out = h('div', { id: 'explain-result' });
  const go = async () => {
    const q = input.value.trim();
    if (!q) return;
    clear(out, h('p', { class: 'muted' }, 'Loading…'));
    try {
      clear(out, render(await getJson<Explanation>(`/console/api/explain?q=${encodeURIComponent(q)}`)));
    } catch (err) {
      clear(out, errorBox(err));
    }
  };
  if (initial) void go();
  return h(
    'section',
    { class: 'card', id: 'explain-card' },
    h('h2', null, 'Explain a decision'),
    h(
      'form',
      { class: 'actions-row', on: { submit: (ev) => (ev.preventDefault(), void go()) } },
      h('label', { class: 'field' }, h('span', null, 'Decision id, writ id or ledger index'), input),
      h('button', { type: 'submit', id: 'explain-go' }, 'Explain'),
    ),
    out,
  );
}

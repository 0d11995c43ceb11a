/**
 * Lineage explorer: search by writ id, principal or MCP session; the causal graph is
 * drawn by Cytoscape.js. Each vertex shows the decision, the deciding policy and the
 * outcome, and links to its ledger entry; denied children hang off their parent.
 */
import type cytoscape from 'cytoscape';
import { getJson } from '../api.ts';
import { badge, clear, errorBox, h, pageHref, tail } from '../dom.ts';
import { drawGraph, outcomeText, policyText, type Graph } from '../lineage-graph.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { Vertex } from '../../data.ts';

function details(v: Vertex): HTMLElement {
  const row = (k: string, ...val: (Node | string)[]) => [h('dt', null, k), h('dd', null, ...val)];
  return h(
    'div',
    { class: 'vertex-detail', dataset: { vertex: v.id } },
    h('h3', null, badge(v.decision === 'allow', v.decision), ' ', v.jti ? `writ ${v.jti}` : `denied request (ledger #${v.decisionIndex})`),
    h(
      'dl',
      { class: 'facts' },
      row('principal', v.principal),
      row('action', v.action),
      row('resource', v.resource),
      row('reasons', v.reasons.join(', ')),
      row('policy', policyText(v)),
      row('outcome', outcomeText(v), ...(v.outcome ? [' — ', h('a', { href: pageHref('ledger', { entry: v.outcome.index }) }, `ledger #${v.outcome.index}`)] : [])),
      row('decision entry', h('a', { class: 'entry-link', href: pageHref('ledger', { entry: v.decisionIndex }) }, `ledger #${v.decisionIndex}`)),
      row('time', v.time ?? ''),
      ...(v.node ? [row('node', v.node)] : []),
      ...(v.session ? [row('session', v.session)] : []),
      ...(v.depth !== null ? [row('depth', String(v.depth))] : []),
    ),
  );
}

function table(g: Graph, select: (v: Vertex) => void): HTMLElement {
  return h(
    'table',
    { class: 'grid', id: 'vertices' },
    h('thead', null, h('tr', null, ['writ', 'decision', 'reasons', 'principal', 'action', 'resource', 'policy', 'outcome', 'ledger entry'].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      g.vertices.map((v) =>
        h(
          'tr',
          { class: v.matched ? 'matched' : '', dataset: { vertex: v.id, decision: v.decision }, on: { click: () => select(v) } },
          h('td', { class: 'mono', title: v.jti ?? '' }, v.jti ? tail(v.jti, 12) : '—'),
          h('td', null, badge(v.decision === 'allow', v.decision)),
          h('td', { class: 'v-reasons' }, v.reasons.map((r) => h('span', { class: 'reason', dataset: { reason: r } }, r))),
          h('td', null, v.principal),
          h('td', null, v.action),
          h('td', null, v.resource),
          h('td', { class: 'v-policy' }, policyText(v)),
          h('td', { class: 'v-outcome' }, outcomeText(v)),
          h('td', null, h('a', { class: 'entry-link', href: pageHref('ledger', { entry: v.decisionIndex }) }, `#${v.decisionIndex}`)),
        ),
      ),
    ),
  );
}

export function render(root: HTMLElement, params: URLSearchParams): () => void {
  const q = h('input', { id: 'lineage-q', type: 'search', placeholder: 'writ id (jti), principal (Agent::"a1") or MCP session id', value: params.get('q') ?? '' });
  const kind = h(
    'select',
    { id: 'lineage-kind' },
    ['auto', 'writ', 'principal', 'session'].map((k) => h('option', { value: k, selected: (params.get('kind') ?? 'auto') === k }, k === 'auto' ? 'detect' : k === 'writ' ? 'writ id' : k)),
  );
  const status = h('div', { id: 'lineage-status', class: 'muted' });
  const graphBox = h('div', { id: 'graph', class: 'graph' });
  const side = h('div', { id: 'vertex', class: 'side' }, h('p', { class: 'muted' }, 'Select a vertex.'));
  const list = h('div', { id: 'vertex-list' });
  let cy: cytoscape.Core | null = null;
  let disposed = false;
  let searches = 0;

  const search = async () => {
    const query = q.value.trim();
    if (!query) return;
    const mine = ++searches;
    clear(status, 'Searching…');
    let g: Graph;
    try {
      g = await getJson<Graph>(`/console/api/lineage?q=${encodeURIComponent(query)}&kind=${kind.value}`);
    } catch (err) {
      clear(status, errorBox(err));
      return;
    }
    if (disposed || mine !== searches || !graphBox.isConnected) return; // the user went elsewhere meanwhile
    clear(status, `${g.vertices.length} vertices, ${g.edges.length} edges for ${g.kind} ${g.query}`, g.truncated ? ' (truncated)' : '', ` · searched ledger entries ${g.scanned.from}–${Math.max(g.scanned.to - 1, 0)}`);
    const select = (v: Vertex) => {
      clear(side, details(v));
      cy?.$(':selected').unselect();
      cy?.getElementById(v.id).select();
    };
    clear(list, g.vertices.length ? table(g, select) : h('p', { class: 'muted' }, 'Nothing found.'));
    cy?.destroy();
    cy = drawGraph(graphBox, g);
    cy.on('tap', 'node', (ev) => {
      const v = g.vertices.find((x) => x.id === ev.target.id());
      if (v) select(v);
    });
    const first = g.vertices.find((v) => v.matched) ?? g.vertices[0];
    if (first) select(first);
    else clear(side, h('p', { class: 'muted' }, 'Select a vertex.'));
  };

  root.append(
    h('h1', null, 'Lineage'),
    h(
      'form',
      { class: 'card search', id: 'lineage-form', on: { submit: (e: SubmitEvent) => (e.preventDefault(), void search()) } },
      q,
      kind,
      h('button', { type: 'submit', id: 'lineage-go' }, 'Search'),
      status,
    ),
    h('section', { class: 'card lineage' }, h('div', { class: 'lineage-layout' }, graphBox, side)),
    h('section', { class: 'card' }, h('h2', null, 'Vertices'), list),
  );
  if (q.value) void search();
  return () => {
    disposed = true;
    cy?.destroy();
  };
}

/**
 * Governance: the active bundle per domain (version, digest, signers, expiry), its
 * policies with Cedar highlighting, the activation history from the ledger's
 * bundle_activation leaves, and the pending approvals, which the admin may approve or
 * reject (the credential is entered here and kept for this tab only).
 */
import { adminPost, adminToken, getJson } from '../api.ts';
import { adminPanel } from '../admin-panel.ts';
import { grammarFor, highlighted } from '../cedar.ts';
import { badge, clear, errorBox, every, h, nodeLink, pageHref, relTime, short, tail } from '../dom.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { Activation } from '../../data.ts';
import type { ApprovalView as Approval, BundleView, GovernanceView as Governance } from '../../source.ts';

function bundleCard(b: BundleView, what: string): HTMLElement {
  return h(
    'section',
    { class: 'card bundle', dataset: { domain: b.domain } },
    h('h2', null, `Domain ${b.domain}: ${what}`, ' ', badge(!b.expired, b.expired ? 'expired' : 'active')),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'version'),
      h('dd', { class: 'bundle-version' }, String(b.version)),
      h('dt', null, 'digest'),
      h('dd', { class: 'mono bundle-digest' }, b.digest),
      h('dt', null, 'signers'),
      h('dd', { class: 'mono bundle-signers' }, b.signers.join(', ')),
      h('dt', null, 'created'),
      h('dd', null, `${b.created} (${relTime(b.created)})`),
      h('dt', null, 'expires'),
      h('dd', { class: 'bundle-expires' }, `${b.expires} (${relTime(b.expires)})`),
    ),
    h('h3', null, 'Policies'),
    b.files.map((f) => {
      const g = grammarFor(f.name);
      return h(
        'details',
        { class: 'policy-file', open: f.name.endsWith('.cedar'), dataset: { file: f.name } },
        h('summary', null, h('span', { class: 'mono' }, f.name), ' ', h('span', { class: 'muted' }, `${f.size} bytes · sha256 ${short(f.sha256, 16)}`)),
        highlighted(f.text, g.grammar, g.lang),
      );
    }),
  );
}

function activationTable(list: Activation[]): HTMLElement {
  if (list.length === 0) return h('p', { class: 'muted' }, 'No activation recorded yet.');
  return h(
    'table',
    { class: 'grid', id: 'activations' },
    h('thead', null, h('tr', null, ['ledger #', 'time', 'domain', 'version', 'digest', 'signers', 'expires'].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      list.map((a) =>
        h(
          'tr',
          { dataset: { version: String(a.version) } },
          h('td', null, a.index === null ? '—' : h('a', { href: pageHref('ledger', { entry: a.index }) }, `#${a.index}`)),
          h('td', null, a.time ?? ''),
          h('td', null, a.domain ?? ''),
          h('td', null, String(a.version ?? '')),
          h('td', { class: 'mono', title: a.digest ?? '' }, short(a.digest, 20)),
          h('td', { class: 'mono' }, a.signers.map((s) => short(s, 10)).join(', ')),
          h('td', null, a.expires ?? ''),
        ),
      ),
    ),
  );
}

/** The arguments being approved, in full (the approver judges them, not their digest); a fleet report leaves them out. */
function argsCell(a: Approval): HTMLElement {
  // an edited state.db could show other arguments than the call's: say so, never show them as the call's
  if (typeof a.recordProblem === 'string') return h('td', { class: 'approval-args approval-mismatch' }, h('strong', null, 'Not the recorded request: '), a.recordProblem);
  if (a.args === undefined) return h('td', { class: 'muted approval-args' }, 'on the node’s console');
  if (a.args === null) return h('td', { class: 'muted approval-args' }, 'none kept');
  return h('td', { class: 'approval-args' }, h('pre', { class: 'mono' }, a.args));
}

function approvalsTable(list: Approval[], act: (a: Approval, d: 'approve' | 'reject') => void): HTMLElement {
  if (list.length === 0) return h('p', { class: 'muted', id: 'no-approvals' }, 'No pending approvals.');
  const admin = adminToken.get() !== '';
  // the authority lists every node's: which node holds each, linked to its console
  const fleet = list.some((a) => a.node !== undefined);
  return h(
    'table',
    { class: 'grid', id: 'approvals' },
    h('thead', null, h('tr', null, [...(fleet ? ['node'] : []), 'request', 'principal', 'action', 'resource', 'arguments', 'intent', 'expires', ''].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      list.map((a) =>
        h(
          'tr',
          { dataset: { approval: a.id, ...(a.node !== undefined && { node: a.node }) } },
          fleet ? h('td', { class: 'mono approval-node' }, a.at ? nodeLink(a.at, 'governance', a.node ?? '') : (a.node ?? '')) : null,
          h('td', { class: 'mono', title: a.id }, tail(a.id, 12)),
          h('td', null, a.principal),
          h('td', null, a.action),
          h('td', null, a.resource),
          argsCell(a),
          h('td', { class: 'mono', title: a.intent }, short(a.intent, 10)),
          h('td', null, relTime(a.expires)),
          h(
            'td',
            { class: 'actions' },
            h('button', { class: 'approve', disabled: !admin, title: admin ? '' : 'enter the admin credential first', on: { click: () => act(a, 'approve') } }, 'Approve'),
            h('button', { class: 'reject danger', disabled: !admin, title: admin ? '' : 'enter the admin credential first', on: { click: () => act(a, 'reject') } }, 'Reject'),
          ),
        ),
      ),
    ),
  );
}

export function render(root: HTMLElement): () => void {
  const bundles = h('div', { id: 'bundles' }, h('p', { class: 'muted' }, 'Loading…'));
  const approvals = h('div', { id: 'approvals-box' });
  const history = h('div', { id: 'history' });
  const result = h('div', { id: 'approval-result', role: 'status' });
  let last: Governance | null = null;
  let shownBundles: string | null = null;
  const historyNote = h('p', { class: 'muted', id: 'history-note' });
  const approvalsNote = h('p', { class: 'muted', id: 'approvals-note', hidden: true }, 'Every node’s pending approvals, as each reports them. A decision made here is signed by the authority and applied — and recorded in the ledger — by the node that holds the request; the answer comes once that node reports it applied.');

  const act = async (a: Approval, decision: 'approve' | 'reject') => {
    try {
      // at the authority, the decision names the node and the intent shown in the row
      const target = a.node !== undefined ? { node: a.node, intent: a.intent } : {};
      const r = await adminPost<{ approval: Approval }>(`/console/api/approvals/${encodeURIComponent(a.id)}`, { decision, ...target });
      clear(result, h('div', { class: 'notice ok' }, `${r.approval.status}: ${r.approval.principal} ${r.approval.action} ${r.approval.resource} (recorded in the ledger)`));
    } catch (err) {
      clear(result, errorBox(err));
    }
    await load();
  };
  const draw = () => {
    if (!last) return;
    clear(approvals, approvalsTable(last.approvals, (a, d) => void act(a, d)));
  };
  const load = async () => {
    try {
      last = await getJson<Governance>('/console/api/governance');
    } catch (err) {
      clear(bundles, errorBox(err));
      return;
    }
    // redraw the policies only when the bundle changed, so open/closed sections stay as they are
    const key = last.bundles.map((b) => b.digest).join();
    if (key !== shownBundles) {
      shownBundles = key;
      const none = last.scope === 'node' ? 'No bundle is active: this node denies everything (no_active_bundle).' : 'No beacon names a bundle yet: every node denies (stale_policy) until one is pushed (writ policy push).';
      const what = last.scope === 'node' ? 'active bundle' : 'bundle named by the beacon';
      clear(bundles, last.bundles.length ? last.bundles.map((x) => bundleCard(x, what)) : h('div', { class: 'error' }, none));
    }
    approvalsNote.hidden = last.scope === 'node';
    historyNote.textContent = last.scope === 'node'
      ? 'From the ledger’s bundle_activation entries, newest first.'
      : 'The bundles this authority named current in its beacons, newest first (each node’s activations are in the fleet ledger).';
    clear(history, activationTable(last.activations));
    draw();
  };

  const adminBox = adminPanel(draw);
  root.append(
    h('h1', null, 'Governance'),
    bundles,
    h('section', { class: 'card' }, h('h2', null, 'Pending approvals'), approvalsNote, adminBox, result, approvals),
    h('section', { class: 'card' }, h('h2', null, 'Activation history'), historyNote, history),
  );
  return every(3000, load);
}

/**
 * Running: the executions running under this node's writs (issue 13) — `writ exec`
 * processes and MCP tool calls in flight — with their writ's jti, principal, kind, age and
 * constraint, refreshed every two seconds. The admin may terminate one: that revokes its
 * writ (recorded in the ledger), and the enforcement point ends the execution.
 */
import { adminPost, adminToken, getJson } from '../api.ts';
import { adminPanel } from '../admin-panel.ts';
import { clear, errorBox, every, h, pageHref, tail } from '../dom.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { RunningList, RunningView } from '../../source.ts';

function seconds(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
}

function constraint(r: RunningView): string {
  return r.maxRunSeconds === null ? '—' : `max ${seconds(r.maxRunSeconds)} · ${seconds(r.secondsLeft ?? 0)} left`;
}

function runningTable(list: RunningList, act: (r: RunningView) => void): HTMLElement {
  if (list.running.length === 0) return h('p', { class: 'muted', id: 'no-running' }, 'Nothing is running under this node’s writs.');
  const admin = adminToken.get() !== '';
  const why = !list.terminate ? 'terminate at the fleet authority' : admin ? '' : 'enter the admin credential first';
  return h(
    'table',
    { class: 'grid', id: 'running' },
    h('thead', null, h('tr', null, ['writ', 'kind', 'principal', 'action → resource', 'age', 'constraint', 'pid', ''].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      list.running.map((r) =>
        h(
          'tr',
          { dataset: { jti: r.jti } },
          h('td', { class: 'mono run-jti', title: r.jti }, h('a', { href: pageHref('lineage', { q: r.jti, kind: 'writ' }) }, tail(r.jti, 12))),
          h('td', { class: 'run-kind' }, r.kind),
          h('td', { class: 'run-principal' }, r.principal),
          h('td', null, `${r.action} → ${r.resource}`),
          h('td', { class: 'run-age' }, seconds(r.ageSeconds)),
          h('td', { class: 'run-constraint' }, constraint(r)),
          h('td', { class: 'mono' }, String(r.pid)),
          h('td', { class: 'actions' }, h('button', { class: 'terminate danger', disabled: why !== '', title: why, on: { click: () => act(r) } }, 'Terminate')),
        ),
      ),
    ),
  );
}

export function render(root: HTMLElement): () => void {
  const box = h('div', { id: 'running-box' }, h('p', { class: 'muted' }, 'Loading…'));
  const result = h('div', { id: 'terminate-result', role: 'status' });
  const notes = h('div', { id: 'running-notes' });
  let last: RunningList | null = null;

  const act = async (r: RunningView) => {
    try {
      const t = await adminPost<{ jti: string; ledgerIndex: number | null }>(`/console/api/running/${encodeURIComponent(r.jti)}/terminate`, { reason: 'from the console' });
      clear(result, h('div', { class: 'notice ok' }, `terminated: writ ${t.jti} revoked`, t.ledgerIndex === null ? ' (it was revoked already)' : [' (recorded in the ledger as ', h('a', { href: pageHref('ledger', { entry: t.ledgerIndex }) }, `#${t.ledgerIndex}`), ')']));
    } catch (err) {
      clear(result, errorBox(err));
    }
    await load();
  };
  const draw = () => {
    if (last) clear(box, runningTable(last, (r) => void act(r)));
  };
  const load = async () => {
    try {
      last = await getJson<RunningList>('/console/api/running');
    } catch (err) {
      clear(box, errorBox(err));
      return;
    }
    clear(notes, last.notes.map((n) => h('p', { class: 'notice' }, n)));
    draw();
  };

  root.append(
    h('h1', null, 'Running'),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Executions running under this node’s writs'),
      h('p', { class: 'muted' }, 'As each enforcement point registered it when it began (writ exec, MCP tool calls in flight). Terminating revokes the writ — recorded in the ledger — and the enforcement point ends the execution.'),
      notes,
      adminPanel(draw),
      result,
      box,
    ),
  );
  return every(2000, load);
}

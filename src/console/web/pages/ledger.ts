/**
 * Ledger explorer: the latest signed checkpoint (its signature checked here against
 * the pinned log key), the entries page by page, an entry's inclusion proof checked
 * here, and a consistency check between two checkpoints, verified in this browser.
 * Checkpoints this browser has verified are remembered, so a later visit can prove
 * the log it is shown now extends the one it saw before.
 */
import { getBytes, getJson, getText } from '../api.ts';
import { highlighted, jsonGrammar } from '../cedar.ts';
import { badge, checkList, clear, errorBox, h, pageHref, short, tail } from '../dom.ts';
import { pinPanel, pins } from '../pins.ts';
import { explainBox } from './explain-box.ts';
import { verifyCheckpoint, verifyConsistencyBetween, verifyProof } from '../verify/proofs.ts';

const PAGE = 20;
const SEEN_KEY = 'writ.seenCheckpoints';

interface Entry {
  index: number;
  type: string;
  leaf: string;
}
interface EntriesPage {
  size: number;
  checkpoint: { size: number; created: string } | null;
  entries: Entry[];
}
interface StoredCheckpoint {
  size: number;
  created: string;
  note: string;
}

const seen = {
  list: (): string[] => {
    try {
      const v: unknown = JSON.parse(localStorage.getItem(SEEN_KEY) ?? '[]');
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
    } catch {
      return [];
    }
  },
  add: (note: string): void => localStorage.setItem(SEEN_KEY, JSON.stringify([note, ...seen.list().filter((n) => n !== note)].slice(0, 20))),
};

const sizeOf = (note: string): string => note.split('\n')[1] ?? '?';

function summary(e: Entry): string {
  let l: Record<string, unknown>;
  try {
    l = JSON.parse(e.leaf) as Record<string, unknown>;
  } catch {
    return '(not JSON)';
  }
  const r = (v: unknown) => (v ?? {}) as Record<string, unknown>;
  const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  switch (e.type) {
    case 'decision': {
      const q = r(l.request);
      const res = r(l.result);
      const args = q.args && Object.keys(r(q.args)).length ? ` ${short(JSON.stringify(q.args), 60)}` : '';
      return `${s(res.decision)} ${s(q.principal)} ${s(q.action)} ${s(q.resource)}${args} — ${(res.reasons as string[] | undefined)?.join(', ') ?? ''}`;
    }
    case 'outcome':
      return `${s(l.status)}${l.exitCode !== null && l.exitCode !== undefined ? ` exit ${s(l.exitCode)}` : ''} for writ ${tail(s(l.jti), 12)} (decision #${s(l.decisionIndex)})`;
    case 'revocation':
      return `${s(l.kind)} ${s(l.value)} revoked by ${s(l.by)}: ${s(l.reason)}`;
    case 'bundle_activation':
      return `bundle v${s(r(l.policy).version)} of ${s(r(l.policy).domain)} activated (${short(s(r(l.policy).digest), 18)})`;
    case 'key_change':
      return `${s(l.role)} key ${s(l.kid ?? l.origin)}`;
    case 'approval':
      return `${s(l.status)} by ${s(l.by)}: ${s(l.principal)} ${s(l.action)} ${s(l.resource)}`;
    default:
      return '';
  }
}

function pretty(leaf: string): HTMLElement {
  let text = leaf;
  try {
    text = JSON.stringify(JSON.parse(leaf), null, 2);
  } catch {
    // shown as stored
  }
  return highlighted(text, jsonGrammar, 'json');
}

function typeOf(leaf: string): string {
  try {
    return String((JSON.parse(leaf) as { type?: unknown }).type ?? '');
  } catch {
    return '';
  }
}

function entryDetail(index: number, leaf: string): HTMLElement {
  const out = h('div', { class: 'inclusion', id: `inclusion-${index}` });
  const check = async () => {
    clear(out, h('p', { class: 'muted' }, 'Checking in this browser…'));
    try {
      const [p, bytes] = await Promise.all([getJson<{ proof: string }>(`/console/api/proof?index=${index}`), getBytes(`/v1/log/entries/${index}`)]);
      const r = await verifyProof(p.proof, bytes, pins.logKey());
      clear(out, h('div', { class: `verdict ${r.ok ? 'ok' : 'bad'}` }, r.ok ? `entry ${index} is in the signed log` : 'inclusion NOT proven'), checkList(r.checks));
    } catch (err) {
      clear(out, errorBox(err));
    }
  };
  return h(
    'div',
    { class: 'entry-detail', dataset: { index: String(index) } },
    pretty(leaf),
    h(
      'div',
      { class: 'actions-row' },
      h('button', { class: 'verify-inclusion', on: { click: () => void check() } }, 'Verify inclusion here'),
      h('a', { class: 'button secondary', href: pageHref('proof', { index }) }, 'Open in proof viewer'),
      ['decision', 'outcome', 'approval'].includes(typeOf(leaf)) ? h('a', { class: 'button secondary explain-entry', href: pageHref('ledger', { explain: index }) }, 'Explain the decision') : null,
    ),
    out,
  );
}

export function render(root: HTMLElement, params: URLSearchParams): void {
  const page = Math.max(0, Number(params.get('page') ?? 0) || 0);
  const cpBox = h('div', { id: 'checkpoint' }, h('p', { class: 'muted' }, 'Loading…'));
  const selected = h('div', { id: 'selected-entry' });
  const entriesBox = h('div', { id: 'entries-box' });
  const older = h('select', { id: 'cons-older' });
  const newer = h('select', { id: 'cons-newer' });
  const pasted = h('textarea', { id: 'cons-paste', rows: 5, spellcheck: false, placeholder: 'or paste an older signed checkpoint (as served at /v1/log/checkpoint)' });
  const consOut = h('div', { id: 'consistency-result' });
  let latestNote = '';

  const showCheckpoint = async () => {
    try {
      latestNote = await getText('/v1/log/checkpoint');
    } catch (err) {
      clear(cpBox, errorBox(err));
      return;
    }
    const key = pins.logKey();
    const r = key ? await verifyCheckpoint(latestNote, key) : null;
    if (r?.checkpoint) seen.add(latestNote);
    const [origin, size, root64] = latestNote.split('\n');
    clear(
      cpBox,
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'origin'),
        h('dd', { class: 'mono' }, origin ?? ''),
        h('dt', null, 'tree size'),
        h('dd', { id: 'cp-size' }, size ?? ''),
        h('dt', null, 'root hash'),
        h('dd', { class: 'mono' }, root64 ?? ''),
        h('dt', null, 'signature'),
        h('dd', { id: 'cp-verified' }, r ? badge(r.checkpoint !== null, r.checkpoint ? 'verified here against the pinned log key' : 'NOT verified') : badge(null, 'pin the log key to verify')),
      ),
      r && !r.checkpoint ? checkList(r.checks) : null,
      h('details', null, h('summary', null, 'signed note'), h('pre', { class: 'code' }, latestNote)),
    );
  };

  const showEntries = async () => {
    try {
      const first = await getJson<EntriesPage>(`/console/api/entries?limit=1`);
      const end = Math.max(0, first.size - page * PAGE);
      const from = Math.max(0, end - PAGE);
      const p = end > 0 ? await getJson<EntriesPage>(`/console/api/entries?from=${from}&limit=${end - from}`) : { ...first, entries: [] };
      const pages = Math.max(1, Math.ceil(p.size / PAGE));
      const rows = [...p.entries].reverse().map((e) => {
        const detail = h('tr', { class: 'detail hidden' }, h('td', { colSpan: 4 }));
        const row = h(
          'tr',
          { class: 'entry', dataset: { index: String(e.index), type: e.type } },
          h('td', null, h('a', { href: pageHref('ledger', { entry: e.index, page }) }, `#${e.index}`)),
          h('td', null, h('span', { class: `type t-${e.type}` }, e.type)),
          h('td', { class: 'time' }, (() => { try { return String((JSON.parse(e.leaf) as { time?: string }).time ?? ''); } catch { return ''; } })()),
          h('td', { class: 'summary' }, summary(e), p.checkpoint && e.index >= p.checkpoint.size ? h('span', { class: 'pending' }, 'not yet in a signed checkpoint') : null),
        );
        row.addEventListener('click', (ev) => {
          if ((ev.target as HTMLElement).closest('a')) return;
          if (!detail.firstElementChild?.firstChild) detail.firstElementChild?.append(entryDetail(e.index, e.leaf));
          detail.classList.toggle('hidden');
        });
        return [row, detail];
      });
      const nav = h(
        'div',
        { class: 'pager' },
        page > 0 ? h('a', { class: 'button secondary', id: 'newer-page', href: pageHref('ledger', { page: page - 1 }) }, '← newer') : null,
        h('span', { id: 'page-info' }, ` page ${page + 1} of ${pages} · entries ${from}–${Math.max(end - 1, 0)} of ${p.size} `),
        page + 1 < pages ? h('a', { class: 'button secondary', id: 'older-page', href: pageHref('ledger', { page: page + 1 }) }, 'older →') : null,
      );
      clear(
        entriesBox,
        nav,
        h('table', { class: 'grid entries', id: 'entries' }, h('thead', null, h('tr', null, ['#', 'type', 'time', 'what'].map((t) => h('th', null, t)))), h('tbody', null, rows)),
      );
    } catch (err) {
      clear(entriesBox, errorBox(err));
    }
  };

  const showSelected = async () => {
    const i = params.get('entry');
    if (i === null || !/^\d+$/.test(i)) return;
    try {
      const bytes = await getBytes(`/v1/log/entries/${i}`);
      clear(selected, h('section', { class: 'card', id: 'entry-card' }, h('h2', null, `Entry #${i}`), entryDetail(Number(i), new TextDecoder().decode(bytes))));
    } catch (err) {
      clear(selected, h('section', { class: 'card' }, errorBox(err)));
    }
  };

  const fillCheckpoints = async () => {
    let stored: StoredCheckpoint[] = [];
    try {
      stored = (await getJson<{ checkpoints: StoredCheckpoint[] }>('/console/api/checkpoints')).checkpoints;
    } catch {
      stored = [];
    }
    const opts = (sel: HTMLSelectElement, pick: number) => {
      clear(
        sel,
        stored.map((c) => h('option', { value: c.note }, `size ${c.size} · ${c.created} (served by the node)`)),
        seen.list().map((n) => h('option', { value: n }, `size ${sizeOf(n)} (seen by this browser)`)),
      );
      sel.selectedIndex = Math.min(pick, sel.options.length - 1);
    };
    opts(newer, 0);
    opts(older, stored.length > 1 ? stored.length - 1 : 0);
  };

  const consistency = async () => {
    const a = pasted.value.trim() ? `${pasted.value.replace(/\r\n/g, '\n').replace(/\n*$/, '')}\n` : older.value;
    clear(consOut, h('p', { class: 'muted' }, 'Checking in this browser…'));
    try {
      const checks = await verifyConsistencyBetween(a, newer.value, pins.logKey(), async (from, to) => (await getJson<{ proof: string[] }>(`/v1/log/proof/consistency?from=${from}&to=${to}`)).proof);
      const ok = checks.every((c) => c.ok);
      const failed = checks.find((c) => !c.ok && !c.skipped);
      clear(consOut, h('div', { class: `verdict ${ok ? 'ok' : 'bad'}`, dataset: { ok: String(ok) } }, ok ? 'consistent: the newer checkpoint extends the older one' : `INCONSISTENT or unverifiable — ${failed?.name ?? '?'} failed`), checkList(checks));
    } catch (err) {
      clear(consOut, errorBox(err));
    }
  };

  root.append(
    h('h1', null, 'Ledger'),
    pinPanel({ logKey: true }, () => void showCheckpoint()),
    selected,
    explainBox(params.get('explain')),
    h('section', { class: 'card' }, h('h2', null, 'Latest checkpoint'), cpBox),
    h('section', { class: 'card' }, h('h2', null, 'Entries'), entriesBox),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Consistency between two checkpoints'),
      h('p', { class: 'muted' }, 'Both signatures and the consistency proof are checked here; the proof comes from the node and counts only if it verifies.'),
      h('div', { class: 'two' }, h('label', { class: 'field' }, h('span', null, 'Older'), older), h('label', { class: 'field' }, h('span', null, 'Newer'), newer)),
      h('label', { class: 'field' }, h('span', null, 'Older, pasted (overrides the choice above)'), pasted),
      h('div', { class: 'actions-row' }, h('button', { id: 'check-consistency', on: { click: () => void consistency() } }, 'Check consistency here')),
      consOut,
    ),
  );
  void showSelected();
  void showCheckpoint().then(fillCheckpoints);
  void showEntries();
}

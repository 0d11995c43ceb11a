/** The console's shell: a hash router over seven pages, each loaded on demand. */
import 'uplot/dist/uPlot.min.css';
import './style.css';
// the tlog spec code's SHA-256 in the browser: JavaScript (@noble/hashes), installed before any page hashes
import '../../tlog/sha256.ts';
import { getJson } from './api.ts';
import { clear, errorBox, h } from './dom.ts';
// the JSON shape the server sends (type-only: nothing of the server is bundled)
import type { ConsoleAbout } from '../source.ts';

export type Cleanup = () => void;
export interface Page {
  render(root: HTMLElement, params: URLSearchParams): Cleanup | void | Promise<Cleanup | void>;
}

const pages: Record<string, () => Promise<Page>> = {
  governance: () => import('./pages/governance.ts'),
  health: () => import('./pages/health.ts'),
  lineage: () => import('./pages/lineage.ts'),
  proof: () => import('./pages/proof.ts'),
  ledger: () => import('./pages/ledger.ts'),
  running: () => import('./pages/running.ts'),
  demo: () => import('./pages/demo.ts'),
};

let cleanup: Cleanup | void = undefined;
let generation = 0;
/** what this console serves: a node's view or the fleet authority's */
const about: Promise<ConsoleAbout | null> = getJson<ConsoleAbout>('/console/api/about').catch(() => null);

async function route(): Promise<void> {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [name = '', query = ''] = hash.split('?');
  const page = name in pages ? name : 'governance';
  const mine = ++generation;
  if (cleanup) cleanup();
  cleanup = undefined;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  const main = document.getElementById('main') as HTMLElement;
  const root = h('div', { class: `page page-${page}`, id: `page-${page}` });
  clear(main, root);
  document.title = `Writ console — ${page}`;
  try {
    const a = await about;
    if (mine !== generation) return;
    if (a && !a.pages.includes(page as ConsoleAbout['pages'][number])) {
      root.append(h('h1', null, 'Not available here'), h('div', { class: 'notice', id: 'not-available' }, `This ${a.role === 'authority' ? 'authority' : 'node'} console has no ${page} page.`, a.notes.map((n) => h('p', null, n))));
      return;
    }
    const mod = await pages[page]!();
    if (mine !== generation) return;
    const c = await mod.render(root, new URLSearchParams(query));
    if (mine === generation) cleanup = c;
    else if (c) c();
  } catch (err) {
    root.append(errorBox(err));
  }
}

async function identify(): Promise<void> {
  const a = await about;
  if (!a) return;
  const label = a.role === 'authority' ? `fleet ${a.fleet ?? '?'} · authority · domain ${a.domain}` : `node ${a.id} · domain ${a.domain}${a.fleet ? ` · fleet ${a.fleet}` : ''}`;
  const badge = document.getElementById('node-id') as HTMLElement;
  badge.textContent = label;
  badge.dataset.role = a.role;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('#nav a')) link.hidden = !a.pages.includes(link.dataset.page as ConsoleAbout['pages'][number]);
}

window.addEventListener('hashchange', () => void route());
void route();
void identify();

/** The console's shell: a hash router over five pages, each loaded on demand. */
import './shims/buffer-global.ts';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { getJson } from './api.ts';
import { clear, errorBox, h } from './dom.ts';

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
};

let cleanup: Cleanup | void = undefined;
let generation = 0;

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
    const mod = await pages[page]!();
    if (mine !== generation) return;
    const c = await mod.render(root, new URLSearchParams(query));
    if (mine === generation) cleanup = c;
    else if (c) c();
  } catch (err) {
    root.append(errorBox(err));
  }
}

async function nodeBadge(): Promise<void> {
  try {
    const health = await getJson<{ nodes: { node: string; domain: string }[] }>('/console/api/health?seconds=1');
    const n = health.nodes[0];
    if (n) (document.getElementById('node-id') as HTMLElement).textContent = `node ${n.node} · domain ${n.domain}`;
  } catch {
    // the pages say what is wrong
  }
}

window.addEventListener('hashchange', () => void route());
void route();
void nodeBadge();

/**
 * Tiny DOM builder. Text always goes in as text nodes (never as HTML), so nothing a
 * ledger entry or a request carries can become markup or script.
 */
export type Child = Node | string | number | null | undefined | false | Child[];

type Props = {
  class?: string;
  dataset?: Record<string, string>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (ev: HTMLElementEventMap[K]) => void }>;
  [prop: string]: unknown;
};

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, ...c);
    else parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v as Record<string, EventListener>)) el.addEventListener(ev, fn);
    else if (k in el) (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, String(v));
  }
  append(el, ...children);
  return el;
}

export function clear(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

export const short = (s: string | null | undefined, n = 12): string => (!s ? '' : s.length <= n + 1 ? s : `${s.slice(0, n)}…`);
/** The end of an id: time-ordered ids (UUIDv7) share their beginning. */
export const tail = (s: string | null | undefined, n = 12): string => (!s ? '' : s.length <= n + 1 ? s : `…${s.slice(-n)}`);

export function relTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = Date.parse(iso) - Date.now();
  const abs = Math.abs(d);
  const unit = abs >= 86_400_000 ? [86_400_000, 'd'] : abs >= 3_600_000 ? [3_600_000, 'h'] : abs >= 60_000 ? [60_000, 'min'] : [1000, 's'];
  const n = Math.round(abs / (unit[0] as number));
  return d >= 0 ? `in ${n} ${unit[1]}` : `${n} ${unit[1]} ago`;
}

export function badge(ok: boolean | null, text: string): HTMLElement {
  return h('span', { class: `badge ${ok === null ? 'neutral' : ok ? 'ok' : 'bad'}` }, text);
}

/** Renders check results as a list: passed, FAILED, or not checked. */
export function checkList(checks: { name: string; ok: boolean; skipped?: boolean; detail: string }[]): HTMLElement {
  return h(
    'ol',
    { class: 'checks' },
    checks.map((c) => {
      const state = c.skipped ? 'skip' : c.ok ? 'pass' : 'fail';
      return h(
        'li',
        { class: `check ${state}`, dataset: { check: c.name, state } },
        h('span', { class: 'mark' }, state === 'pass' ? '✓' : state === 'fail' ? '✗' : '–'),
        h('span', { class: 'cname' }, c.name),
        h('span', { class: 'cstate' }, state === 'pass' ? 'passed' : state === 'fail' ? 'FAILED' : 'not checked'),
        h('span', { class: 'cdetail' }, c.detail),
      );
    }),
  );
}

export function errorBox(err: unknown): HTMLElement {
  return h('div', { class: 'error' }, err instanceof Error ? err.message : String(err));
}

/** A link to another console page (hash routes only). */
export function pageHref(page: string, params: Record<string, string | number> = {}): string {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
  return `#/${page}${q ? `?${q}` : ''}`;
}

/** Runs `fn` now and every `ms` until the returned cleanup is called; never overlaps itself. */
export function every(ms: number, fn: () => Promise<void>): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    try {
      await fn();
    } finally {
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    }
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * A link to another node's console, from what that node reported: opened apart from this
 * page (no opener, no referrer), its host written next to it so a look-alike cannot hide.
 */
export function nodeLink(address: string, hash: string, text: string): HTMLElement {
  let host: string;
  try {
    host = new URL(address).host;
  } catch {
    return h('span', null, text);
  }
  return h('span', null, h('a', { href: `${address}/console/#/${hash}`, target: '_blank', rel: 'noopener noreferrer' }, text), ' ', h('span', { class: 'muted' }, `(${host})`));
}

/**
 * `usage.json` (docs/budgets.md, version 1): the usage counters a bundle declares, so the
 * node knows what to count before it evaluates. Parsed with the rest of the policy source
 * (source.ts), so `writ policy lint`, `sign` and activation refuse the same mistakes.
 */
import { isRecord } from '../util.ts';
import type { Diagnostic } from './source.ts';
import { parseVersionedList } from './versioned-list.ts';

export const USAGE_FILE = 'usage.json';
export const USAGE_VERSION = 1;
/** at most this many counters: each one a request touches costs a count on the decision path */
export const MAX_COUNTERS = 32;
/** 31 days: the node keeps the allowed decisions of its longest window in memory */
export const MAX_WINDOW_SECONDS = 31 * 86_400;
/** a Cedar identifier, so a policy can write `context.usage.<name>` */
const COUNTER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const KEY_PARTS = ['principal', 'action', 'resource'] as const;

export type KeyPart = (typeof KEY_PARTS)[number];

export interface UsageCounter {
  name: string;
  window: number;
  /** calls: allowed decisions; sum: the total of a whole-number argument over them */
  count: 'calls' | { sum: string };
  /** what the counter is kept per (empty: one counter for everyone) */
  by: KeyPart[];
  /** which requests it counts and applies to: action ids, resource entity types (absent: all) */
  match: { action?: string[]; resourceType?: string[] };
}

const stringList = (v: unknown): string[] | null =>
  typeof v === 'string' ? [v] : Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s.length > 0) ? (v as string[]) : null;

/** Parses usage.json; every problem is a diagnostic (file usage.json), and nothing is returned with one. */
export function parseUsage(text: string, out: Diagnostic[]): UsageCounter[] {
  const bad = (message: string): UsageCounter[] => {
    out.push({ file: USAGE_FILE, line: 1, col: 1, message });
    return [];
  };
  const list = parseVersionedList(text, { file: USAGE_FILE, version: USAGE_VERSION, key: 'counters', max: MAX_COUNTERS, nonEmpty: true }, out);
  if (list === null) return [];
  const before = out.length;
  const counters: UsageCounter[] = [];
  const names = new Set<string>();
  list.forEach((c: unknown, i: number) => {
    const at = `counters[${i}]`;
    if (!isRecord(c)) return bad(`${at}: must be an object`);
    for (const k of Object.keys(c)) if (!['name', 'window', 'count', 'by', 'match'].includes(k)) bad(`${at}: unknown member ${JSON.stringify(k)}`);
    const name = c.name;
    if (typeof name !== 'string' || !COUNTER_NAME.test(name)) return bad(`${at}: "name" must be an identifier (letters, digits, _), as policies read context.usage.<name>`);
    if (names.has(name)) bad(`${at}: duplicate counter name ${JSON.stringify(name)}`);
    names.add(name);
    const w = c.window;
    if (typeof w !== 'number' || !Number.isSafeInteger(w) || w < 1 || w > MAX_WINDOW_SECONDS) bad(`${name}: "window" must be whole seconds between 1 and ${MAX_WINDOW_SECONDS}`);
    let count: UsageCounter['count'] = 'calls';
    if (isRecord(c.count) && Object.keys(c.count).length === 1 && typeof c.count.sum === 'string' && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(c.count.sum)) count = { sum: c.count.sum };
    else if (c.count !== 'calls') bad(`${name}: "count" must be "calls" or {"sum": "<argument name>"}`);
    const by = c.by === undefined ? ['principal'] : c.by;
    if (!Array.isArray(by) || !by.every((p) => (KEY_PARTS as readonly unknown[]).includes(p)) || new Set(by).size !== by.length) {
      bad(`${name}: "by" must list distinct parts of ${KEY_PARTS.join(', ')}`);
    }
    const match: UsageCounter['match'] = {};
    if (c.match !== undefined) {
      if (!isRecord(c.match)) bad(`${name}: "match" must be an object {"action"?, "resourceType"?}`);
      else {
        for (const k of Object.keys(c.match)) if (k !== 'action' && k !== 'resourceType') bad(`${name}: "match" has unknown member ${JSON.stringify(k)}`);
        for (const k of ['action', 'resourceType'] as const) {
          if (c.match[k] === undefined) continue;
          const l = stringList(c.match[k]);
          if (l === null) bad(`${name}: "match.${k}" must be a string or a non-empty list of strings`);
          else match[k] = l;
        }
      }
    }
    counters.push({ name, window: w as number, count, by: [...(by as KeyPart[])].sort(), match });
  });
  return out.length > before ? [] : counters;
}

/** `@budget("<counter>")` on policies: each must name a declared counter (a typo would silently lose the reason code). */
export function checkBudgetAnnotations(policies: { id: string; file: string; annotations: Record<string, string> }[], counters: UsageCounter[], out: Diagnostic[]): void {
  const names = new Set(counters.map((c) => c.name));
  for (const p of policies) {
    const b = p.annotations.budget;
    if (b !== undefined && !names.has(b)) out.push({ file: p.file, line: 1, col: 1, message: `policy ${p.id}: @budget(${JSON.stringify(b)}) names no counter declared in ${USAGE_FILE}` });
  }
}

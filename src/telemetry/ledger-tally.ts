/**
 * Decisions counted from the ledger itself, for the health page: every decision leaf of the
 * home, whichever process made it (`writ up`, `writ authorize`, `writ exec`, `writ demo`, `writ
 * mcp`), not only the ones this server's node observed (DecisionStats, which alone has
 * latencies). Read incrementally: each call reads at most `budget` new entries, so a huge
 * ledger is caught up over several calls and no request scans it whole; per-second counts
 * are kept for the last WINDOW_SECONDS only.
 */
import type { Ledger } from '../ledger/ledger.ts';
import { leafObject } from '../ledger/leaf.ts';

const WINDOW_SECONDS = 300;
const PAGE = 1000;
/** entries read per call at most */
const DEFAULT_BUDGET = 20_000;

export interface LedgerTallyPoint {
  /** Unix seconds (the leaf's time) */
  t: number;
  allow: number;
  deny: number;
  denyReasons: Record<string, number>;
}

export interface LedgerTallySnapshot {
  /** the ledger's size, and how many of its entries are counted (less while catching up) */
  size: number;
  counted: number;
  totals: { allow: number; deny: number; denyReasons: Record<string, number> };
  /** the last `seconds` seconds by the leaves' own times, oldest first */
  series: LedgerTallyPoint[];
}

interface Second {
  allow: number;
  deny: number;
  reasons: Map<string, number>;
}

export class LedgerTally {
  private readonly ledger: Ledger;
  private readonly clock: () => number;
  private next = 0;
  private readonly totals = { allow: 0, deny: 0, reasons: new Map<string, number>() };
  private readonly seconds = new Map<number, Second>();

  constructor(ledger: Ledger, clock: () => number = Date.now) {
    this.ledger = ledger;
    this.clock = clock;
  }

  /** Counts what was appended since the last call (at most `budget` entries). */
  catchUp(budget = DEFAULT_BUDGET): void {
    const size = this.ledger.size();
    let read = 0;
    while (this.next < size && read < budget) {
      const page = this.ledger.entries(this.next, Math.min(PAGE, budget - read));
      if (page.length === 0) break;
      for (const e of page) if (e.type === 'decision') this.count(leafObject(e.leaf));
      this.next = (page.at(-1)?.index ?? this.next) + 1;
      read += page.length;
    }
    this.prune();
  }

  snapshot(seconds = 120, budget = DEFAULT_BUDGET): LedgerTallySnapshot {
    this.catchUp(budget);
    const now = Math.floor(this.clock() / 1000);
    const n = Math.min(Math.max(1, Math.floor(seconds)), WINDOW_SECONDS);
    const series: LedgerTallyPoint[] = [];
    for (let t = now - n + 1; t <= now; t++) {
      const s = this.seconds.get(t);
      series.push({ t, allow: s?.allow ?? 0, deny: s?.deny ?? 0, denyReasons: s ? Object.fromEntries(s.reasons) : {} });
    }
    return {
      size: this.ledger.size(),
      counted: this.next,
      totals: { allow: this.totals.allow, deny: this.totals.deny, denyReasons: Object.fromEntries(this.totals.reasons) },
      series,
    };
  }

  private count(leaf: Record<string, unknown>): void {
    const result = (typeof leaf.result === 'object' && leaf.result !== null ? leaf.result : {}) as { decision?: unknown; reasons?: unknown };
    const allow = result.decision === 'allow';
    const reasons = Array.isArray(result.reasons) ? result.reasons.map(String) : [];
    const at = typeof leaf.time === 'string' ? Date.parse(leaf.time) : NaN;
    const t = Number.isFinite(at) ? Math.floor(at / 1000) : null;
    const inWindow = t !== null && t > Math.floor(this.clock() / 1000) - WINDOW_SECONDS;
    let s: Second | undefined;
    if (inWindow) {
      s = this.seconds.get(t) ?? { allow: 0, deny: 0, reasons: new Map() };
      this.seconds.set(t, s);
    }
    if (allow) {
      this.totals.allow++;
      if (s) s.allow++;
      return;
    }
    this.totals.deny++;
    if (s) s.deny++;
    for (const r of reasons) {
      this.totals.reasons.set(r, (this.totals.reasons.get(r) ?? 0) + 1);
      if (s) s.reasons.set(r, (s.reasons.get(r) ?? 0) + 1);
    }
  }

  private prune(): void {
    const oldest = Math.floor(this.clock() / 1000) - WINDOW_SECONDS;
    for (const t of this.seconds.keys()) if (t <= oldest) this.seconds.delete(t);
  }
}

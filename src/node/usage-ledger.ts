/**
 * Usage counted from the node's own ledger (embedded: the ledger is the whole log). The
 * allowed decisions of the longest window in use are kept in memory, read incrementally:
 * each leaf is parsed once, when the ledger first shows it (appends of other processes of
 * the home included). A lease holds the counter keys' locks from the count until the
 * decision is recorded, so the next request with the same key counts it.
 */
import { leafObject } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { DenyError } from '../reasons.ts';
import { errorMessage } from '../util.ts';
import { eventOfLeaf, KeyedLocks, usageOf, type AppliedCounter, type UsageEvent, type UsageLease, type UsageMeter } from './usage.ts';

/**
 * How much later than its time a decision may reach the ledger and still be counted
 * correctly when the cache is first built: the backward scan stops at a decision this much
 * older than the window. (Appends wait for one commit; minutes are far beyond any.)
 */
export const LEDGER_SLACK_MS = 5 * 60_000;
/** allowed decisions kept in memory for counting; beyond it the node denies counted requests (usage_unavailable) */
export const MAX_CACHED_EVENTS = 1_000_000;
const PAGE = 1000;

export class LedgerUsageMeter implements UsageMeter {
  private readonly ledger: Ledger;
  private readonly locks = new KeyedLocks();
  private events: UsageEvent[] = [];
  /** next ledger index to read; -1: nothing read yet */
  private next = -1;
  /** every allowed decision with a time at or after this is in `events` */
  private coverMs = Infinity;

  constructor(ledger: Ledger) {
    this.ledger = ledger;
  }

  async open(applied: AppliedCounter[], _req: unknown, now: Date): Promise<UsageLease> {
    const release = await this.locks.acquire(applied.map((a) => a.key));
    try {
      const nowMs = now.getTime();
      const windowMs = Math.max(...applied.map((a) => a.counter.window)) * 1000;
      this.sync(nowMs - windowMs);
      const values: Record<string, number> = {};
      for (const a of applied) values[a.counter.name] = usageOf(a, this.events, nowMs);
      return { values, close: release };
    } catch (err) {
      release();
      if (err instanceof DenyError) throw err;
      throw new DenyError('usage_unavailable', `usage counters could not be read from the ledger: ${errorMessage(err)}`);
    }
  }

  /** Brings `events` up to the ledger's end, covering allowed decisions from `sinceMs` on. */
  private sync(sinceMs: number): void {
    if (this.next < 0 || sinceMs < this.coverMs) this.rebuild(sinceMs);
    for (;;) {
      const page = this.ledger.entries(this.next, PAGE);
      if (page.length === 0) break;
      for (const e of page) this.add(e.index, e.leaf);
      this.next = (page.at(-1)?.index ?? this.next) + 1;
    }
    // what no window in use reaches any more; a later, longer window rebuilds
    const keep = sinceMs - LEDGER_SLACK_MS;
    if (this.events.length > 0 && (this.events[0]?.timeMs ?? keep) < keep) {
      this.events = this.events.filter((e) => e.timeMs >= keep);
      this.coverMs = Math.max(this.coverMs, keep);
    }
    if (this.events.length > MAX_CACHED_EVENTS) throw new DenyError('usage_unavailable', `more than ${MAX_CACHED_EVENTS} allowed decisions in the counters' window`);
  }

  /** Reads backward from the ledger's end to the first decision older than the window (and the slack). */
  private rebuild(sinceMs: number): void {
    const end = this.ledger.size();
    const found: UsageEvent[] = [];
    let from = end;
    scan: while (from > 0) {
      const start = Math.max(0, from - PAGE);
      const page = this.ledger.entries(start, from - start);
      for (let i = page.length - 1; i >= 0; i--) {
        const e = page[i];
        if (!e || e.type !== 'decision') continue;
        const leaf = leafObject(e.leaf);
        const t = typeof leaf.time === 'string' ? Date.parse(leaf.time) : NaN;
        if (t < sinceMs - LEDGER_SLACK_MS) break scan;
        const ev = eventOfLeaf(String(e.index), leaf);
        if (ev) found.push(ev);
      }
      from = start;
    }
    this.events = found.reverse();
    this.next = end;
    this.coverMs = sinceMs;
  }

  private add(index: number, bytes: Uint8Array): void {
    let leaf: Record<string, unknown>;
    try {
      leaf = leafObject(bytes);
    } catch {
      return; // a damaged leaf is the audit's to report; it permitted nothing countable
    }
    const ev = eventOfLeaf(String(index), leaf);
    if (ev) this.events.push(ev);
  }
}

/**
 * Live decision statistics for the console's health dashboard: one slot per second
 * for the last few minutes (allow and deny counts, denies by reason code, and a
 * bounded sample of latencies), from which the dashboard draws decision rate, deny
 * rate by reason and latency p50/p99. Fed by the node's decision observer; O(1) per
 * decision on the hot path.
 */
import type { GovernanceNode } from '../node/node.ts';
import { LatencyHistogram, type HistogramPairs } from './histogram.ts';

const WINDOW_SECONDS = 300;
/** latencies kept per second (reservoir sampling beyond this) */
const SAMPLES_PER_SECOND = 1024;

interface Slot {
  second: number;
  allow: number;
  deny: number;
  reasons: Map<string, number>;
  latencies: number[];
  /** every latency of the second, for reports the authority merges */
  histogram: LatencyHistogram;
  seen: number;
  /** quantiles computed when `seen` was this */
  cached?: { seen: number; p50: number | null; p99: number | null };
}

export interface SeriesPoint {
  /** Unix seconds */
  t: number;
  allow: number;
  deny: number;
  /** denies by reason code in that second */
  denyReasons: Record<string, number>;
  /** milliseconds; null when there was no decision */
  p50: number | null;
  p99: number | null;
}

export interface StatsSnapshot {
  since: string;
  totals: { allow: number; deny: number; denyReasons: Record<string, number> };
  series: SeriesPoint[];
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? null;
}

/** One second of a node's decisions as it reports them to the fleet (status bucket). */
export interface SecondReport {
  t: number;
  allow: number;
  deny: number;
  denyReasons: Record<string, number>;
  latency: HistogramPairs;
}

export interface StatsReport {
  since: string;
  totals: StatsSnapshot['totals'];
  seconds: SecondReport[];
}

export class DecisionStats {
  private readonly slots: (Slot | undefined)[] = new Array<Slot | undefined>(WINDOW_SECONDS);
  private readonly started = new Date();
  private readonly totals = { allow: 0, deny: 0, denyReasons: new Map<string, number>() };
  private readonly clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.clock = clock;
  }

  /** Subscribes to a node's decisions. */
  static observe(node: GovernanceNode): DecisionStats {
    const s = new DecisionStats();
    node.onDecision((d, seconds) => s.add(d.decision, d.reasons, seconds));
    return s;
  }

  private slot(second: number): Slot {
    const i = second % WINDOW_SECONDS;
    let s = this.slots[i];
    if (!s || s.second !== second) {
      s = { second, allow: 0, deny: 0, reasons: new Map(), latencies: [], histogram: new LatencyHistogram(), seen: 0 };
      this.slots[i] = s;
    }
    return s;
  }

  add(decision: 'allow' | 'deny', reasons: readonly string[], seconds: number): void {
    const s = this.slot(Math.floor(this.clock() / 1000));
    if (decision === 'allow') {
      s.allow++;
      this.totals.allow++;
    } else {
      s.deny++;
      this.totals.deny++;
      for (const r of reasons) {
        s.reasons.set(r, (s.reasons.get(r) ?? 0) + 1);
        this.totals.denyReasons.set(r, (this.totals.denyReasons.get(r) ?? 0) + 1);
      }
    }
    const ms = seconds * 1000;
    s.histogram.record(ms);
    s.seen++;
    if (s.latencies.length < SAMPLES_PER_SECOND) s.latencies.push(ms);
    else {
      const j = Math.floor(Math.random() * s.seen);
      if (j < SAMPLES_PER_SECOND) s.latencies[j] = ms;
    }
  }

  /** The last `seconds` seconds, oldest first, the current (partial) second last. */
  snapshot(seconds = 120): StatsSnapshot {
    const now = Math.floor(this.clock() / 1000);
    const n = Math.min(Math.max(1, Math.floor(seconds)), WINDOW_SECONDS);
    const series: SeriesPoint[] = [];
    for (let t = now - n + 1; t <= now; t++) {
      const s = this.slots[t % WINDOW_SECONDS];
      if (!s || s.second !== t) {
        series.push({ t, allow: 0, deny: 0, denyReasons: {}, p50: null, p99: null });
        continue;
      }
      if (s.cached?.seen !== s.seen) {
        const sorted = [...s.latencies].sort((a, b) => a - b);
        s.cached = { seen: s.seen, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
      }
      series.push({ t, allow: s.allow, deny: s.deny, denyReasons: Object.fromEntries(s.reasons), p50: s.cached.p50, p99: s.cached.p99 });
    }
    return {
      since: this.started.toISOString(),
      totals: { allow: this.totals.allow, deny: this.totals.deny, denyReasons: Object.fromEntries(this.totals.denyReasons) },
      series,
    };
  }

  /** The last `seconds` seconds that saw decisions, with mergeable latency histograms. */
  report(seconds = 5): StatsReport {
    const now = Math.floor(this.clock() / 1000);
    const out: SecondReport[] = [];
    for (let t = now - Math.min(seconds, WINDOW_SECONDS) + 1; t <= now; t++) {
      const s = this.slots[t % WINDOW_SECONDS];
      if (s?.second !== t || s.allow + s.deny === 0) continue;
      out.push({ t, allow: s.allow, deny: s.deny, denyReasons: Object.fromEntries(s.reasons), latency: s.histogram.pairs() });
    }
    const { totals } = this.snapshot(1);
    return { since: this.started.toISOString(), totals, seconds: out };
  }
}

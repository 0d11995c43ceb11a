/**
 * The fleet's decision statistics, as the authority's console shows them: the sum of
 * what every node reports in the status bucket (see DecisionStats.report). Rates and
 * deny reasons add up; latency quantiles come from the merged histograms of each second.
 * A report is untrusted input (any NATS client could write one): it is parsed strictly,
 * and one that does not parse is ignored as a whole.
 */
import { ALL_REASONS } from '../reasons.ts';
import { isRecord } from '../util.ts';
import { LatencyHistogram, parsePairs } from './histogram.ts';
import type { SecondReport, StatsReport, StatsSnapshot } from './decision-stats.ts';

const WINDOW_SECONDS = 300;
const MAX_REASONS = 64;
/** a reported second may be this far ahead of the authority's clock */
const MAX_AHEAD_SECONDS = 5;
const KNOWN_REASONS = new Set<string>(ALL_REASONS);

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function parseReasons(v: unknown): Record<string, number> | null {
  if (!isRecord(v)) return null;
  const entries = Object.entries(v);
  // only reason codes Writ has: no `constructor` or `__proto__` to trip the sums
  if (entries.length > MAX_REASONS || !entries.every(([k, c]) => KNOWN_REASONS.has(k) && count(c))) return null;
  return Object.fromEntries(entries) as Record<string, number>;
}

/** A node's stats report, or null if any part of it is malformed. */
export function parseStatsReport(v: unknown): StatsReport | null {
  if (!isRecord(v) || typeof v.since !== 'string' || Number.isNaN(Date.parse(v.since)) || !isRecord(v.totals) || !Array.isArray(v.seconds) || v.seconds.length > 60) return null;
  const t = v.totals;
  const totalReasons = parseReasons(t.denyReasons);
  if (!count(t.allow) || !count(t.deny) || !totalReasons) return null;
  const seconds: SecondReport[] = [];
  for (const s of v.seconds as unknown[]) {
    if (!isRecord(s) || !count(s.t) || !count(s.allow) || !count(s.deny)) return null;
    const denyReasons = parseReasons(s.denyReasons);
    const latency = parsePairs(s.latency);
    if (!denyReasons || !latency) return null;
    seconds.push({ t: s.t, allow: s.allow, deny: s.deny, denyReasons, latency });
  }
  return { since: v.since, totals: { allow: t.allow, deny: t.deny, denyReasons: totalReasons }, seconds };
}

export class FleetStats {
  private readonly nodes = new Map<string, { since: string; totals: StatsReport['totals']; seconds: Map<number, SecondReport> }>();
  private readonly clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.clock = clock;
  }

  /** Takes a node's latest report: its seconds replace what that node said of them before. */
  offer(node: string, raw: unknown): boolean {
    const r = parseStatsReport(raw);
    if (!r) return false;
    const now = Math.floor(this.clock() / 1000);
    const oldest = now - WINDOW_SECONDS;
    const mine = this.nodes.get(node)?.seconds ?? new Map<number, SecondReport>();
    for (const s of r.seconds) if (s.t > oldest && s.t <= now + MAX_AHEAD_SECONDS) mine.set(s.t, s);
    for (const t of mine.keys()) if (t <= oldest) mine.delete(t);
    this.nodes.set(node, { since: r.since, totals: r.totals, seconds: mine });
    return true;
  }

  forget(node: string): void {
    this.nodes.delete(node);
  }

  snapshot(seconds = 120): StatsSnapshot {
    const now = Math.floor(this.clock() / 1000);
    const n = Math.min(Math.max(1, Math.floor(seconds)), WINDOW_SECONDS);
    const series: StatsSnapshot['series'] = [];
    for (let t = now - n + 1; t <= now; t++) {
      let allow = 0;
      let deny = 0;
      const reasons: Record<string, number> = {};
      const hist = new LatencyHistogram();
      for (const node of this.nodes.values()) {
        const s = node.seconds.get(t);
        if (!s) continue;
        allow += s.allow;
        deny += s.deny;
        for (const [r, c] of Object.entries(s.denyReasons)) reasons[r] = (reasons[r] ?? 0) + c;
        hist.merge(s.latency);
      }
      series.push({ t, allow, deny, denyReasons: reasons, p50: hist.quantile(0.5), p99: hist.quantile(0.99) });
    }
    const totals = { allow: 0, deny: 0, denyReasons: {} as Record<string, number> };
    let since = new Date(this.clock()).toISOString();
    for (const node of this.nodes.values()) {
      totals.allow += node.totals.allow;
      totals.deny += node.totals.deny;
      for (const [r, c] of Object.entries(node.totals.denyReasons)) totals.denyReasons[r] = (totals.denyReasons[r] ?? 0) + c;
      if (Date.parse(node.since) < Date.parse(since)) since = node.since;
    }
    return { since, totals, series };
  }
}

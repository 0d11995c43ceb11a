/** Latency histograms and the fleet's merged statistics (what the authority's console charts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionStats } from '../src/telemetry/decision-stats.ts';
import { FleetStats, parseStatsReport } from '../src/telemetry/fleet-stats.ts';
import { bucketOf, LatencyHistogram, MAX_BUCKET, parsePairs } from '../src/telemetry/histogram.ts';
import { testSeed, withSeedSync } from './prng.ts';

function exactQuantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)] as number;
}


describe('LatencyHistogram', () => {
  it('reads quantiles within ±4.5% of the exact value, over latencies from 10 µs to 10 s', () => {
    withSeedSync(testSeed(7), (r) => {
      const rnd = () => r.float();
      for (let round = 0; round < 20; round++) {
        const xs = Array.from({ length: 500 + round * 100 }, () => 0.01 * 10 ** (rnd() * 6));
        const h = new LatencyHistogram();
        for (const x of xs) h.record(x);
        for (const q of [0.5, 0.9, 0.99, 1]) {
          const exact = exactQuantile(xs, q);
          const got = h.quantile(q) as number;
          assert.ok(Math.abs(got - exact) / exact <= 0.045, `round ${round} q${q}: ${got} vs ${exact}`);
        }
      }
    });
  });

  it('merging histograms equals recording everything in one', () => {
    withSeedSync(testSeed(11), (r) => {
      const rnd = () => r.float();
      const all = new LatencyHistogram();
      const merged = new LatencyHistogram();
      for (let part = 0; part < 5; part++) {
        const h = new LatencyHistogram();
        for (let i = 0; i < 300; i++) {
          const x = rnd() * 50;
          h.record(x);
          all.record(x);
        }
        merged.merge(h.pairs());
      }
      assert.deepEqual(merged.pairs(), all.pairs());
      assert.equal(merged.quantile(0.99), all.quantile(0.99));
    });
  });

  it('never throws on odd latencies, and is empty until something is recorded', () => {
    const h = new LatencyHistogram();
    assert.equal(h.quantile(0.5), null);
    for (const x of [0, -1, Number.NaN, Infinity, 1e12]) h.record(x);
    assert.equal(h.total, 5);
    assert.deepEqual(h.pairs().map(([b]) => b), [0, MAX_BUCKET]);
    assert.equal(bucketOf(Number.NaN), 0);
  });

  it('parses only well-formed pairs from a report', () => {
    assert.deepEqual(parsePairs([[3, 1], [80, 2]]), [[3, 1], [80, 2]]);
    for (const bad of [null, {}, [[1]], [[1, 0]], [[-1, 1]], [[MAX_BUCKET + 1, 1]], [[1.5, 1]], [['1', 1]], Array.from({ length: MAX_BUCKET + 2 }, (_, i) => [i, 1])]) {
      assert.equal(parsePairs(bad), null, JSON.stringify(bad)?.slice(0, 40));
    }
  });
});

describe('FleetStats', () => {
  it('adds the nodes’ reports second by second; the fleet p99 is a quantile of the merged counts', () => {
    let now = 2_000_000_000_000;
    const a = new DecisionStats(() => now);
    const b = new DecisionStats(() => now);
    for (let i = 0; i < 99; i++) a.add('allow', ['policy_permit'], 0.001); // 1 ms
    b.add('deny', ['no_permit'], 0.2); // one slow decision: 200 ms
    const fleet = new FleetStats(() => now);
    assert.equal(fleet.offer('n1', JSON.parse(JSON.stringify(a.report()))), true);
    assert.equal(fleet.offer('n2', JSON.parse(JSON.stringify(b.report()))), true);
    const s = fleet.snapshot(2).series.at(-1);
    assert.deepEqual([s?.allow, s?.deny, s?.denyReasons], [99, 1, { no_permit: 1 }]);
    assert.ok(Math.abs((s?.p50 as number) - 1) < 0.05, `p50 ${s?.p50}`);
    assert.ok(Math.abs((s?.p99 as number) - 1) < 0.05, `p99 is the 99th of 100 decisions: ${s?.p99}`);
    b.add('deny', ['no_permit'], 0.2);
    fleet.offer('n2', b.report()); // a later report of the same second replaces the earlier one
    const t = fleet.snapshot(1);
    assert.deepEqual([t.series[0]?.deny, t.totals.deny, t.totals.allow], [2, 2, 99]);
    assert.ok(Math.abs((t.series[0]?.p99 as number) - 200) / 200 < 0.05);
    now += 400_000;
    assert.ok(fleet.snapshot(300).series.every((p) => p.allow + p.deny === 0), 'old seconds age out');
    // a second reported from the future is not kept for later
    const ahead = { since: new Date(now).toISOString(), totals: { allow: 1, deny: 0, denyReasons: {} }, seconds: [{ t: Math.floor(now / 1000) + 3600, allow: 1000, deny: 0, denyReasons: {}, latency: [[10, 1000]] }] };
    fleet.offer('n1', ahead);
    now += 3600_000;
    assert.ok(fleet.snapshot(300).series.every((p) => p.allow === 0), 'a future second is dropped, not shown when its time comes');
  });

  it('ignores a malformed report as a whole', () => {
    const good = { since: new Date().toISOString(), totals: { allow: 1, deny: 0, denyReasons: {} }, seconds: [{ t: 1, allow: 1, deny: 0, denyReasons: {}, latency: [[10, 1]] }] };
    assert.ok(parseStatsReport(good));
    const bad: unknown[] = [
      null,
      { ...good, since: 'yesterday' },
      { ...good, totals: { ...good.totals, allow: -1 } },
      { ...good, totals: { ...good.totals, denyReasons: { 'Not A Code': 1 } } },
      { ...good, totals: { ...good.totals, denyReasons: { constructor: 1 } } },
      { ...good, seconds: [{ ...good.seconds[0], denyReasons: JSON.parse('{"__proto__": 1}') as Record<string, number> }] },
      { ...good, seconds: [{ ...good.seconds[0], denyReasons: { made_up_reason: 1 } }] },
      { ...good, seconds: [{ ...good.seconds[0], latency: [[10, 0]] }] },
      { ...good, seconds: [{ ...good.seconds[0], allow: 1.5 }] },
      { ...good, seconds: Array.from({ length: 61 }, () => good.seconds[0]) },
    ];
    for (const r of bad) assert.equal(parseStatsReport(r), null, JSON.stringify(r)?.slice(0, 80));
    const f = new FleetStats();
    assert.equal(f.offer('n1', bad[2]), false);
    assert.equal(f.snapshot(1).totals.allow, 0);
  });
});

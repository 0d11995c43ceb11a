/**
 * A mergeable latency histogram: log-scale buckets, eight per doubling, so a quantile
 * read from it is within ±4.5% of the true value. Nodes report one per second in their
 * status; the authority adds them up, which samples or per-node quantiles could not do:
 * the fleet's p99 is a quantile of the merged counts, not an average of p99s.
 *
 * Bucket b holds latencies in [2^(b/8), 2^((b+1)/8)) microseconds; b is clamped to
 * [0, MAX_BUCKET] (1 µs to about 4.6 hours).
 */

export const BUCKETS_PER_DOUBLING = 8;
export const MAX_BUCKET = 8 * 34;

/** [bucket, count] pairs, buckets ascending: the wire form in status reports. */
export type HistogramPairs = [number, number][];

export function bucketOf(ms: number): number {
  const us = ms * 1000;
  if (!(us >= 1)) return 0; // also NaN and negatives: never a throw on the decision path
  return Math.min(MAX_BUCKET, Math.floor(Math.log2(us) * BUCKETS_PER_DOUBLING));
}

/** The geometric middle of a bucket, in milliseconds. */
export function bucketValueMs(b: number): number {
  return 2 ** ((b + 0.5) / BUCKETS_PER_DOUBLING) / 1000;
}

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private n = 0;

  get total(): number {
    return this.n;
  }

  record(ms: number): void {
    this.add(bucketOf(ms), 1);
  }

  add(bucket: number, count: number): void {
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + count);
    this.n += count;
  }

  merge(pairs: HistogramPairs): void {
    for (const [b, c] of pairs) this.add(b, c);
  }

  /** The value at quantile q (0 < q ≤ 1), or null when empty. */
  quantile(q: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (const [b, c] of this.pairs()) {
      seen += c;
      if (seen >= rank) return bucketValueMs(b);
    }
    return null; // unreachable: the counts add up to n
  }

  pairs(): HistogramPairs {
    return [...this.counts.entries()].sort((a, b) => a[0] - b[0]);
  }
}

/** Reads pairs from an untrusted report: null unless every pair is a valid bucket and a positive count. */
export function parsePairs(v: unknown): HistogramPairs | null {
  if (!Array.isArray(v) || v.length > MAX_BUCKET + 1) return null;
  const out: HistogramPairs = [];
  for (const p of v) {
    if (!Array.isArray(p) || p.length !== 2) return null;
    const [b, c] = p as unknown[];
    if (!Number.isSafeInteger(b) || !Number.isSafeInteger(c) || (b as number) < 0 || (b as number) > MAX_BUCKET || (c as number) < 1) return null;
    out.push([b as number, c as number]);
  }
  return out;
}

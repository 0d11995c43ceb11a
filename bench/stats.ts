/** Latency statistics and table printing for `npm run bench`. */
export interface Stats {
  ops: number;
  perSecond: number;
  p50us: number;
  p99us: number;
}

export function summarize(samplesNs: bigint[], wallMs: number): Stats {
  const sorted = samplesNs.map((s) => Number(s) / 1000).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { ops: sorted.length, perSecond: (sorted.length / wallMs) * 1000, p50us: at(0.5), p99us: at(0.99) };
}

/** Runs `fn` with `concurrency` callers until `count` calls are done. */
export async function measure(count: number, concurrency: number, fn: (i: number) => Promise<unknown> | unknown): Promise<Stats> {
  const samples: bigint[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t = process.hrtime.bigint();
      await fn(i);
      samples.push(process.hrtime.bigint() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summarize(samples, performance.now() - started);
}

export function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(typeof c === 'number' ? fmt(c) : c).padStart(widths[i] ?? 10)).join('  ');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

/** Extra Node flags for every `writ up` a bench starts (e.g. WRIT_BENCH_UP_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/p"). */
export function upFlags(): string[] {
  return process.env.WRIT_BENCH_UP_FLAGS?.split(' ').filter((s) => s !== '') ?? [];
}

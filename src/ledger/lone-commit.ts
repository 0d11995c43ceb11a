/**
 * Where the SQLite ledger commits a lone append (one append, nothing else waiting): on the
 * event loop's own thread, or on the writer worker. On the thread, the commit blocks the
 * loop for one fsync, but nothing is waiting on the loop, and it saves the two thread
 * wake-ups of the hand-off (≈ 300 µs on an idle 2-vCPU VM, more than the commit's own CPU).
 * On a machine whose cores are busy with other processes, the worker can be the faster
 * way: the commit's CPU then runs beside the loop's, and waiting for a core after the
 * fsync costs the same on either thread. So the choice is measured, not assumed: the
 * recent median latency of each way (append flushed → durable), the cheaper one taken,
 * and the other one retried every `explore`-th lone append to keep its figure current.
 * Batches of two or more appends always go to the worker (see SqliteLedger.flush).
 */

export type LonePath = 'here' | 'worker';

export class LoneCommitChooser {
  private readonly samples: Record<LonePath, number[]> = { here: [], worker: [] };
  private count = 0;
  private readonly window: number;
  private readonly explore: number;

  /** `window`: samples kept per way; `explore`: one lone append in this many takes the other way. */
  constructor(window = 15, explore = 32) {
    this.window = window;
    this.explore = explore;
  }

  /** The way the next lone append takes: each way is tried first, then the cheaper one. */
  next(): LonePath {
    const n = this.count++;
    if (this.samples.here.length === 0) return 'here';
    if (this.samples.worker.length === 0) return 'worker';
    const best: LonePath = this.median('here') <= this.median('worker') ? 'here' : 'worker';
    if (n % this.explore !== this.explore - 1) return best;
    return best === 'here' ? 'worker' : 'here';
  }

  /** How long a lone append took on `path`, from its flush until it was durable (ms). */
  record(path: LonePath, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const s = this.samples[path];
    s.push(ms);
    if (s.length > this.window) s.shift();
  }

  /** The recent median of a way (ms), NaN before its first sample. */
  median(path: LonePath): number {
    const s = [...this.samples[path]].sort((a, b) => a - b);
    if (s.length === 0) return Number.NaN;
    const mid = s.length >> 1;
    return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  }
}

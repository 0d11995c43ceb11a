/**
 * Where the SQLite ledger commits a lone append (one append, nothing else waiting): on the
 * event loop's own thread, or on the writer worker. On the thread, the commit blocks the
 * loop for one fsync, but nothing is waiting on the loop, and it saves the two thread
 * wake-ups of the hand-off (≈ 300 µs on an idle 2-vCPU VM, more than the commit's own CPU).
 * On a machine whose cores are busy with other processes, the worker can be the faster
 * way: the commit's CPU then runs beside the loop's, and waiting for a core after the
 * fsync costs more on the loop's thread (measured on a 2-vCPU VM at load 18: COMMIT
 * median 3.1 ms there, 0.5 ms on the worker: after the fsync, the thread that has used
 * its share of the CPU waits for a core, the mostly idle worker does not). So the choice
 * is measured, not assumed: the recent median latency of each way (append flushed →
 * durable). The worker, the way that is safe under load, is kept unless the loop's thread
 * has been clearly faster (by `margin`); the other way is retried every `explore`-th lone
 * append to keep its figure current. Batches of two or more appends always go to the
 * worker (see SqliteLedger.flush).
 */

export type LonePath = 'here' | 'worker';

export class LoneCommitChooser {
  private readonly samples: Record<LonePath, number[]> = { here: [], worker: [] };
  private count = 0;
  private readonly window: number;
  private readonly explore: number;
  private readonly margin: number;

  /**
   * `window`: samples kept per way; `explore`: one lone append in this many takes the other
   * way; `margin`: the loop's thread is taken while its median is below this share of the worker's.
   */
  constructor(window = 15, explore = 64, margin = 0.8) {
    this.window = window;
    this.explore = explore;
    this.margin = margin;
  }

  /** The way the next lone append takes: the worker first, one try of the loop's thread, then the clearly cheaper one. */
  next(): LonePath {
    const n = this.count++;
    if (this.samples.worker.length === 0) return 'worker';
    if (this.samples.here.length === 0) return 'here';
    const best: LonePath = this.median('here') < this.margin * this.median('worker') ? 'here' : 'worker';
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

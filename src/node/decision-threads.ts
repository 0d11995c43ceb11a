/**
 * Decision threads: worker threads that run the two CPU-heavy steps of a decision —
 * Cedar evaluation and the writ's Ed25519 signature — so a node uses every core while its
 * event loop does the rest (gate, evidence, I/O). They hold no state that decides
 * anything on their own: each evaluation names the bundle (by digest) it must run under,
 * and the worker compiles exactly that bundle's files, the same code as the main thread's
 * engine, so a decision is the same wherever it ran (and replay re-derives it).
 *
 * Jobs queued in one task leave in one message per worker, and a worker answers a message
 * with one message: under load a thread hop is paid per batch, not per decision. A job
 * that cannot be answered (worker crashed, bundle does not compile, closed pool) rejects,
 * and the decision path turns the rejection into a denial.
 */
import { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { CryptoKey } from 'jose';
import type { Evaluation, EvaluationRequest } from '../policy/engine.ts';
import type { WritClaims } from '../writ/claims.ts';

export type DecisionJob =
  | { id: number; op: 'load'; digest: string; files: Map<string, Uint8Array> }
  | { id: number; op: 'drop'; digest: string }
  | { id: number; op: 'evaluate'; digest: string; input: EvaluationRequest }
  | { id: number; op: 'sign'; claims: WritClaims };

export type DecisionJobResult = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

const WORKER_URL = new URL('./decision-thread-worker.ts', import.meta.url);
/** compiled bundles each thread keeps: the active one and the one it replaced (decisions still in flight under it) */
const BUNDLES_PER_THREAD = 2;
/** jobs outstanding per thread beyond which the caller's thread works itself (see saturated) */
const SATURATION_DEPTH = 4;

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

class DecisionThread {
  readonly worker: Worker;
  readonly waiting = new Map<number, Waiter>();
  /** digests loaded, oldest first */
  readonly loaded: string[] = [];
  private queue: DecisionJob[] = [];
  dead: Error | null = null;

  constructor(key: KeyObject, kid: string, onExit: () => void) {
    this.worker = new Worker(WORKER_URL, { workerData: { key, kid } });
    this.worker.unref();
    this.worker.on('message', (m: DecisionJobResult[]) => this.settle(m));
    const fail = (err: Error) => {
      if (this.dead) return;
      this.dead = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
      onExit();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`decision thread exited (code ${code})`)));
  }

  get outstanding(): number {
    return this.waiting.size + this.queue.length;
  }

  run(job: DecisionJob, waiter: Waiter | null): void {
    if (waiter) this.waiting.set(job.id, waiter);
    if (this.queue.length === 0) queueMicrotask(() => this.flush());
    this.queue.push(job);
  }

  private flush(): void {
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length === 0 || this.dead) return;
    this.worker.ref(); // a job in flight keeps the process alive; idle threads do not
    this.worker.postMessage(jobs);
  }

  private settle(results: DecisionJobResult[]): void {
    for (const r of results) {
      const w = this.waiting.get(r.id);
      if (!w) continue;
      this.waiting.delete(r.id);
      if (r.ok) w.resolve(r.value);
      else w.reject(new Error(r.error));
    }
    if (this.waiting.size === 0 && this.queue.length === 0) this.worker.unref();
  }
}

export class DecisionThreads {
  private readonly threads: DecisionThread[] = [];
  private readonly key: KeyObject;
  private readonly kid: string;
  private nextId = 0;
  private closed = false;

  constructor(o: { size: number; privateKey: CryptoKey | KeyObject; kid: string }) {
    if (!Number.isInteger(o.size) || o.size < 1) throw new RangeError(`decision threads: size must be a positive integer, got ${o.size}`);
    this.key = o.privateKey instanceof KeyObject ? o.privateKey : KeyObject.from(o.privateKey);
    if (this.key.asymmetricKeyType !== 'ed25519' || this.key.type !== 'private') throw new TypeError('decision threads sign writs with an Ed25519 private key');
    this.kid = o.kid;
    for (let i = 0; i < o.size; i++) this.threads.push(this.spawn());
  }

  get size(): number {
    return this.threads.length;
  }

  private spawn(): DecisionThread {
    const t: DecisionThread = new DecisionThread(this.key, this.kid, () => {
      // a crashed thread's jobs were rejected (denied); a fresh one takes its place
      const i = this.threads.indexOf(t);
      if (i >= 0 && !this.closed) this.threads[i] = this.spawn();
    });
    return t;
  }

  /**
   * Whether every thread already has `depth` jobs or more outstanding: then the caller's own
   * thread does the work instead of queueing it, so no core idles while another has a queue.
   */
  saturated(depth = SATURATION_DEPTH): boolean {
    return this.threads.every((t) => t.outstanding >= depth);
  }

  /** the thread with the fewest jobs outstanding */
  private pick(): DecisionThread {
    let best = this.threads[0] as DecisionThread;
    for (const t of this.threads) if (t.outstanding < best.outstanding) best = t;
    return best;
  }

  private job<T>(t: DecisionThread, make: (id: number) => DecisionJob): Promise<T> {
    if (this.closed) return Promise.reject(new Error('decision threads are closed'));
    if (t.dead) return Promise.reject(t.dead);
    return new Promise<T>((resolve, reject) => t.run(make(++this.nextId), { resolve: resolve as (v: unknown) => void, reject }));
  }

  /** Cedar on a decision thread, under exactly the bundle `digest` (compiled from `files` the first time that thread sees it). */
  evaluate(bundle: { digest: string; files: Map<string, Uint8Array> }, input: EvaluationRequest): Promise<Evaluation> {
    const t = this.pick();
    if (!t.dead && !t.loaded.includes(bundle.digest)) {
      t.loaded.push(bundle.digest);
      // messages are ordered: the load is done before any evaluation queued after it
      t.run({ id: ++this.nextId, op: 'load', digest: bundle.digest, files: bundle.files }, null);
      while (t.loaded.length > BUNDLES_PER_THREAD) t.run({ id: ++this.nextId, op: 'drop', digest: t.loaded.shift() as string }, null);
    }
    return this.job<Evaluation>(t, (id) => ({ id, op: 'evaluate', digest: bundle.digest, input }));
  }

  /** The compact JWS of `claims`, signed with the node's key on a decision thread (writ/issue.ts's encoding). */
  sign(claims: WritClaims): Promise<string> {
    return this.job<string>(this.pick(), (id) => ({ id, op: 'sign', claims }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}

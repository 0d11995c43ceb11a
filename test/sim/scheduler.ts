/**
 * Discrete-event core: a time-ordered event queue, and the rule that makes the real
 * (async) core code deterministic inside it.
 *
 * The core modules are async. A node awaits its ledger append — a promise only the
 * simulator settles (when the sequencer's ack is delivered, or the timeout fires) — and
 * they all await WebCrypto (jose, intent digests), the one source of real asynchrony on
 * the paths simulated: its completions arrive from the libuv pool at times that depend on
 * the host. So every WebCrypto call is serialized through one queue, in the order it was
 * made: a call starts only when the previous one has completed and its continuations ran.
 * Given the same sequence of events, the code then runs the same way on any host, however
 * many coroutines are in flight (a lock or a shared promise inside the core code included).
 *
 * A step handles one event and then waits for *quiescence*: no WebCrypto call queued or
 * running, and a full turn of the event loop (all microtasks) passed. At that point every
 * coroutine is finished or waits on something only the simulator can settle. Only then is
 * the next event taken. (Real timers are not simulated: code that sleeps on one makes a
 * step stall, which the simulation's watchdog reports.)
 */

type SubtleMethod = (...args: unknown[]) => Promise<unknown>;

let installed = false;
let running = false;
const queued: (() => void)[] = [];
let idle: (() => void)[] = [];

function next(): void {
  running = false;
  const start = queued.shift();
  if (start) start();
  else {
    const waiters = idle;
    idle = [];
    for (const w of waiters) w();
  }
}

/** Serializes every WebCrypto call of this thread (idempotent; transparent to callers). */
export function serializeWebCrypto(): void {
  if (installed) return;
  installed = true;
  const subtle = globalThis.crypto.subtle as unknown as Record<string, SubtleMethod>;
  for (const name of ['sign', 'verify', 'importKey', 'exportKey', 'digest', 'generateKey', 'deriveBits', 'deriveKey', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey']) {
    const original = subtle[name];
    if (typeof original !== 'function') continue;
    const bound = original.bind(globalThis.crypto.subtle) as SubtleMethod;
    subtle[name] = (...args: unknown[]) =>
      new Promise<unknown>((resolve, reject) => {
        const start = () => {
          running = true;
          let p: Promise<unknown>;
          try {
            p = bound(...args);
          } catch (err) {
            next();
            reject(err);
            return;
          }
          p.then(
            (v) => {
              next();
              resolve(v);
            },
            (err: unknown) => {
              next();
              reject(err);
            },
          );
        };
        if (running) queued.push(start);
        else start();
      });
  }
}

/** Resolves once no WebCrypto call is queued or running and the microtask queue is drained. */
export async function quiescence(): Promise<void> {
  for (;;) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!running && queued.length === 0) return;
    await new Promise<void>((resolve) => idle.push(resolve));
  }
}

export interface Scheduled<E> {
  at: number;
  seq: number;
  event: E;
}

/** A binary min-heap of events ordered by (time, insertion order): ties break deterministically. */
export class EventQueue<E> {
  private readonly heap: Scheduled<E>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, event: E): void {
    const item = { at, seq: this.seq++, event };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(item, h[p] as Scheduled<E>)) break;
      h[i] = h[p] as Scheduled<E>;
      i = p;
    }
    h[i] = item;
  }

  pop(): Scheduled<E> | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && less(h[r] as Scheduled<E>, h[l] as Scheduled<E>) ? r : l;
      if (!less(h[c] as Scheduled<E>, last)) break;
      h[i] = h[c] as Scheduled<E>;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

function less<E>(a: Scheduled<E>, b: Scheduled<E>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * Usage counted fleet-wide (docs/budgets.md, "Fleet"): each counter key is one value of the
 * fleet's swap store (NATS KV) holding the recent allows of that key, `{v: 1, events: [{id,
 * t, a}]}`. A request reserves its slot before it is evaluated: it reads the value, counts
 * the events in the window, and writes the value back with its own event added, expecting
 * the revision it read (compare-and-set). Of two nodes racing for the last slot, the second
 * write fails, re-reads and counts the first: no two allows share a slot. The count it
 * evaluates with is what was there before its own event. A reservation whose decision is
 * not an allow (or could not be recorded) is taken out again; if that fails, it stays until
 * it leaves the window, which only ever over-counts.
 *
 * Anything that prevents establishing the count — the store unreachable, timed out, too
 * contended, a key with too many events — denies `usage_unavailable`.
 */
import { canonicalJson } from '../canonical/json.ts';
import { MAX_WINDOW_SECONDS } from '../policy/usage.ts';
import { DenyError } from '../reasons.ts';
import { errorMessage, isRecord, sha256Base64urlSync } from '../util.ts';
import type { SwapStore } from './fleet-bus.ts';
import { newId } from './ids.ts';
import { KeyedLocks, type AppliedCounter, type UsageLease, type UsageMeter } from './usage.ts';

/** a key's value is kept this long after its last write: past every window (the events in it are then all out of theirs) */
export const USAGE_TTL_MS = MAX_WINDOW_SECONDS * 1000 + 86_400_000;
/** events one key may hold in its window: beyond, its value would outgrow a NATS message */
export const MAX_KEY_EVENTS = 5000;
/** compare-and-set attempts per key before the request is denied */
const MAX_ATTEMPTS = 50;

interface Held {
  id: string;
  /** time (ms) */
  t: number;
  /** amount: 1 for calls */
  a: number;
}

/** The store key of a counter key: its definition is part of it, so a redefined counter (window, count, by) starts apart. */
export function storeKey(a: AppliedCounter): string {
  const c = a.counter;
  return `u.${sha256Base64urlSync(canonicalJson({ name: c.name, window: c.window, count: c.count, by: c.by, key: a.key }))}`;
}

function decode(bytes: Uint8Array | undefined): Held[] {
  if (bytes === undefined || bytes.byteLength === 0) return [];
  const v: unknown = JSON.parse(new TextDecoder().decode(bytes));
  if (!isRecord(v) || v.v !== 1 || !Array.isArray(v.events)) throw new Error('a usage value that is not {v: 1, events}');
  return v.events.filter((e): e is Held => isRecord(e) && typeof e.id === 'string' && typeof e.t === 'number' && typeof e.a === 'number');
}

const encode = (events: Held[]) => new TextEncoder().encode(JSON.stringify({ v: 1, events }));

export class FleetUsageMeter implements UsageMeter {
  private readonly store: SwapStore;
  /** requests of this node for one key wait for each other: their swaps would only collide */
  private readonly locks = new KeyedLocks();

  constructor(store: SwapStore) {
    this.store = store;
  }

  async open(applied: AppliedCounter[], _req: unknown, now: Date): Promise<UsageLease> {
    const release = await this.locks.acquire(applied.map((a) => a.key));
    const id = newId();
    const taken: string[] = [];
    const values: Record<string, number> = {};
    try {
      for (const a of [...applied].sort((x, y) => (x.key < y.key ? -1 : 1))) {
        const key = storeKey(a);
        values[a.counter.name] = await this.reserve(key, a, id, now.getTime());
        taken.push(key);
      }
    } catch (err) {
      await this.giveBack(taken, id);
      release();
      if (err instanceof DenyError) throw err;
      throw new DenyError('usage_unavailable', `the fleet's usage counters could not be reached: ${errorMessage(err)}`);
    }
    return {
      values,
      close: async (d) => {
        try {
          if (d?.decision !== 'allow' || d.ledgerIndex === null) await this.giveBack(taken, id);
        } finally {
          release();
        }
      },
    };
  }

  /** Adds this request's event under `key`; resolves with the count before it. */
  private async reserve(key: string, a: AppliedCounter, id: string, nowMs: number): Promise<number> {
    const from = nowMs - a.counter.window * 1000;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.store.get(key);
      // events of other nodes a little ahead of this one's clock count too (over-counting is the safe side)
      const events = decode(current?.value).filter((e) => e.t > from);
      if (events.length >= MAX_KEY_EVENTS) throw new DenyError('usage_unavailable', `usage counter ${a.counter.name}: more than ${MAX_KEY_EVENTS} allows of one key in its window`);
      const total = events.reduce((s, e) => s + e.a, 0);
      if (!Number.isSafeInteger(total)) throw new DenyError('usage_unavailable', `usage counter ${a.counter.name} exceeds 2^53 − 1`);
      if (await this.store.swap(key, encode([...events, { id, t: nowMs, a: a.amount }]), current?.revision ?? 0)) return total;
    }
    throw new DenyError('usage_unavailable', `usage counter ${a.counter.name}: ${MAX_ATTEMPTS} concurrent writes in a row came first`);
  }

  /** Takes this request's event out again (best effort: a reservation left behind only over-counts). */
  private async giveBack(keys: string[], id: string): Promise<void> {
    for (const key of keys) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        try {
          const current = await this.store.get(key);
          const events = decode(current?.value);
          if (!current || !events.some((e) => e.id === id)) break;
          if (await this.store.swap(key, encode(events.filter((e) => e.id !== id)), current.revision)) break;
        } catch {
          break;
        }
      }
    }
  }
}

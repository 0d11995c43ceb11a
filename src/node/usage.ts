/**
 * Usage counters on the decision path (docs/budgets.md). A bundle's usage.json declares
 * counters; for a request a counter applies to, the node establishes its value — the
 * calls, or the sum of an argument, of the ALLOWED decisions with the same key in the
 * sliding window (t − window, t] — puts it in `context.usage.<name>`, evaluates, and
 * records it with the input, so replay evaluates the same values and the audit can
 * re-derive them (usageOf below is the one rule both use).
 *
 * Counting and the append of the allow are one critical section per counter key (the
 * meter's lease): two concurrent requests never both take the last slot. A bundle without
 * counters, or a request no counter applies to, never reaches a meter.
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { uidText, type EntityUid } from '../canonical/uid.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import type { UsageCounter } from '../policy/usage.ts';
import { DenyError } from '../reasons.ts';
import { isRecord } from '../util.ts';
import type { Decision } from './types.ts';

/** One allowed decision, as counters see it. */
export interface UsageEvent {
  /** ledger index (embedded), or a reservation id (fleet) */
  id: string;
  timeMs: number;
  principal: string;
  action: string;
  resource: string;
  actionId: string;
  resourceType: string;
  args: unknown;
}

/** A counter that applies to one request, with the request's key and contribution. */
export interface AppliedCounter {
  counter: UsageCounter;
  /** the counter's name and its key parts: what the lease serializes on */
  key: string;
  /** what this call adds if allowed: 1, or its argument */
  amount: number;
}

/** The counters' values for one request, held until its decision is recorded. */
export interface UsageLease {
  values: Record<string, number>;
  /** the decision is recorded (or failed): an allow is counted from now on, anything else is given back */
  close(d: Decision | null): Promise<void> | void;
}

export interface UsageMeter {
  /** rejects with a DenyError (usage_unavailable) when the values cannot be established */
  open(applied: AppliedCounter[], req: { principal: EntityUid; action: EntityUid; resource: EntityUid; args: unknown }, now: Date): Promise<UsageLease>;
}

/** A meter for nodes whose counts cannot be established (a fleet node without a fleet-wide counter store): every counted request denies. */
export function unavailableMeter(why: string): UsageMeter {
  return { open: () => Promise.reject(new DenyError('usage_unavailable', `usage counters cannot be established: ${why}`)) };
}

function matches(c: UsageCounter, actionId: string, resourceType: string): boolean {
  return (c.match.action === undefined || c.match.action.includes(actionId)) && (c.match.resourceType === undefined || c.match.resourceType.includes(resourceType));
}

function keyOf(c: UsageCounter, e: { principal: string; action: string; resource: string }): string {
  return JSON.stringify([c.name, ...c.by.map((p) => e[p])]);
}

/**
 * What one event adds to a sum: its argument, a whole number ≥ 0; absent, 0. A past event
 * with anything else (allowed when no counter summed it) adds 0; the current request is
 * refused instead (`strict`), since its contribution could not be counted.
 */
export function amountOf(c: UsageCounter, args: unknown, strict: boolean): number {
  if (c.count === 'calls') return 1;
  const v = isRecord(args) ? args[c.count.sum] : undefined;
  if (v === undefined) return 0;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (strict) throw new DenyError('request_invalid', `args.${c.count.sum} must be a whole number ≥ 0: usage counter ${c.name} sums it`);
  return 0;
}

/** The counters of `counters` that apply to the request (none: the request is not counted at all). */
export function appliedCounters(counters: readonly UsageCounter[], req: { principal: EntityUid; action: EntityUid; resource: EntityUid; args: unknown }): AppliedCounter[] {
  const out: AppliedCounter[] = [];
  const e = { principal: uidText(req.principal), action: uidText(req.action), resource: uidText(req.resource) };
  for (const c of counters) {
    if (!matches(c, req.action.id, req.resource.type)) continue;
    out.push({ counter: c, key: keyOf(c, e), amount: amountOf(c, req.args, true) });
  }
  return out;
}

/** The counter's value at `nowMs` for the key of `applied`: over allowed events in (now − window, now]. */
export function usageOf(a: AppliedCounter, events: Iterable<UsageEvent>, nowMs: number): number {
  const c = a.counter;
  const from = nowMs - c.window * 1000;
  let total = 0;
  for (const e of events) {
    if (e.timeMs <= from || e.timeMs > nowMs || !matches(c, e.actionId, e.resourceType) || keyOf(c, e) !== a.key) continue;
    total += amountOf(c, e.args, false);
  }
  if (!Number.isSafeInteger(total)) throw new DenyError('usage_unavailable', `usage counter ${c.name} exceeds 2^53 − 1`);
  return total;
}

/** The event an allowed decision leaf is for counters, or null (a denial, a re-decision of a running execution, no input). */
export function eventOfLeaf(id: string, leaf: Record<string, unknown>): UsageEvent | null {
  if (leaf.type !== 'decision' || leaf.reevaluates !== undefined || !isRecord(leaf.result) || leaf.result.decision !== 'allow') return null;
  const input = leaf.input;
  if (!isRecord(input) || typeof leaf.time !== 'string') return null;
  const uid = (v: unknown): EntityUid | null => (isRecord(v) && typeof v.type === 'string' && typeof v.id === 'string' ? { type: v.type, id: v.id } : null);
  const p = uid(input.principal);
  const a = uid(input.action);
  const r = uid(input.resource);
  const request = leaf.request;
  if (!p || !a || !r || !isRecord(request)) return null;
  return { id, timeMs: Date.parse(leaf.time), principal: uidText(p), action: uidText(a), resource: uidText(r), actionId: a.id, resourceType: r.type, args: request.args };
}

/**
 * Runs `decide` with `context.usage` set for the counters that apply, under the meter's
 * lease; the same `base` untouched when none does (no meter, no lock, no cost).
 */
export function withUsage(
  meter: UsageMeter,
  counters: readonly UsageCounter[],
  base: EvaluationRequest,
  args: unknown,
  now: Date,
  decide: (input: EvaluationRequest) => Promise<Decision>,
): Promise<Decision> {
  // not async: a bundle without counters pays for one length check, no promise of its own
  if (counters.length === 0) return decide(base);
  return counted(meter, counters, base, args, now, decide);
}

async function counted(
  meter: UsageMeter,
  counters: readonly UsageCounter[],
  base: EvaluationRequest,
  args: unknown,
  now: Date,
  decide: (input: EvaluationRequest) => Promise<Decision>,
): Promise<Decision> {
  const req = { principal: base.principal, action: base.action, resource: base.resource, args: args ?? {} };
  const applied = appliedCounters(counters, req);
  if (applied.length === 0) return decide(base);
  const lease = await meter.open(applied, req, now);
  let d: Decision | null = null;
  try {
    const usage: Record<string, CedarValueJson> = { ...lease.values };
    d = await decide({ ...base, context: { ...base.context, usage } });
    return d;
  } finally {
    await lease.close(d);
  }
}

/** Per-key async locks, taken in key order so two requests touching the same keys cannot deadlock. */
export class KeyedLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async acquire(keys: string[]): Promise<() => void> {
    const releases: (() => void)[] = [];
    for (const key of [...new Set(keys)].sort()) {
      const previous = this.tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const tail = previous.then(() => mine);
      this.tails.set(key, tail);
      await previous;
      releases.push(() => {
        release();
        if (this.tails.get(key) === tail) this.tails.delete(key);
      });
    }
    return () => {
      for (const r of releases) r();
    };
  }
}

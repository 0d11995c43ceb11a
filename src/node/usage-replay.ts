/**
 * The audit side of usage counters (docs/budgets.md): replay evaluates the recorded
 * `context.usage`, and this re-derives each recorded value from the ledger entries before
 * the decision, by the rule the node counts with (usage.ts usageOf). A node that recorded
 * less usage than the ledger shows (and so let a call through a budget) is reported.
 */
import type { EvaluationRequest } from '../policy/engine.ts';
import { MAX_WINDOW_SECONDS, type UsageCounter } from '../policy/usage.ts';
import { errorMessage, isRecord } from '../util.ts';
import { appliedCounters, eventOfLeaf, usageOf, type UsageEvent } from './usage.ts';
import { LEDGER_SLACK_MS } from './usage-ledger.ts';

export class UsageRederivation {
  private events: UsageEvent[] = [];

  /** Counts an entry (in ledger order) once it was checked: only allowed decisions count. */
  add(index: number, leaf: Record<string, unknown>): void {
    const e = eventOfLeaf(String(index), leaf);
    if (!e) return;
    this.events.push(e);
    // nothing older than the longest possible window is ever counted again
    const keep = e.timeMs - MAX_WINDOW_SECONDS * 1000 - LEDGER_SLACK_MS;
    if ((this.events[0]?.timeMs ?? keep) < keep) this.events = this.events.filter((x) => x.timeMs >= keep);
  }

  /**
   * Null when the decision's recorded usage is exactly what the ledger before it shows for
   * the counters of its bundle that apply to it; else what differs.
   */
  check(leaf: Record<string, unknown>, input: EvaluationRequest, counters: readonly UsageCounter[]): string | null {
    const recorded: unknown = input.context.usage;
    if (counters.length === 0) return recorded === undefined ? null : 'context.usage recorded, but the bundle declares no usage counters';
    const request = isRecord(leaf.request) ? leaf.request : {};
    let applied;
    try {
      applied = appliedCounters(counters, { principal: input.principal, action: input.action, resource: input.resource, args: request.args ?? {} });
    } catch (err) {
      return `usage: ${errorMessage(err)}`;
    }
    if (applied.length === 0) return recorded === undefined ? null : 'context.usage recorded, but no usage counter applies to this request';
    if (!isRecord(recorded)) return `usage counters ${applied.map((a) => a.counter.name).join(', ')} apply, but no context.usage was recorded`;
    const nowMs = typeof leaf.time === 'string' ? Date.parse(leaf.time) : NaN;
    const wrong: string[] = [];
    for (const a of applied) {
      const want = usageOf(a, this.events, nowMs);
      const got: unknown = recorded[a.counter.name];
      if (got !== want) wrong.push(`${a.counter.name}: recorded ${JSON.stringify(got)}, the ledger shows ${want}`);
    }
    const extra = Object.keys(recorded).filter((k) => !applied.some((a) => a.counter.name === k));
    if (extra.length > 0) wrong.push(`recorded ${extra.join(', ')}, which no applying counter names`);
    return wrong.length === 0 ? null : `usage re-derived from the ledger differs: ${wrong.join('; ')}`;
  }
}

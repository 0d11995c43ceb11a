/**
 * A running execution's lease (docs/enforcement-points.md, issue 13): the execution stays
 * authorized only while its authorization still holds. Every `pollMs` the lease checks, in
 * this order, and the first that fails ends it (once; each onTerminate callback runs once):
 *
 *   revoked      a revocation covers its writ, an ancestor, the principal, a quarantine,
 *                the node or the bundle (or `also()`, one only the enforcement point knows)
 *                → `writ_revoked`
 *   run time     it has run longer than its writ's `cons.maxRunSeconds` → `max_run_exceeded`
 *   freshness    the node cannot prove its policy is current (a fleet node's beacon
 *                expired) for longer than `freshnessGraceMs` → `stale_policy`
 *   re-decision  the governance state changed since the last look (a bundle activated, a
 *                revocation arrived): the node re-decides the original request under the
 *                state now in force (GovernanceNode.reevaluate, recorded, linked to the
 *                writ); a deny ends it with the deny's reason and the policy that denied
 *
 * A check that cannot be made (the revocation state unreadable) ends the call: fail closed.
 */
import type { AuthorizeRequest, Decision, GovernanceNode } from '../node/node.ts';
import type { PolicyRef } from '../node/active-policy.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import type { WritClaims } from '../writ/claims.ts';

export interface LeaseOptions {
  /** how often the lease is checked while calls run (the watcher's cadence) */
  pollMs?: number;
  /** a revocation only the enforcement point knows of (an MCP session's root): why, or null */
  also?: () => string | null;
  /** a check failed (the call is then terminated: fail closed), or an onTerminate callback threw */
  onError?: (err: unknown) => void;
  /** how long the call goes on after the node lost freshness (default: the node's freshnessGraceMs) */
  freshnessGraceMs?: number;
}

/** Why a lease ended: a reason code, a message, and — for a re-decision — the decision and the policy that ended it. */
export interface Termination {
  code: string;
  message: string;
  decisionId: string | null;
  policy: PolicyRef | null;
}

/** What the lease re-decides: the decided request, its recorded input, the approval it used. */
export interface Decided {
  request: AuthorizeRequest;
  input: EvaluationRequest | null;
  approval: string | null;
  /** node.governanceState() when the decision was made */
  state: string;
}

export const DEFAULT_LEASE_POLL_MS = 100;

export class Lease {
  ended: Termination | null = null;
  private readonly node: GovernanceNode;
  private readonly claims: WritClaims;
  private readonly o: LeaseOptions;
  private readonly decided: Decided;
  private readonly startedMs: number;
  private readonly callbacks: ((t: Termination) => void)[] = [];
  private readonly watcher: Watcher;
  private released = false;
  private staleSince: number | null = null;
  private seen: string;
  private deciding = false;

  constructor(node: GovernanceNode, claims: WritClaims, decided: Decided, o: LeaseOptions) {
    this.node = node;
    this.claims = claims;
    this.decided = decided;
    this.o = o;
    this.seen = decided.state;
    this.startedMs = node.clock.now();
    this.watcher = watcherOf(node, o.pollMs ?? DEFAULT_LEASE_POLL_MS);
    this.watcher.add(this);
  }

  onTerminate(cb: (t: Termination) => void): void {
    if (this.released && this.ended === null) return; // ended: nothing can end it any more
    if (this.ended !== null) {
      const t = this.ended;
      queueMicrotask(() => this.fire(cb, t));
      return;
    }
    this.callbacks.push(cb);
  }

  /** One check, from the watcher's tick. */
  check(): void {
    if (this.released) return;
    let t: Termination | null;
    try {
      t = this.revoked() ?? this.overtime() ?? this.stale();
    } catch (err) {
      this.o.onError?.(err);
      t = end('writ_revoked', `the revocation state could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (t !== null) return this.terminate(t);
    this.redecideIfChanged();
  }

  private revoked(): Termination | null {
    const why = this.node.revocationOf(this.claims) ?? this.o.also?.() ?? null;
    return why === null ? null : end('writ_revoked', why);
  }

  private overtime(): Termination | null {
    const max = this.claims.cons?.maxRunSeconds;
    if (max === undefined) return null;
    const ran = this.node.clock.now() - this.startedMs;
    return ran >= max * 1000 ? end('max_run_exceeded', `ran ${Math.round(ran / 1000)} s: the writ allows ${max} s (cons.maxRunSeconds)`) : null;
  }

  private stale(): Termination | null {
    const why = this.node.staleness();
    if (why === null) {
      this.staleSince = null;
      return null;
    }
    const now = this.node.clock.now();
    this.staleSince ??= now;
    const grace = this.o.freshnessGraceMs ?? this.node.limits.freshnessGraceMs;
    return now - this.staleSince >= grace ? end('stale_policy', `this node cannot prove its policy is current (${why}) for ${grace} ms`) : null;
  }

  /** A change of governance state: the node re-decides the request; a deny ends the call. */
  private redecideIfChanged(): void {
    const input = this.decided.input;
    if (this.deciding || input === null || this.staleSince !== null) return;
    this.deciding = true;
    let state = '';
    this.node
      .governanceState()
      .then((s) => {
        state = s;
        if (s === this.seen || this.released) return null;
        return this.node.reevaluate({ claims: this.claims, request: this.decided.request, input, approval: this.decided.approval });
      })
      .then((d: Decision | null) => {
        if (d === null) {
          this.deciding = false;
          return;
        }
        this.deciding = false;
        const reasons = d.reasons.filter((r) => r !== 'ledger_append_failed');
        if (d.decision === 'allow') this.seen = state;
        // not decided (its record failed, nothing else said): try again on the next tick
        else if (reasons.length > 0) this.terminate({ code: reasons[0] as string, message: d.message, decisionId: d.ledgerIndex === null ? null : d.decisionId, policy: d.policy });
      })
      .catch((err: unknown) => {
        this.deciding = false;
        this.o.onError?.(err);
      });
  }

  private terminate(t: Termination): void {
    if (this.released) return;
    this.ended = t;
    this.release();
    for (const cb of this.callbacks.splice(0)) this.fire(cb, t);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.watcher.delete(this);
    if (this.ended === null) this.callbacks.length = 0;
  }

  private fire(cb: (t: Termination) => void, t: Termination): void {
    try {
      cb(t);
    } catch (err) {
      this.o.onError?.(err);
    }
  }
}

function end(code: string, message: string): Termination {
  return { code, message, decisionId: null, policy: null };
}

/**
 * One timer per node and cadence for all its running calls, not one per call: ticking
 * only while a call runs, and not keeping the process alive by itself (what runs does).
 */
class Watcher {
  private readonly leases = new Set<Lease>();
  private readonly pollMs: number;
  private cancel: (() => void) | null = null;
  private readonly node: GovernanceNode;

  constructor(node: GovernanceNode, pollMs: number) {
    this.node = node;
    this.pollMs = pollMs;
  }

  add(l: Lease): void {
    this.leases.add(l);
    this.cancel ??= this.node.clock.every(this.pollMs, () => {
      for (const lease of [...this.leases]) lease.check();
    });
  }

  delete(l: Lease): void {
    this.leases.delete(l);
    if (this.leases.size === 0 && this.cancel !== null) {
      this.cancel();
      this.cancel = null;
    }
  }
}

const watchers = new WeakMap<GovernanceNode, Map<number, Watcher>>();

function watcherOf(node: GovernanceNode, pollMs: number): Watcher {
  let byCadence = watchers.get(node);
  if (!byCadence) watchers.set(node, (byCadence = new Map()));
  let w = byCadence.get(pollMs);
  if (!w) byCadence.set(pollMs, (w = new Watcher(node, pollMs)));
  return w;
}

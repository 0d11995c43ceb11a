/**
 * The enforcement-point core (docs/enforcement-points.md): what every place that gates an
 * execution does around it, once, so `writ exec`, the MCP governor and the enforcement
 * points still to come (gateway forward-auth, admission webhook, running-execution
 * leases) cannot drift apart in what they check or in what they record.
 *
 *   begin  authorize (waiting for a human approval if the point does) → verify and consume
 *          the writ with the node's verifier, unless it travels on to an executor that does
 *          → a denial (the node's reasons, unchanged), or a GovernedCall: the writ, its
 *          verified claims, the start time, and a lease
 *   lease  onTerminate(cb) fires once when a revocation covers the running call (its writ,
 *          an ancestor, the principal, a quarantine, the node, the bundle)
 *   end    records the outcome leaf exactly once and releases the lease
 */
import { WritVerificationError } from '../writ/verify.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { awaitApproval } from '../node/approval.ts';
import { recordOutcome, type Outcome } from '../node/evidence.ts';
import type { AuthorizeRequest, Decision, GovernanceNode } from '../node/node.ts';
import type { NodeState } from '../node/state.ts';
import { errorMessage } from '../util.ts';
import type { WritClaims } from '../writ/claims.ts';

/**
 * Who verifies (and consumes) the writ. `here`: this enforcement point runs the call
 * itself (`writ exec`), so it verifies as any executor would, single use included.
 * `carried`: the writ travels with the call to the executor, which verifies and consumes
 * it (the MCP proxy → `writ/mcp-server`); consuming it here would make that check fail.
 */
export type Verification = 'here' | 'carried';

/** How a point that can wait for a human approval waits (the MCP proxy; `writ exec` does not). */
export interface ApprovalWait {
  state: NodeState;
  timeoutMs: number;
  /** stops the wait (the request was cancelled); the approval then expires as cancelled */
  signal?: AbortSignal;
  /** told once the approval is asked for, before the wait: to tell a human what to approve */
  onWait?: (approvalId: string) => void;
}

export interface LeaseOptions {
  /** how often revocations are checked while calls run (the watcher's cadence) */
  pollMs?: number;
  /** a revocation only the enforcement point knows of (an MCP session's root): why, or null */
  also?: () => string | null;
  /** the revocation state could not be read (the call is then terminated: fail closed), or an onTerminate callback threw */
  onError?: (err: unknown) => void;
}

export interface BeginOptions {
  node: GovernanceNode;
  ledger: Ledger;
  /** the request to decide; for `here`, its audience (default: the resource), args, action and resource are what is verified */
  request: AuthorizeRequest;
  verify: Verification;
  /** without it, `approval_required` is a denial like any other */
  approval?: ApprovalWait;
  lease?: LeaseOptions;
}

/** Why no call began: the node's reasons (or the verifier's one code), never rewritten. */
export interface Denial {
  reasons: readonly string[];
  message: string;
  decisionId: string;
  /** what the node decided: a deny, or an allow whose writ then failed verification here */
  decision: Decision;
}

export type Begun = { call: GovernedCall } | { denied: Denial };

/** How the call ended; jti, node and (by default) the duration since begin are the call's own. */
export interface CallOutcome {
  status: Outcome['status'];
  reason?: string | null;
  exitCode?: number | null;
  signal?: string | null;
  isError?: boolean;
  resultDigest?: string | null;
  /** default: since begin (a process measures from its spawn; a call refused before it ran says 0) */
  durationMs?: number;
}

export const DEFAULT_LEASE_POLL_MS = 100;

export async function begin(o: BeginOptions): Promise<Begun> {
  const { node, request } = o;
  let d = await node.authorize(request);
  if (o.approval && d.reasons[0] === 'approval_required' && d.approvalId) {
    o.approval.onWait?.(d.approvalId);
    await awaitApproval(o.ledger, o.approval.state, d.approvalId, { timeoutMs: o.approval.timeoutMs, clock: o.node.clock, now: () => o.node.now(), ...(o.approval.signal && { signal: o.approval.signal }) });
    // approved → allow; rejected or expired → denied with approval_rejected / approval_expired
    d = await node.authorize({ ...request, approval: d.approvalId });
  }
  if (d.decision !== 'allow' || !d.writ || !d.claims) return { denied: { reasons: d.reasons, message: d.message, decisionId: d.decisionId, decision: d } };
  let claims = d.claims;
  if (o.verify === 'here') {
    try {
      ({ claims } = await node.verify(d.writ, {
        audience: request.audience ?? request.resource,
        args: request.args,
        consume: true,
        expect: { action: request.action, resource: request.resource },
      }));
    } catch (err) {
      return { denied: { reasons: [codeOf(err)], message: errorMessage(err), decisionId: d.decisionId, decision: d } };
    }
  }
  return { call: new GovernedCall(o, d, d.writ, claims) };
}

/** A verification error's reason code; anything else (another WritError's code is not a verification reason) is an internal error. */
function codeOf(err: unknown): string {
  return err instanceof WritVerificationError ? err.code : 'internal_error';
}

export class GovernedCall {
  readonly writ: string;
  /** the claims as verified here (`here`), or as the node issued them (`carried`) */
  readonly claims: WritClaims;
  readonly decision: Decision;
  /** performance.now() when the call began */
  readonly started: number;
  private readonly node: GovernanceNode;
  private readonly ledger: Ledger;
  private readonly lease: Lease;
  private ending: Promise<number | null> | null = null;

  constructor(o: BeginOptions, decision: Decision, writ: string, claims: WritClaims) {
    this.node = o.node;
    this.ledger = o.ledger;
    this.decision = decision;
    this.writ = writ;
    this.claims = claims;
    this.started = performance.now();
    this.lease = new Lease(o.node, claims, o.lease ?? {});
  }

  get jti(): string {
    return this.claims.jti;
  }

  /** why the lease ended the call (a revocation), or null */
  get terminated(): string | null {
    return this.lease.reason;
  }

  get ended(): boolean {
    return this.ending !== null;
  }

  /** `cb` runs once if a revocation covers the call before it ends (at once, if one already has). */
  onTerminate(cb: (reason: string) => void): void {
    this.lease.onTerminate(cb);
  }

  /**
   * Records the outcome, exactly once: a later end records nothing and resolves to null
   * (an outcome is evidence of one execution; the ledger would refuse a second one
   * anyway, but a refused append is noise in the evidence path). A call that ran to
   * ok/failed after its lease was terminated ended because of that: it is recorded
   * `terminated`, `writ_revoked`. Rejects if the leaf could not be appended.
   */
  end(o: CallOutcome): Promise<number | null> {
    if (this.ending !== null) return Promise.resolve(null);
    const revoked = this.lease.reason !== null && (o.status === 'ok' || o.status === 'failed');
    this.lease.release();
    const outcome: Outcome = {
      jti: this.claims.jti,
      node: this.node.identity.nodeId,
      exitCode: o.exitCode ?? null,
      signal: o.signal ?? null,
      durationMs: o.durationMs ?? performance.now() - this.started,
      status: revoked ? 'terminated' : o.status,
      reason: revoked ? 'writ_revoked' : (o.reason ?? null),
      ...(o.isError !== undefined && { isError: o.isError }),
      ...(o.resultDigest !== undefined && { resultDigest: o.resultDigest }),
    };
    this.ending = recordOutcome(this.ledger, outcome, this.node.now());
    return this.ending;
  }

  /**
   * Stops watching without recording anything: for a call that will have no outcome here
   * (cancelled before it was forwarded, or its session closed while it was in flight).
   */
  abandon(): void {
    this.lease.release();
  }
}

/** A running call's hold on its writ: ended by the first revocation that covers it. */
class Lease {
  reason: string | null = null;
  private readonly node: GovernanceNode;
  private readonly claims: WritClaims;
  private readonly o: LeaseOptions;
  private readonly callbacks: ((reason: string) => void)[] = [];
  private readonly watcher: Watcher;
  private released = false;

  constructor(node: GovernanceNode, claims: WritClaims, o: LeaseOptions) {
    this.node = node;
    this.claims = claims;
    this.o = o;
    this.watcher = watcherOf(node, o.pollMs ?? DEFAULT_LEASE_POLL_MS);
    this.watcher.add(this);
  }

  onTerminate(cb: (reason: string) => void): void {
    if (this.released && this.reason === null) return; // ended: no revocation can end it any more
    if (this.reason !== null) {
      const reason = this.reason;
      queueMicrotask(() => this.fire(cb, reason));
      return;
    }
    this.callbacks.push(cb);
  }

  /** One check, from the watcher's tick. */
  check(): void {
    let reason: string | null;
    try {
      reason = this.node.revocationOf(this.claims) ?? this.o.also?.() ?? null;
    } catch (err) {
      // fail closed: a call whose authorization can no longer be checked does not go on
      this.o.onError?.(err);
      reason = `the revocation state could not be read: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (reason === null) return;
    this.reason = reason;
    this.release();
    for (const cb of this.callbacks.splice(0)) this.fire(cb, reason);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.watcher.delete(this);
    if (this.reason === null) this.callbacks.length = 0;
  }

  private fire(cb: (reason: string) => void, reason: string): void {
    try {
      cb(reason);
    } catch (err) {
      this.o.onError?.(err);
    }
  }
}

/**
 * One timer per node and cadence for all its running calls, not one per call: ticking
 * only while a call runs, and not keeping the process alive by itself (what runs does).
 */
class Watcher {
  private readonly leases = new Set<Lease>();
  private readonly pollMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(pollMs: number) {
    this.pollMs = pollMs;
  }

  add(l: Lease): void {
    this.leases.add(l);
    if (this.timer === null) {
      this.timer = setInterval(() => {
        for (const lease of [...this.leases]) lease.check();
      }, this.pollMs);
      this.timer.unref();
    }
  }

  delete(l: Lease): void {
    this.leases.delete(l);
    if (this.leases.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

const watchers = new WeakMap<GovernanceNode, Map<number, Watcher>>();

function watcherOf(node: GovernanceNode, pollMs: number): Watcher {
  let byCadence = watchers.get(node);
  if (!byCadence) watchers.set(node, (byCadence = new Map()));
  let w = byCadence.get(pollMs);
  if (!w) byCadence.set(pollMs, (w = new Watcher(pollMs)));
  return w;
}

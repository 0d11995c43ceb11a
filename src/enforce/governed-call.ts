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
import { WritError } from '../writ/errors.ts';
import { sleep } from '../clock.ts';
import type { RunningExecution, RunningKind, RunningRegistry } from '../node/running.ts';
import { DEFAULT_LEASE_POLL_MS, Lease, type LeaseOptions, type Termination } from './lease.ts';

export { DEFAULT_LEASE_POLL_MS, type LeaseOptions, type Termination };

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
  /**
   * told every `progressEveryMs` while it waits (the MCP proxy's progress notifications: a
   * client that resets its request timeout on progress then does not give up on a call a
   * human is still looking at)
   */
  onProgress?: (approvalId: string, waitedMs: number) => void;
  /** default APPROVAL_PROGRESS_MS */
  progressEveryMs?: number;
}

/** How often a waiting call reports progress (ApprovalWait.onProgress). */
export const APPROVAL_PROGRESS_MS = 5000;


export interface BeginOptions {
  node: GovernanceNode;
  ledger: Ledger;
  /** the request to decide; for `here`, its audience (default: the resource), args, action and resource are what is verified */
  request: AuthorizeRequest;
  verify: Verification;
  /** without it, `approval_required` is a denial like any other */
  approval?: ApprovalWait;
  lease?: LeaseOptions;
  /**
   * registers the running call (writ ps, the console, an admin's terminate) while it runs.
   * `afterStart`: once the current task is over, i.e. after the point forwarded the call —
   * the row is no evidence and no gate (the lease ends a revoked call), so its SQLite write
   * need not delay the call (the MCP proxy, issue 14 point 5)
   */
  running?: { registry: RunningRegistry; kind: RunningKind; afterStart?: boolean };
  /** how long an outcome that could not be recorded is retried (the evidence stream unreachable): default 2 min */
  recordRetryMs?: number;
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


export async function begin(o: BeginOptions): Promise<Begun> {
  const { node, request } = o;
  // the state the decision is made under: a change after it is re-decided by the lease
  const state = await node.governanceState();
  let d = await node.authorize(request);
  if (o.approval && d.reasons[0] === 'approval_required' && d.approvalId) {
    const w = o.approval;
    const id = d.approvalId;
    w.onWait?.(id);
    const started = o.node.clock.now();
    const onProgress = w.onProgress;
    const stopProgress = onProgress ? o.node.clock.every(w.progressEveryMs ?? APPROVAL_PROGRESS_MS, () => onProgress(id, o.node.clock.now() - started)) : () => undefined;
    try {
      await awaitApproval(o.ledger, w.state, id, { timeoutMs: w.timeoutMs, clock: o.node.clock, now: () => o.node.now(), ...(w.signal && { signal: w.signal }) });
    } finally {
      stopProgress();
    }
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
  return { call: new GovernedCall(o, d, d.writ, claims, state) };
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
  private readonly running: BeginOptions['running'];
  /** a registration still to be made (running.afterStart) */
  private registration: NodeJS.Immediate | null = null;
  private readonly recordRetryMs: number;
  private readonly endObservers: ((outcome: Outcome, recorded: Promise<number>) => void)[] = [];

  constructor(o: BeginOptions, decision: Decision, writ: string, claims: WritClaims, state: string) {
    this.node = o.node;
    this.ledger = o.ledger;
    this.decision = decision;
    this.writ = writ;
    this.claims = claims;
    this.started = performance.now();
    this.recordRetryMs = o.recordRetryMs ?? 120_000;
    const request = decision.approval ? { ...o.request, approval: decision.approval } : o.request;
    this.lease = new Lease(o.node, claims, { request, input: decision.input ?? null, approval: decision.approval ?? null, state }, o.lease ?? {});
    this.running = o.running;
    const running = o.running;
    if (running) {
      const row: RunningExecution = {
        jti: claims.jti,
        node: o.node.identity.nodeId,
        kind: running.kind,
        principal: claims.sub,
        action: claims.act.action,
        resource: claims.act.resource,
        writ,
        request: { principal: request.principal, action: request.action, resource: request.resource, args: request.args ?? {}, context: request.context ?? {} },
        started: new Date(o.node.clock.now()).toISOString(),
        maxRunSeconds: claims.cons?.maxRunSeconds ?? null,
        pid: process.pid,
      };
      if (running.afterStart) {
        this.registration = setImmediate(() => {
          this.registration = null;
          try {
            running.registry.register(row);
          } catch {
            // not registered: writ ps does not list it; the lease and the outcome do not depend on the row
          }
        });
      } else running.registry.register(row);
    }
  }

  get jti(): string {
    return this.claims.jti;
  }

  /** why the lease ended the call, or null */
  get terminated(): string | null {
    return this.lease.ended?.message ?? null;
  }

  /** the lease's termination: its reason code, and the re-decision and policy that ended it */
  get termination(): Termination | null {
    return this.lease.ended;
  }

  get ended(): boolean {
    return this.ending !== null;
  }

  /** `cb` runs once if the lease ends the call before it ends (at once, if it already has), with why. */
  onTerminate(cb: (reason: string, t: Termination) => void): void {
    this.lease.onTerminate((t) => cb(t.message, t));
  }

  /**
   * The call is over (its result is in), its outcome still to be recorded: from now on
   * nothing ends it any more — the lease stops watching at once, so a revocation that
   * arrives before end() cannot turn a result already delivered into `writ_revoked`.
   * For an enforcement point that answers first and records right after (the MCP proxy).
   */
  settle(): void {
    this.lease.release();
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
    const t = this.lease.ended;
    const revoked = t !== null && (o.status === 'ok' || o.status === 'failed');
    this.lease.release();
    this.unregister();
    const outcome: Outcome = {
      jti: this.claims.jti,
      node: this.node.identity.nodeId,
      exitCode: o.exitCode ?? null,
      signal: o.signal ?? null,
      durationMs: o.durationMs ?? performance.now() - this.started,
      status: revoked ? 'terminated' : o.status,
      reason: revoked ? t.code : (o.reason ?? (o.status === 'terminated' ? (t?.code ?? null) : null)),
      ...(o.isError !== undefined && { isError: o.isError }),
      ...(o.resultDigest !== undefined && { resultDigest: o.resultDigest }),
      ...(t !== null && (revoked || o.status === 'terminated') && { endedBy: { decisionId: t.decisionId, policy: t.policy } }),
    };
    const recorded = this.record(outcome);
    this.ending = recorded;
    for (const cb of this.endObservers) cb(outcome, recorded);
    return recorded;
  }

  /** `cb` learns the outcome when end() records it (once), and its append: for an outcome span (docs/telemetry.md). */
  onEnd(cb: (outcome: Outcome, recorded: Promise<number>) => void): void {
    this.endObservers.push(cb);
  }

  /** Records the outcome once it can: a failed append (the evidence stream unreachable) is retried for recordRetryMs. */
  private async record(outcome: Outcome): Promise<number> {
    const deadline = this.node.clock.now() + this.recordRetryMs;
    for (;;) {
      try {
        return await recordOutcome(this.ledger, outcome, this.node.now());
      } catch (err) {
        // a refusal (a second outcome, an unknown writ) is final; an unreachable ledger is not
        if ((err instanceof WritError && err.code !== 'ledger_append_failed') || this.node.clock.now() >= deadline) throw err;
        await sleep(this.node.clock, 500);
      }
    }
  }

  private unregister(): void {
    if (this.registration !== null) {
      clearImmediate(this.registration); // ended before it was registered: nothing to remove
      this.registration = null;
      return;
    }
    try {
      this.running?.registry.unregister(this.claims.jti);
    } catch {
      // the row goes when its process does (RunningRegistry.list prunes it)
    }
  }

  /**
   * Stops watching without recording anything: for a call that will have no outcome here
   * (cancelled before it was forwarded, or its session closed while it was in flight).
   */
  abandon(): void {
    this.lease.release();
    this.unregister();
  }
}

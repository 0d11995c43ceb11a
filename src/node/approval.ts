/**
 * Human approval. A permit policy annotated `@approval("required")` makes an allow
 * conditional: the first decision is recorded as a denial `approval_required` and
 * opens an approval request (id = that decision's id) bound to the exact request (its
 * `intent` is digests.ts approvalBinding: the call's intent and all but the time that shaped
 * the decision), the bundle digest and an expiry. `writ approve` / `writ reject` decide it
 * (recorded in the ledger). A request that then names the approval is allowed only if
 * the approval is approved, unexpired, unused and bound to the same intent and policy;
 * it is used once (see ApprovalUse for what "unused" is checked against).
 */
import { canonicalJson } from '../canonical/json.ts';
import { encodeLeaf, LEAF_VERSION, MAX_LEAF_BYTES } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { DenyError } from '../reasons.ts';
import { errorMessage } from '../util.ts';
import type { SingleUseStore } from './single-use.ts';
import type { ApprovalRecord, ApprovalStore } from './state.ts';
import { WritError } from '../writ/errors.ts';
import { pause, systemClock, type Clock } from '../clock.ts';
import { approvalRecordProblem } from './approval-record.ts';

export const DEFAULT_APPROVAL_TTL_MS = 120_000;

/**
 * The most of a call's canonical arguments an approval request keeps for the approver: the
 * ledger's leaf limit (the decision that asked already held them within it). Larger ones are
 * not kept at all: a truncated argument list could make a call look other than it is.
 */
export const MAX_APPROVAL_ARGS_CHARS = MAX_LEAF_BYTES;

/** The arguments an approval request shows its approver (ApprovalRecord.args). */
export function approvalArgs(args: unknown): string | null {
  if (args === undefined) return null;
  const text = canonicalJson(args);
  return text.length <= MAX_APPROVAL_ARGS_CHARS ? text : null;
}

/**
 * What an approval's single use is checked against. The state's `used` flag alone is a row
 * anyone with state.db can reset; each use therefore also leaves two records the flag
 * cannot undo: the allow decision naming the approval (the ledger, where it can be queried)
 * and a consumption of `approval:<id>` in the node's single-use store (its state's
 * consumed_jti; in a fleet also the fleet's consumed bucket, which no reset of this node's
 * files reaches).
 */
export interface ApprovalUse {
  state: ApprovalStore;
  ledger: Ledger;
  singleUse: SingleUseStore;
}

/** The single-use key of an approval: never a jti (those are UUIDs), so it cannot collide with a writ. */
export const approvalUseKey = (id: string): string => `approval:${id}`;

/** Resolves unless `id` is an approval that lets exactly this request through now; then it is used. Rejects with a DenyError. */
export async function checkApproval(
  use: ApprovalUse,
  id: string,
  want: Pick<ApprovalRecord, 'intent' | 'policyDigest' | 'principal' | 'action' | 'resource'>,
  now: Date,
): Promise<void> {
  const { state, ledger, singleUse } = use;
  const a = state.approval(id);
  if (!a) throw new DenyError('approval_invalid', `no approval request ${id}`);
  if (a.status === 'rejected') throw new DenyError('approval_rejected', `approval ${id} was rejected by ${a.decidedBy ?? 'an operator'}`);
  if (a.status === 'expired' || Date.parse(a.expires) <= now.getTime()) throw new DenyError('approval_expired', `approval ${id} expired at ${a.expires}`);
  if (a.status === 'pending') throw new DenyError('approval_required', `approval ${id} is still pending`);
  if (a.intent !== want.intent || a.principal !== want.principal || a.action !== want.action || a.resource !== want.resource) {
    throw new DenyError('approval_invalid', `approval ${id} was given for another call (principal, action, resource or arguments differ)`);
  }
  if (a.policyDigest !== want.policyDigest) throw new DenyError('approval_invalid', `approval ${id} was given under another policy bundle`);
  // The ledger is the truth the flag is derived from: an allow that names the approval means it was used.
  const earlier = ledger.approvalUse?.(id) ?? null;
  if (earlier !== null) {
    throw new DenyError('approval_invalid', `approval ${id} was already used by the allow at ledger entry ${earlier}${a.used ? '' : " (the node's state says unused: state.db was edited)"}`);
  }
  if (!state.useApproval(id)) throw new DenyError('approval_invalid', `approval ${id} was already used`);
  // After the flag (a failure below leaves it spent: the safe side).
  let first: boolean;
  try {
    first = await singleUse.consume(approvalUseKey(id), Math.ceil(Date.parse(a.expires) / 1000));
  } catch (err) {
    throw new DenyError('approval_invalid', `approval ${id} cannot be proven unused: ${errorMessage(err)}`);
  }
  if (!first) throw new DenyError('approval_invalid', `approval ${id} was already used (its use is recorded in the single-use store, though the node's state said unused: state.db was edited)`);
}

/** Why approval request `a` does not show what its decision recorded, or null (approval-record.ts). */
export function recordProblem(ledger: Ledger, a: ApprovalRecord): string | null {
  return approvalRecordProblem(ledger, a, MAX_APPROVAL_ARGS_CHARS);
}

export class ApprovalStateError extends WritError {
  override name = 'ApprovalStateError';
  constructor(message: string, options?: ErrorOptions) {
    super('approval_state_invalid', message, options);
  }
}

/** Decisions on one request in this process, one after the other (see decideApproval). */
const deciding = new Map<string, Promise<unknown>>();

/**
 * Approve, reject or expire a pending request: evidence first, then state. Two decisions
 * on one request (the console's and a timeout, say) take turns, so the second finds it
 * decided and records nothing; across processes the state's compare-and-set still picks
 * one, and the audit accepts a state that matches any recorded decision.
 */
export async function decideApproval(
  ledger: Ledger,
  state: ApprovalStore,
  id: string,
  status: 'approved' | 'rejected' | 'expired',
  by: string,
  now = new Date(systemClock.now()),
): Promise<ApprovalRecord> {
  const before = deciding.get(id) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(() => decideNow(ledger, state, id, status, by, now));
  deciding.set(id, mine);
  try {
    return await mine;
  } finally {
    if (deciding.get(id) === mine) deciding.delete(id);
  }
}

async function decideNow(ledger: Ledger, state: ApprovalStore, id: string, status: 'approved' | 'rejected' | 'expired', by: string, now: Date): Promise<ApprovalRecord> {
  const a = state.approval(id);
  if (!a) throw new ApprovalStateError(`no approval request ${id}`);
  if (a.status !== 'pending') throw new ApprovalStateError(`approval ${id} is already ${a.status}`);
  if (status === 'approved' && Date.parse(a.expires) <= now.getTime()) throw new ApprovalStateError(`approval ${id} expired at ${a.expires}`);
  // what the approver was shown must be what was recorded (approval-record.ts); rejecting or expiring is always allowed
  const problem = status === 'approved' ? recordProblem(ledger, a) : null;
  if (problem !== null) throw new ApprovalStateError(`approval ${id} cannot be given: ${problem} (state.db was edited, or the ledger was)`);
  const leaf = encodeLeaf({
    type: 'approval',
    v: LEAF_VERSION,
    time: now.toISOString(),
    id,
    status,
    by,
    intent: a.intent,
    principal: a.principal,
    action: a.action,
    resource: a.resource,
    policyDigest: a.policyDigest,
    expires: a.expires,
  });
  await ledger.append({ type: 'approval', leaf, decisionId: null });
  if (!state.decideApproval(id, status, by, now)) throw new ApprovalStateError(`approval ${id} was decided concurrently`);
  return state.approval(id) as ApprovalRecord;
}

/**
 * Records as expired (by `expiry`, a ledger `approval` leaf) the pending requests whose
 * `expires` has passed, at most `limit` of them: nobody can approve them any more, so they
 * leave the pending list instead of waiting there for the prune a day later. A request
 * decided meanwhile (here or by another process) is skipped. Returns how many it expired.
 */
export async function expireOverdue(ledger: Ledger, state: ApprovalStore, now: Date, limit = 100): Promise<number> {
  let expired = 0;
  // pendingApprovals is ordered by expiry: the overdue come first
  for (const a of state.pendingApprovals()) {
    if (expired >= limit || Date.parse(a.expires) > now.getTime()) break;
    try {
      await decideApproval(ledger, state, a.id, 'expired', 'expiry', now);
      expired++;
    } catch (err) {
      if (!(err instanceof ApprovalStateError)) throw err;
    }
  }
  return expired;
}

/** Waits (bounded) for a pending approval to be decided; expires it on timeout. */
export async function awaitApproval(
  ledger: Ledger,
  state: ApprovalStore,
  id: string,
  o: {
    timeoutMs: number;
    pollMs?: number;
    signal?: AbortSignal;
    /** the wait's own bound and its polls (default: the system clock) */
    clock?: Clock;
    /** governance time, for the approval's own expiry (default: the clock's) */
    now?: () => Date;
  },
): Promise<ApprovalRecord['status']> {
  // the wait is bounded on the clock; whether the approval expired is governance time (the node's)
  const clock = o.clock ?? systemClock;
  const deadline = clock.now() + o.timeoutMs;
  const now = o.now ?? (() => new Date(clock.now()));
  for (;;) {
    const a = state.approval(id);
    if (!a) return 'expired';
    if (a.status !== 'pending') return a.status;
    if (clock.now() >= deadline || o.signal?.aborted || Date.parse(a.expires) <= now().getTime()) {
      await decideApproval(ledger, state, id, 'expired', o.signal?.aborted ? 'cancelled' : 'timeout', now()).catch(() => undefined);
      return state.approval(id)?.status ?? 'expired';
    }
    await pause(clock, o.pollMs ?? 100);
  }
}

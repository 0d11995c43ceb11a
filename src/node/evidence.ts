/** Evidence other than decisions: execution outcomes and revocations (docs/ledger-leaf.md). */
import { encodeLeaf, LEAF_VERSION } from '../ledger/leaf.ts';
import { DuplicateEntryError, type Ledger } from '../ledger/ledger.ts';
import type { RevocationKind, RevocationStore } from './state.ts';
import { WritError } from '../writ/errors.ts';
import { systemClock } from '../clock.ts';

export interface Outcome {
  jti: string;
  /** exit code of a process, or null when it ended by a signal or is not a process */
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  /** executions are ok/failed; `not_started` when a final check refused to start it */
  status: 'ok' | 'failed' | 'terminated' | 'not_started';
  /** why it was terminated or not started (a reason code), else null */
  reason: string | null;
  isError?: boolean;
  /** base64url SHA-256 of the result, when there is one */
  resultDigest?: string | null;
  node: string;
  /**
   * the caller that reported it after verifying the writ itself (POST /v1/outcome without an
   * outcomeToken); absent when the enforcement point that consumed the writ at this node did
   */
  reportedBy?: string;
  /** a terminated execution: the re-decision that ended it (its decision id) and the policy then in force */
  endedBy?: { decisionId: string | null; policy: { domain: string; version: number; digest: string } | null };
}

export class UnknownWritError extends WritError {
  override name = 'UnknownWritError';
  constructor(message: string, options?: ErrorOptions) {
    super('unknown_writ', message, options);
  }
}

/** An execution has one outcome: a second report for the same writ is refused. */
export class DuplicateOutcomeError extends WritError {
  override name = 'DuplicateOutcomeError';
  constructor(message: string, options?: ErrorOptions) {
    super('duplicate_outcome', message, options);
  }
}

export async function recordOutcome(ledger: Ledger, o: Outcome, now = new Date(systemClock.now())): Promise<number> {
  const writ = ledger.writ(o.jti);
  if (!writ) throw new UnknownWritError(`no writ ${o.jti} was issued by this ledger`);
  const leaf = encodeLeaf({
    type: 'outcome',
    v: LEAF_VERSION,
    time: now.toISOString(),
    jti: o.jti,
    decisionIndex: writ.decisionIndex,
    node: o.node,
    status: o.status,
    reason: o.reason,
    exitCode: o.exitCode,
    signal: o.signal,
    durationMs: Math.round(o.durationMs),
    isError: o.isError ?? o.status !== 'ok',
    resultDigest: o.resultDigest ?? null,
    ...(o.reportedBy !== undefined && { reportedBy: o.reportedBy }),
    ...(o.endedBy !== undefined && { endedBy: o.endedBy }),
  });
  try {
    return await ledger.append({ type: 'outcome', leaf, jti: o.jti, oncePerJti: true, deferrable: true });
  } catch (err) {
    if (err instanceof DuplicateEntryError) throw new DuplicateOutcomeError(`the outcome of writ ${o.jti} is already recorded`);
    throw err;
  }
}

export const REVOCATION_KINDS: readonly RevocationKind[] = ['writ', 'principal', 'node', 'bundle', 'quarantine'];

/** Evidence first, then the state every verifier consults. Idempotent. */
export async function revoke(
  ledger: Ledger,
  state: RevocationStore,
  r: { kind: RevocationKind; value: string; reason: string; by: string },
  now = new Date(systemClock.now()),
): Promise<{ ledgerIndex: number | null; created: boolean }> {
  if (state.isRevoked(r.kind, r.value)) return { ledgerIndex: null, created: false };
  const leaf = encodeLeaf({ type: 'revocation', v: LEAF_VERSION, time: now.toISOString(), kind: r.kind, value: r.value, reason: r.reason, by: r.by });
  const ledgerIndex = await ledger.append({ type: 'revocation', leaf, jti: r.kind === 'writ' ? r.value : null });
  const created = state.revoke(r.kind, r.value, r.reason);
  return { ledgerIndex, created };
}

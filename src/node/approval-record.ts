/**
 * Does an approval request show what its decision recorded? The approver reads the request
 * (principal, action, resource, arguments) from the node's state.db, a file anyone with the
 * home can edit, while the decision that asked for approval — its id is the request's id — is
 * in the ledger, whose tree `writ audit verify` checks. An edited row could show harmless
 * arguments for a harmful call: the approver would approve what they did not see. So a
 * request is approved only when it matches its record, and lists say when it does not.
 */
import { canonicalJson } from '../canonical/json.ts';
import { leafObject } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { isRecord } from '../util.ts';
import type { ApprovalRecord } from './state.ts';

/**
 * Why `a` is not what its decision recorded, or null when it is. A ledger that holds only part
 * of the log (a fleet node's stream mirror: no `approvalUse`) may not have the decision; that
 * is not a mismatch there, since the fleet's copy is checked by the authority's audit.
 * `maxArgsChars`: the most of a call's canonical arguments a request keeps (approval.ts).
 */
export function approvalRecordProblem(ledger: Ledger, a: ApprovalRecord, maxArgsChars: number): string | null {
  const e = ledger.findByDecisionId(a.id);
  if (!e) return ledger.approvalUse ? `no decision ${a.id} in the ledger asked for this approval` : null;
  const leaf = leafObject(e.leaf);
  const request = isRecord(leaf.request) ? leaf.request : {};
  const result = isRecord(leaf.result) ? leaf.result : {};
  const at = `the decision recorded at ledger entry ${e.index}`;
  if (!Array.isArray(result.reasons) || !result.reasons.includes('approval_required')) return `${at} did not ask for approval`;
  for (const k of ['principal', 'action', 'resource'] as const) {
    if (request[k] !== a[k]) return `its ${k} ${a[k]} is not ${at}'s ${JSON.stringify(request[k])}`;
  }
  let recorded: string | null;
  try {
    recorded = canonicalJson(request.args ?? {});
  } catch {
    recorded = null;
  }
  if (a.args !== null) return a.args === recorded ? null : `the arguments it shows are not ${at}'s`;
  // none shown: only right when there were none, or too many to keep
  if (recorded === null || recorded === '{}' || recorded.length > maxArgsChars) return null;
  return `it shows no arguments, but ${at} has some`;
}

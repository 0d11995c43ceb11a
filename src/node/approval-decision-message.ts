/**
 * Approval decisions made at the fleet authority's console (docs/fleet.md), verifying
 * side: a compact JWS by an authority key, `typ: writ-approval+jwt`, naming the node that
 * holds the request, the request id, the intent digest the admin was shown, and the
 * decision. The node applies it only if it verifies against its pinned authority keys,
 * names this node, and the request is still pending with that very intent; the decision
 * is then recorded in the ledger like any other (`by` = `authority-console`).
 */
import type { JWK } from 'jose';
import { verifyByAuthority } from './authority-message.ts';

export const APPROVAL_DECISION_TYP = 'writ-approval+jwt';

export interface ApprovalDecisionClaims {
  v: 1;
  node: string;
  id: string;
  intent: string;
  decision: 'approved' | 'rejected';
  iat: number;
}

export async function verifyApprovalDecision(jws: string, keys: JWK[]): Promise<ApprovalDecisionClaims> {
  return verifyByAuthority(jws, APPROVAL_DECISION_TYP, keys, 'approval decision', (c) => {
    if (c.v !== 1 || typeof c.node !== 'string' || typeof c.id !== 'string' || typeof c.intent !== 'string' || (c.decision !== 'approved' && c.decision !== 'rejected')) {
      throw new Error('approval decision claims are malformed');
    }
    return c as unknown as ApprovalDecisionClaims;
  });
}

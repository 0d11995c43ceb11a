/** Approval decisions signed at the authority's console (docs/fleet.md; verifying: node/approval-decision-message.ts). */
import type { CryptoKey } from 'jose';
import { APPROVAL_DECISION_TYP, type ApprovalDecisionClaims } from '../node/approval-decision-message.ts';
import { signByAuthority } from './signed.ts';

export async function signApprovalDecision(d: Omit<ApprovalDecisionClaims, 'v' | 'iat'>, key: { kid: string; key: CryptoKey }, now?: number): Promise<string> {
  return signByAuthority({ v: 1, ...d }, APPROVAL_DECISION_TYP, key, now);
}

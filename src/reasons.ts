/**
 * Every reason code Writ can give, in one place (docs/reason-codes.md). Stable:
 * codes are recorded in the ledger and matched by operators, so they are only ever
 * added, never renamed. A decision carries one or more of them.
 */
import { WRIT_REASONS } from './writ/reasons.ts';
import { WritError } from './writ/errors.ts';

export const ALLOW_REASONS = ['policy_permit'] as const;

export const BUNDLE_REASONS = [
  'bundle_malformed',
  'bundle_signature_invalid',
  'bundle_unknown_key',
  'bundle_threshold_not_met',
  'bundle_expired',
  'bundle_file_mismatch',
  'bundle_rollback',
  'bundle_domain_mismatch',
  'bundle_policy_invalid',
  'bundle_revoked',
  'ledger_append_failed', // the activation could not be recorded: the previous bundle stays active
] as const;

export const DENY_REASONS = [
  // policy
  'no_permit', // default deny: no permit policy applied
  'policy_forbid', // a forbid policy applied (forbid overrides permit)
  'policy_evaluation_error', // any policy errored while evaluating: fail closed
  'budget_exceeded', // a forbid annotated @budget("<counter>") applied: a usage counter is at its limit (docs/budgets.md)
  'usage_unavailable', // a usage counter the request touches could not be established: fail closed
  'schema_violation', // unknown principal/action/resource type or context shape under the schema
  'request_invalid', // the request itself is malformed
  // node state
  'no_active_bundle',
  'bundle_expired',
  'stale_policy', // no unexpired beacon, or active bundle differs from it
  'behind_min_version',
  'bundle_rollback', // the state's active bundle is not the one at its anti-rollback floor (state.db rolled back or edited)
  // identity and revocation
  'principal_quarantined',
  'principal_revoked',
  'bundle_revoked',
  'node_revoked',
  // lineage
  'parent_invalid',
  'parent_revoked',
  'parent_principal_mismatch',
  'child_wider_than_parent',
  'lineage_too_deep',
  // attestation
  'attestation_mismatch',
  // human approval (a permit annotated @approval("required"))
  'approval_required',
  'approval_rejected',
  'approval_expired',
  'approval_invalid',
  // callers of the HTTP API (docs/http-api.md, "Callers and credentials")
  'caller_unauthenticated', // no valid caller token (401)
  'caller_not_permitted', // the caller's token lacks the role, or may not assert this principal (403)
  // the HTTP gate (forward-auth, ext_authz; docs/http-gateway.md)
  'http_credential_missing', // the request carries no credential the gate accepts (401)
  'http_credential_invalid', // its bearer JWT or API key does not verify (401)
  'http_route_unknown', // no configured route covers the method, host and path (403)
  'http_path_ambiguous', // a dot segment or an encoded slash: the path could mean another route (403)
  // the principal entity an in-process enforcement point supplies (JWT claims, Kubernetes groups)
  'principal_entity_invalid', // not a bounded set of Cedar-valued attributes and entity-UID parents
  'principal_entity_conflict', // the bundle's entities define the principal: a request may not redefine it
  // MCP definition pinning (writ mcp; docs/mcp.md, "Tool-definition pinning")
  'tool_definition_changed', // the server changed a pinned tool/prompt definition (or listed two under one name): hidden, its calls denied
  'tool_definition_unknown', // no pinned definition for the call: the bundle pins this server, and the name was not listed matching a pin
  // evidence and internals
  'ledger_append_failed',
  'internal_error',
] as const;

/** Why a running execution's lease ended it, beside a revocation (writ_revoked), lost freshness (stale_policy) and a re-decision's deny code (outcome leaves). */
export const OUTCOME_REASONS = ['max_run_exceeded'] as const;

export type AllowReason = (typeof ALLOW_REASONS)[number];
export type BundleReason = (typeof BUNDLE_REASONS)[number];
export type DenyReason = (typeof DENY_REASONS)[number];
export type ReasonCode = AllowReason | DenyReason | BundleReason | (typeof WRIT_REASONS)[number] | (typeof OUTCOME_REASONS)[number];

export const ALL_REASONS: readonly ReasonCode[] = [
  ...new Set<ReasonCode>([...ALLOW_REASONS, ...DENY_REASONS, ...BUNDLE_REASONS, ...WRIT_REASONS, ...OUTCOME_REASONS]),
];

/** An error on the decision path that must end in deny with this reason. */
export class DenyError extends WritError {
  override readonly code: DenyReason;
  constructor(code: DenyReason, message: string) {
    super(code, message);
    this.name = 'DenyError';
    this.code = code;
  }
}

/** A bundle was refused; the active bundle is unchanged. */
export class BundleError extends WritError {
  override readonly code: BundleReason;
  constructor(code: BundleReason, message: string) {
    super(code, message);
    this.name = 'BundleError';
    this.code = code;
  }
}

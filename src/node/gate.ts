/**
 * The node's gate: every check that can deny before Cedar runs, one function per check, in
 * the order `GovernanceNode.decide` applies them (docs/reason-codes.md has each code):
 *
 *   1. requestShape     the UIDs parse; args have an RFC 8785 form and are I-JSON exact;
 *                       an audience names the resource itself                (request_invalid)
 *   2. bundleInForce    the active bundle has not expired; the node can prove it current
 *                                                                  (bundle_expired, stale_policy)
 *   3. notRevoked       the bundle version, this node, the principal (quarantined, revoked)
 *                          (bundle_revoked, node_revoked, principal_quarantined, principal_revoked)
 *   4. lineage          the parent writ (lineage-gate.ts: parent_*, lineage_too_deep)
 *   5. attestation      a binary digest, when given, is sha256:<64 hex>       (attestation_mismatch)
 *
 * Each throws a DenyError with its reason code; none has a side effect, so a denial here is
 * recorded as such and never replayed (only Cedar's evaluation is).
 */
import { parseUid, uidText, type EntityUid } from '../canonical/uid.ts';
import { canonicalJson } from '../canonical/json.ts';
import { DenyError } from '../reasons.ts';
import { errorMessage } from '../util.ts';
import { isIdentityToken } from '../writ/claims.ts';
import { ijsonViolation } from '../writ/i-json.ts';
import type { ActiveBundle, PolicyRef } from './active-policy.ts';
import type { FreshnessCheck } from './freshness.ts';
import { requestUid } from './request.ts';
import type { RevocationView } from './state.ts';
import type { AuthorizeRequest } from './types.ts';

/** 1. The request is well-formed and exactly representable in the evidence. */
export function requestShape(req: AuthorizeRequest): { principal: EntityUid; action: EntityUid; resource: EntityUid } {
  const principal = requestUid(req.principal, 'principal');
  const action = requestUid(req.action, 'action');
  const resource = requestUid(req.resource, 'resource');
  // Arguments the evidence cannot hold exactly (1e400, a lone surrogate) are refused
  // before anything is evaluated: no decision may depend on what was not recorded.
  try {
    canonicalJson(req.args ?? {});
  } catch (err) {
    throw new DenyError('request_invalid', `args cannot be represented as RFC 8785 JSON: ${errorMessage(err)}`);
  }
  // Nor numbers it may hold rounded (|n| > 2^53−1): the boundaries read the text (docs/json.md); this is the last line.
  const inexact = ijsonViolation({ args: req.args ?? {}, context: req.context ?? {} });
  if (inexact !== null) throw new DenyError('request_invalid', inexact);
  // The audience is the enforcement point. One that names another resource would let a
  // writ decided for this resource pass at that one's enforcement point.
  const audienceUid = req.audience === undefined ? null : parseUid(req.audience);
  if (audienceUid && uidText(audienceUid) !== uidText(resource)) {
    throw new DenyError('request_invalid', `audience ${req.audience} names another resource than ${uidText(resource)}`);
  }
  // what an enforcement point says a verified JWT carried becomes the writ's idt: it must fit the claim's shape
  if (req.identityToken !== undefined && !isIdentityToken(req.identityToken)) throw new DenyError('request_invalid', 'identityToken must be exactly {iss, sub}, non-empty strings');
  return { principal, action, resource };
}

/** 2. The active bundle is in force now, and (fleet) provably the current one. */
export function bundleInForce(active: ActiveBundle, policy: PolicyRef, freshness: FreshnessCheck | null | undefined, now: Date): void {
  if (Date.parse(active.bundle.manifest.expires) <= now.getTime()) {
    throw new DenyError('bundle_expired', `active bundle version ${policy.version} expired at ${active.bundle.manifest.expires}`);
  }
  const stale = freshness?.stale(policy, now) ?? null;
  if (stale !== null) throw new DenyError('stale_policy', stale);
}

/** 3. Nothing the request stands on is revoked: the bundle, this node, the principal. */
export function notRevoked(revoked: RevocationView, policy: PolicyRef, nodeId: string, principal: string): void {
  if (revoked.has('bundle', String(policy.version))) throw new DenyError('bundle_revoked', `bundle version ${policy.version} is revoked`);
  if (revoked.has('node', nodeId)) throw new DenyError('node_revoked', `node ${nodeId} is isolated`);
  if (revoked.has('quarantine', principal)) throw new DenyError('principal_quarantined', `${principal} is quarantined`);
  if (revoked.has('principal', principal)) throw new DenyError('principal_revoked', `${principal} is revoked`);
}

/** 5. An attested binary digest is well-formed (the enforcement point re-checks the binary itself). */
export function attestation(a: AuthorizeRequest['attestation']): { binaryDigest?: string } {
  const att = a ?? {};
  if (att.binaryDigest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(att.binaryDigest)) {
    throw new DenyError('attestation_mismatch', 'attestation.binaryDigest must be sha256:<64 hex>');
  }
  return att;
}

/**
 * Reason codes for writ verification. Stable: they appear in logs, ledger leaves,
 * HTTP bodies and exit messages, so a code is never renamed, only added.
 * Kept in `writ/` so that `writ/verify` depends on nothing but `jose` and JCS.
 */
import { WritError } from './errors.ts';

export const WRIT_REASONS = [
  'writ_malformed', // not a compact JWS, bad base64url, bad JSON, missing or ill-typed claims
  'writ_algorithm_rejected', // header alg is not Ed25519 (alg:none, HS256, ...)
  'writ_typ_invalid', // header typ is not writ+jwt
  'writ_unknown_key', // kid not among the pinned keys
  'writ_signature_invalid',
  'writ_audience_mismatch',
  'writ_expired',
  'writ_not_yet_valid',
  'writ_lifetime_exceeded', // exp - nbf longer than the verifier accepts
  'writ_intent_mismatch', // arguments (or action/resource) differ from those authorized
  'writ_replayed', // jti already consumed
  'writ_revoked',
  'writ_domain_mismatch', // issued under another enforcement domain's policy, which this verifier does not accept
  'stale_policy', // the verifier cannot prove its own state (beacon, revocation list) is current: it vouches for nothing
  'single_use_unavailable', // the single-use store (fleet-wide) did not answer: the writ cannot be proven unused
  'verifier_config_invalid', // the verifier's own options are unusable (NaN time, negative skew): refuse rather than skip a check
] as const;

export type WritReason = (typeof WRIT_REASONS)[number];

/** A writ failed verification. `code` is the stable reason; `message` is for people. */
export class WritVerificationError extends WritError {
  override readonly code: WritReason;
  constructor(code: WritReason, message: string) {
    super(code, message);
    this.name = 'WritVerificationError';
    this.code = code;
  }
}

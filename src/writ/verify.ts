/**
 * verifyWrit — the one check every enforcement point runs before executing.
 *
 * Standalone on purpose: it imports nothing but `jose` and a JCS implementation,
 * so it runs in executors and browsers. Order of checks (first failure wins):
 *   0. the verifier's own state is current (`stale`; an expired or missing `revocationList`),
 *      else it vouches for nothing
 *   1. shape: three base64url parts, JSON header and payload
 *   2. header: alg is Ed25519 (pinned here, never taken from the header), typ writ+jwt
 *   3. key: kid among the pinned keys; a key pinned with `writ:node` / `writ:domain` (as
 *      node certificates bind it) signs only writs whose iss / pol.domain say the same
 *   4. signature
 *   5. claims: structure, aud, nbf/exp with a small skew, lifetime cap
 *   6. binding: action/resource as expected, intent recomputed from the actual args
 *   7. not revoked (by `isRevoked`, and by `revocationList` when given)
 *   8. single use: jti consumed (unless the caller explicitly opts out)
 */
import { base64url, type JSONWebKeySet } from 'jose';
import { claimsProblem, WRIT_ALG, WRIT_TYP, type WritClaims } from './claims.ts';
import { intentDigest } from './intent.ts';
import { WritVerificationError } from './reasons.ts';
import { revocationListStaleness, revokedBy, type RevocationList } from './revocation-list.ts';
import { pinnedKey, verifiedPayload } from './typed-jws.ts';

export { WritVerificationError } from './reasons.ts';
export { WritError } from './errors.ts';
export { verifyRevocationList, revokedBy, revocationListEtag, REVOCATION_LIST_TYP, REVOCATION_LIST_FORMAT } from './revocation-list.ts';
export type { RevocationList, RevocationListClaims, VerifyRevocationListOptions } from './revocation-list.ts';
export { RevocationListHolder, RevocationListPoller, type RevocationListPollerOptions } from './revocation-poller.ts';
export { reportOutcome, type OutcomeReport } from './report-outcome.ts';

/** JWK members that bind a pinned key to the node (and domain) its certificate names. */
export const KEY_NODE = 'writ:node';
export const KEY_DOMAIN = 'writ:domain';
export type { WritReason } from './reasons.ts';
export { WRIT_REASONS } from './reasons.ts';
export type { WritClaims } from './claims.ts';
export { intentDigest, canonicalJson } from './intent.ts';

/** Records a jti as used; returns false if it was used before. */
export type ConsumeJti = (jti: string, exp: number) => boolean | Promise<boolean>;
/** Returns a reason text if the writ is revoked (writ, principal, node, bundle), else null. */
export type RevocationCheck = (claims: WritClaims) => string | null | Promise<string | null>;

export interface VerifyWritOptions {
  /** pinned public keys (a JWKS); each key needs kid, kty OKP, crv Ed25519 */
  keys: JSONWebKeySet;
  /** this enforcement point's audience; the writ's aud must equal it */
  audience: string;
  /** the arguments actually about to be used; intent is recomputed from them */
  args: unknown;
  /** single-use store, or `false` to inspect without consuming (never before executing) */
  consume: ConsumeJti | false;
  /** with `consume: false`: reports whether the jti was already used, so a spent writ is never called valid */
  isConsumed?: (jti: string) => boolean | Promise<boolean>;
  isRevoked?: RevocationCheck;
  /**
   * A signed revocation list (verifyRevocationList), or where to get the current one (a
   * RevocationListPoller's `current`): an executor without a node checks revocations with it.
   * When the option is given, a missing or expired list is stale_policy: never "not revoked".
   */
  revocationList?: RevocationList | null | (() => RevocationList | null);
  /**
   * Why the verifier cannot prove its own state current (e.g. a fleet node whose beacon
   * expired: its revocation list may be missing a revocation), or null. Non-null: stale_policy.
   */
  stale?: () => string | null | Promise<string | null>;
  /** when given, a writ issued under this domain's policy (claims.pol.domain) is accepted only if it returns true */
  acceptDomain?: (domain: string) => boolean;
  /** when given, the writ's act must name exactly this action / resource */
  expect?: { action?: string; resource?: string; principal?: string };
  /** allowed clock skew in seconds (default 5) */
  clockToleranceSeconds?: number;
  /** longest exp - nbf accepted, in seconds (default 600) */
  maxLifetimeSeconds?: number;
  /** current time (default: now) */
  now?: Date;
}

export interface VerifiedWrit {
  claims: WritClaims;
  kid: string;
}

function finite(v: number, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new WritVerificationError('verifier_config_invalid', `${what} must be a finite number >= ${min}, got ${String(v)}`);
  }
  return v;
}

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url.decode(part)));
  } catch {
    throw new WritVerificationError('writ_malformed', `writ ${what} is not base64url JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WritVerificationError('writ_malformed', `writ ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export type AuthenticityOptions = Pick<VerifyWritOptions, 'keys' | 'clockToleranceSeconds' | 'maxLifetimeSeconds' | 'now'>;

/**
 * Steps 1–5 without the audience: the writ is well-formed, signed by a pinned key and
 * inside its time window. Enough to trust its claims (e.g. a parent writ in lineage),
 * never enough to execute on — use verifyWrit for that.
 */
export async function verifyWritAuthenticity(writ: unknown, options: AuthenticityOptions): Promise<VerifiedWrit> {
  if (typeof writ !== 'string' || writ.length > 16384) {
    throw new WritVerificationError('writ_malformed', 'writ must be a compact JWS string of at most 16 KiB');
  }
  const parts = writ.trim().split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[0] || !parts[2]) {
    throw new WritVerificationError('writ_malformed', 'writ is not a compact JWS (three base64url parts)');
  }
  const header = decodeJsonPart(parts[0], 'header');
  if (header.alg !== WRIT_ALG) {
    throw new WritVerificationError('writ_algorithm_rejected', `algorithm ${JSON.stringify(header.alg)} is not accepted; only ${WRIT_ALG}`);
  }
  if (header.typ !== WRIT_TYP) {
    throw new WritVerificationError('writ_typ_invalid', `typ ${JSON.stringify(header.typ)} is not ${WRIT_TYP}`);
  }
  if (typeof header.kid !== 'string') throw new WritVerificationError('writ_unknown_key', 'writ header has no kid');
  const key = pinnedKey(options.keys.keys, header.kid);
  if (!key) throw new WritVerificationError('writ_unknown_key', `key ${header.kid} is not pinned`);

  let payloadBytes: Uint8Array;
  try {
    payloadBytes = await verifiedPayload(parts, header, key);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new WritVerificationError('writ_signature_invalid', `signature does not verify: ${reason}`);
  }
  const payload = decodeJsonPart(base64url.encode(payloadBytes), 'payload');
  const problem = claimsProblem(payload);
  if (problem) throw new WritVerificationError('writ_malformed', problem);
  const claims = payload as unknown as WritClaims;
  const skew = finite(options.clockToleranceSeconds ?? 5, 'clockToleranceSeconds', 0);
  // eslint-disable-next-line no-restricted-syntax -- writ/ is the standalone library: `now` defaults to the current time, as jose's currentDate does
  const now = Math.floor(finite((options.now ?? new Date()).getTime(), 'now', 0) / 1000);
  if (claims.nbf > now + skew) throw new WritVerificationError('writ_not_yet_valid', `writ is valid from ${claims.nbf}, now is ${now}`);
  if (claims.exp <= now - skew) throw new WritVerificationError('writ_expired', `writ expired at ${claims.exp}, now is ${now}`);
  // A key bound to a node (and a domain) speaks only for that node: otherwise one node's key
  // could issue writs in another's name, and isolating a node by its id would not stop it.
  const pinned = options.keys.keys.find((k) => k.kid === header.kid) as Record<string, unknown> | undefined;
  const owner = pinned?.[KEY_NODE];
  const domain = pinned?.[KEY_DOMAIN];
  if (typeof owner === 'string' && claims.iss !== owner) {
    throw new WritVerificationError('writ_unknown_key', `key ${header.kid} belongs to node ${owner}, not to the writ's issuer ${claims.iss}`);
  }
  if (typeof domain === 'string' && claims.pol.domain !== domain) {
    throw new WritVerificationError('writ_unknown_key', `key ${header.kid} is certified for domain ${domain}, not ${claims.pol.domain}`);
  }
  const maxLifetime = finite(options.maxLifetimeSeconds ?? 600, 'maxLifetimeSeconds', 1);
  if (claims.exp - claims.nbf > maxLifetime || claims.exp < claims.nbf) {
    throw new WritVerificationError('writ_lifetime_exceeded', `writ lifetime ${claims.exp - claims.nbf}s exceeds ${maxLifetime}s`);
  }
  return { claims, kid: header.kid };
}

export async function verifyWrit(writ: unknown, options: VerifyWritOptions): Promise<VerifiedWrit> {
  const stale = options.stale ? await options.stale() : null;
  if (stale !== null) throw new WritVerificationError('stale_policy', `this verifier cannot prove its state is current: ${stale}`);
  const given = options.revocationList;
  const list = given === undefined ? undefined : typeof given === 'function' ? given() : given;
  if (list === null) throw new WritVerificationError('stale_policy', 'this verifier holds no revocation list: it cannot know what is revoked');
  const listStale = list ? revocationListStaleness(list, options.now, options.clockToleranceSeconds ?? 5) : null;
  if (listStale !== null) throw new WritVerificationError('stale_policy', `this verifier cannot prove its state is current: ${listStale}`);
  const verified = await verifyWritAuthenticity(writ, options);
  const { claims } = verified;
  if (claims.aud !== options.audience) {
    throw new WritVerificationError('writ_audience_mismatch', `writ is for ${JSON.stringify(claims.aud)}, not ${JSON.stringify(options.audience)}`);
  }

  const expect = options.expect ?? {};
  if (expect.action !== undefined && claims.act.action !== expect.action) {
    throw new WritVerificationError('writ_intent_mismatch', `writ authorizes action ${claims.act.action}, not ${expect.action}`);
  }
  if (expect.resource !== undefined && claims.act.resource !== expect.resource) {
    throw new WritVerificationError('writ_intent_mismatch', `writ authorizes resource ${claims.act.resource}, not ${expect.resource}`);
  }
  if (expect.principal !== undefined && claims.sub !== expect.principal) {
    throw new WritVerificationError('writ_intent_mismatch', `writ is for principal ${claims.sub}, not ${expect.principal}`);
  }
  let intent: string;
  try {
    intent = await intentDigest({ principal: claims.sub, action: claims.act.action, resource: claims.act.resource, args: options.args });
  } catch {
    throw new WritVerificationError('writ_intent_mismatch', 'arguments have no canonical JSON form');
  }
  if (intent !== claims.intent) {
    throw new WritVerificationError('writ_intent_mismatch', 'arguments differ from the ones the writ authorizes');
  }

  if (options.acceptDomain && !options.acceptDomain(claims.pol.domain)) {
    throw new WritVerificationError('writ_domain_mismatch', `writ was issued under the policy of domain ${claims.pol.domain}, which this enforcement point does not accept`);
  }
  if (options.isRevoked) {
    const revoked = await options.isRevoked(claims);
    if (revoked !== null) throw new WritVerificationError('writ_revoked', revoked);
  }
  const listed = list ? revokedBy(list, claims) : null;
  if (listed !== null) throw new WritVerificationError('writ_revoked', listed);
  const fresh = options.consume !== false ? await options.consume(claims.jti, claims.exp) : !(await options.isConsumed?.(claims.jti));
  if (!fresh) throw new WritVerificationError('writ_replayed', `writ ${claims.jti} was already used`);
  return verified;
}

/** A process-local single-use store, for executors without persistence of their own. */
export function memoryJtiStore(): ConsumeJti {
  const seen = new Map<string, number>();
  let prunedAt = 0;
  return (jti, exp) => {
    // eslint-disable-next-line no-restricted-syntax -- a process-local store of the standalone library, for executors without a clock of their own: pruning by the process's time
    const nowSec = Math.floor(Date.now() / 1000);
    // past exp plus any sane clock tolerance a writ fails its time window first, so its jti
    // can go; the scan runs at most once a second, not on every call once the map is large
    if (seen.size > 100_000 && nowSec !== prunedAt) {
      prunedAt = nowSec;
      for (const [k, e] of seen) if (e < nowSec - 60) seen.delete(k);
    }
    if (seen.has(jti)) return false;
    seen.set(jti, exp);
    return true;
  };
}

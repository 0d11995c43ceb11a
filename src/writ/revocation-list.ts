/**
 * The signed revocation list, format `writ.revocations/1` (docs/revocation-list.md): what an
 * executor that verifies writs on its own (`writ/verify`, no node at hand) checks revocations
 * against.
 *
 * A list is a compact JWS, `alg: Ed25519`, `typ: writ-revocations+jwt` (so a list never
 * passes as a writ, nor a writ as a list), signed by whoever owns revocations: an embedded
 * node with its writ key, a fleet's authority with an authority key. Its payload:
 *
 *   v        1
 *   iss      the signer: a node id, or `authority:<fleet>`
 *   seq      the list's version: the highest revocation sequence it contains; never goes down
 *   iat/exp  when it was signed, and when it stops vouching (a short time: a verifier holding
 *            only an expired list cannot know what was revoked since, and refuses: stale_policy)
 *   entries  [{kind, value}]: kind writ (a jti), principal, quarantine, node, bundle (a version)
 *
 * The list's ETag is embedded: `"rl-<seq>-<iat>"`, computed from the payload, so a poller that
 * holds a list can ask `If-None-Match` without remembering a response header.
 *
 * Standalone like verify.ts: it imports `jose` only.
 */
import type { JSONWebKeySet } from 'jose';
import type { WritClaims } from './claims.ts';
import { WritVerificationError } from './reasons.ts';
import { verifyTyped, type TypedJwsStep } from './typed-jws.ts';

export const REVOCATION_LIST_TYP = 'writ-revocations+jwt';
export const REVOCATION_LIST_FORMAT = 'writ.revocations/1';
/** longest exp - iat a verifier accepts: a list that claims to vouch for longer is refused */
export const MAX_REVOCATION_LIST_LIFETIME_SECONDS = 3600;

export type RevokedKind = 'writ' | 'principal' | 'quarantine' | 'node' | 'bundle';
const KINDS: readonly RevokedKind[] = ['writ', 'principal', 'quarantine', 'node', 'bundle'];

export interface RevocationListClaims {
  v: 1;
  iss: string;
  seq: number;
  iat: number;
  exp: number;
  entries: { kind: RevokedKind; value: string }[];
}

/** A list whose signature, shape and time window were checked; `has` answers in O(1). */
export interface RevocationList {
  claims: RevocationListClaims;
  /** the compact JWS it was read from, to pass on or store as is */
  jws: string;
  etag: string;
  has(kind: RevokedKind, value: string): boolean;
}

export function revocationListEtag(c: Pick<RevocationListClaims, 'seq' | 'iat'>): string {
  return `"rl-${c.seq}-${c.iat}"`;
}

function fail(message: string): never {
  throw new WritVerificationError('stale_policy', `revocation list: ${message}`);
}

const PROBLEMS: Record<TypedJwsStep, (header: Readonly<Record<string, unknown>> | null) => string> = {
  shape: () => 'not a compact JWS',
  header: () => 'header is not base64url JSON',
  alg: () => `alg must be Ed25519 and typ ${REVOCATION_LIST_TYP}`,
  typ: () => `alg must be Ed25519 and typ ${REVOCATION_LIST_TYP}`,
  kid: (h) => `signed by key ${String(h?.kid)}, which is not pinned`,
  signature: () => 'signature does not verify',
  payload: () => 'payload is not a JSON object',
};

function claimsOf(c: Record<string, unknown>): RevocationListClaims {
  const int = (k: string) => typeof c[k] === 'number' && Number.isSafeInteger(c[k]) && (c[k] as number) >= 0;
  if (c.v !== 1) fail(`format version ${JSON.stringify(c.v)} is not 1`);
  if (typeof c.iss !== 'string' || c.iss === '') fail('iss is missing');
  if (!int('seq') || !int('iat') || !int('exp')) fail('seq, iat and exp must be non-negative integers');
  if (!Array.isArray(c.entries)) fail('entries is not an array');
  for (const e of c.entries as unknown[]) {
    const r = e as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null || !KINDS.includes(r.kind as RevokedKind) || typeof r.value !== 'string') fail('an entry is not {kind, value}');
  }
  return c as unknown as RevocationListClaims;
}

export interface VerifyRevocationListOptions {
  /** the signer's pinned keys: the node's JWKS (embedded) or the authority's (fleet) */
  keys: JSONWebKeySet;
  /** when given, the list's iss must be exactly this */
  issuer?: string;
  now?: Date;
  /** allowed clock skew in seconds (default 5) */
  clockToleranceSeconds?: number;
}

/**
 * Checks a list's signature, shape and time window. Every failure is `stale_policy`: a
 * verifier without a good list cannot prove what is revoked now, so it vouches for nothing.
 */
export async function verifyRevocationList(jws: string, o: VerifyRevocationListOptions): Promise<RevocationList> {
  // not a string: '' fails verifyTyped's shape step like any other non-JWS
  const trimmed = typeof jws === 'string' ? jws.trim() : '';
  const claims = await verifyTyped(trimmed, {
    typ: REVOCATION_LIST_TYP,
    keys: o.keys.keys,
    ...(o.now !== undefined && { now: o.now }),
    fail: (step, header) => fail(PROBLEMS[step](header)),
    validate: (payload, { jwk, kid, now: at }) => {
      const c = claimsOf(payload);
      // a key bound to a node (node certificates) speaks only for that node
      const owner = (jwk as Record<string, unknown>)['writ:node'];
      if (typeof owner === 'string' && c.iss !== owner) fail(`key ${kid} belongs to node ${owner}, not to ${c.iss}`);
      if (o.issuer !== undefined && c.iss !== o.issuer) fail(`issued by ${c.iss}, not ${o.issuer}`);
      const skew = o.clockToleranceSeconds ?? 5;
      const now = Math.floor(at.getTime() / 1000);
      if (c.exp - c.iat > MAX_REVOCATION_LIST_LIFETIME_SECONDS || c.exp < c.iat) fail(`lifetime ${c.exp - c.iat}s exceeds ${MAX_REVOCATION_LIST_LIFETIME_SECONDS}s`);
      if (c.iat > now + skew) fail(`signed in the future (iat ${c.iat}, now ${now})`);
      if (c.exp <= now - skew) fail(`expired at ${c.exp}, now is ${now}`);
      return c;
    },
  });
  const set = new Set(claims.entries.map((e) => `${e.kind}\u0000${e.value}`));
  return { claims, jws: trimmed, etag: revocationListEtag(claims), has: (kind, value) => set.has(`${kind}\u0000${value}`) };
}

/** What is revoked: a signed list here, a node's revocation state there. */
export interface RevokedSet {
  has(kind: RevokedKind, value: string): boolean;
}

/**
 * The revocation rules, one place for the node and for executors: why `revoked` covers this
 * writ, or null — the writ, an ancestor (its signed chain `lin.anc`, its parent, and any
 * further `ancestors` the caller knows of, e.g. from a ledger, walked only if needed), its
 * root, its principal (revoked or quarantined), its issuing node, its bundle version.
 */
export function revocationReason(revoked: RevokedSet, c: WritClaims, ancestors: Iterable<string> = []): string | null {
  if (revoked.has('writ', c.jti)) return `writ ${c.jti} is revoked`;
  for (const anc of c.lin.anc ?? []) if (revoked.has('writ', anc)) return `ancestor writ ${anc} is revoked`;
  if (c.lin.parent !== null && revoked.has('writ', c.lin.parent)) return `ancestor writ ${c.lin.parent} is revoked`;
  for (const anc of ancestors) if (revoked.has('writ', anc)) return `ancestor writ ${anc} is revoked`;
  if (revoked.has('writ', c.lin.root)) return `root writ ${c.lin.root} is revoked`;
  if (revoked.has('principal', c.sub)) return `principal ${c.sub} is revoked`;
  if (revoked.has('quarantine', c.sub)) return `principal ${c.sub} is quarantined`;
  if (revoked.has('node', c.iss)) return `issuing node ${c.iss} is isolated`;
  if (revoked.has('bundle', String(c.pol.version))) return `bundle version ${c.pol.version} is revoked`;
  return null;
}

/** Why the list revokes this writ (revocationReason, naming the list's version), or null. */
export function revokedBy(list: RevocationList, c: WritClaims): string | null {
  const reason = revocationReason(list, c);
  return reason === null ? null : `${reason} (revocation list ${list.claims.seq})`;
}

/** Why this list no longer vouches at `now` (expired), or null. */
// eslint-disable-next-line no-restricted-syntax -- writ/ is the standalone library: `now` defaults to the current time, as jose's currentDate does
export function revocationListStaleness(list: RevocationList, now = new Date(), clockToleranceSeconds = 5): string | null {
  const t = Math.floor(now.getTime() / 1000);
  return list.claims.exp <= t - clockToleranceSeconds ? `the revocation list (version ${list.claims.seq}) expired at ${new Date(list.claims.exp * 1000).toISOString()}` : null;
}

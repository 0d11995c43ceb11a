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
import { base64url, compactVerify, importJWK, type JSONWebKeySet, type JWK } from 'jose';
import type { WritClaims } from './claims.ts';
import { WritVerificationError } from './reasons.ts';

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

function claimsOf(payload: unknown): RevocationListClaims {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) fail('payload is not a JSON object');
  const c = payload as Record<string, unknown>;
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
  const parts = typeof jws === 'string' ? jws.trim().split('.') : [];
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) fail('not a compact JWS');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url.decode(parts[0] ?? ''))) as Record<string, unknown>;
  } catch {
    fail('header is not base64url JSON');
  }
  if (header.alg !== 'Ed25519' || header.typ !== REVOCATION_LIST_TYP) fail(`alg must be Ed25519 and typ ${REVOCATION_LIST_TYP}`);
  const jwk: JWK | undefined = o.keys.keys.find((k) => k.kid === header.kid);
  if (!jwk || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') fail(`signed by key ${String(header.kid)}, which is not pinned`);
  let payload: unknown;
  try {
    const verified = await compactVerify(parts.join('.'), await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'Ed25519'), { algorithms: ['Ed25519'] });
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(verified.payload));
  } catch {
    fail('signature does not verify');
  }
  const claims = claimsOf(payload);
  // a key bound to a node (node certificates) speaks only for that node
  const owner = (jwk as Record<string, unknown>)['writ:node'];
  if (typeof owner === 'string' && claims.iss !== owner) fail(`key ${String(header.kid)} belongs to node ${owner}, not to ${claims.iss}`);
  if (o.issuer !== undefined && claims.iss !== o.issuer) fail(`issued by ${claims.iss}, not ${o.issuer}`);
  const skew = o.clockToleranceSeconds ?? 5;
  const now = Math.floor((o.now ?? new Date()).getTime() / 1000);
  if (claims.exp - claims.iat > MAX_REVOCATION_LIST_LIFETIME_SECONDS || claims.exp < claims.iat) fail(`lifetime ${claims.exp - claims.iat}s exceeds ${MAX_REVOCATION_LIST_LIFETIME_SECONDS}s`);
  if (claims.iat > now + skew) fail(`signed in the future (iat ${claims.iat}, now ${now})`);
  if (claims.exp <= now - skew) fail(`expired at ${claims.exp}, now is ${now}`);
  const set = new Set(claims.entries.map((e) => `${e.kind}\u0000${e.value}`));
  return { claims, jws: parts.join('.'), etag: revocationListEtag(claims), has: (kind, value) => set.has(`${kind}\u0000${value}`) };
}

/**
 * Why the list revokes this writ, or null: the writ, its parent or its root, its principal
 * (revoked or quarantined), its issuing node, its bundle version. Every ancestor is in the
 * writ's `lin.anc` (writs issued before it existed name only their parent and root).
 */
export function revokedBy(list: RevocationList, c: WritClaims): string | null {
  if (list.has('writ', c.jti)) return `writ ${c.jti} is revoked (revocation list ${list.claims.seq})`;
  if (c.lin.parent !== null && list.has('writ', c.lin.parent)) return `parent writ ${c.lin.parent} is revoked (revocation list ${list.claims.seq})`;
  for (const anc of c.lin.anc ?? []) if (list.has('writ', anc)) return `ancestor writ ${anc} is revoked (revocation list ${list.claims.seq})`;
  if (list.has('writ', c.lin.root)) return `root writ ${c.lin.root} is revoked (revocation list ${list.claims.seq})`;
  if (list.has('principal', c.sub)) return `principal ${c.sub} is revoked (revocation list ${list.claims.seq})`;
  if (list.has('quarantine', c.sub)) return `principal ${c.sub} is quarantined (revocation list ${list.claims.seq})`;
  if (list.has('node', c.iss)) return `issuing node ${c.iss} is isolated (revocation list ${list.claims.seq})`;
  if (list.has('bundle', String(c.pol.version))) return `bundle version ${c.pol.version} is revoked (revocation list ${list.claims.seq})`;
  return null;
}

/** Why this list no longer vouches at `now` (expired), or null. */
export function revocationListStaleness(list: RevocationList, now = new Date(), clockToleranceSeconds = 5): string | null {
  const t = Math.floor(now.getTime() / 1000);
  return list.claims.exp <= t - clockToleranceSeconds ? `the revocation list (version ${list.claims.seq}) expired at ${new Date(list.claims.exp * 1000).toISOString()}` : null;
}

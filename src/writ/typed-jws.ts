/**
 * verifyTyped — the one way a compact JWS of a given `typ` is checked: revocations, approval
 * decisions, beacons, node certificates, status reports and revocation lists all go through
 * it (writs keep their own order and reason codes in verify.ts, and share `pinnedKey`).
 *
 * Order of checks (first failure wins):
 *   shape      a string of three non-empty base64url parts
 *   header     a JSON object (UTF-8, fatal on bad bytes)
 *   alg        exactly Ed25519: pinned here, never taken from the header
 *   typ        exactly the expected one, so a message of one kind never passes as another
 *   kid        a string naming one of the pinned keys, and that key an OKP/Ed25519 public key
 *   signature  verifies under that key
 *   payload    a JSON object
 *   validate   the caller's check of the claims (types, time window, binding); it returns the
 *              typed claims or throws its own error
 *
 * Each caller keeps its own error type and messages through `fail`; without it a failed
 * step throws TypedJwsError. Standalone like verify.ts: it imports `jose` only.
 */
import { base64url, compactVerify, importJWK, type CryptoKey, type JWK } from 'jose';
import { WritError } from './errors.ts';
import { verifyEd25519Sync } from './sync-crypto.ts';

/** the only signature algorithm any Writ message is signed with */
export const TYPED_ALG = 'Ed25519';

export type TypedJwsStep = 'shape' | 'header' | 'alg' | 'typ' | 'kid' | 'signature' | 'payload';

/** Stable codes of TypedJwsError, one per step that can fail. */
export const TYPED_JWS_CODES = {
  shape: 'jws_malformed',
  header: 'jws_malformed',
  alg: 'jws_algorithm_rejected',
  typ: 'jws_typ_invalid',
  kid: 'jws_unknown_key',
  signature: 'jws_signature_invalid',
  payload: 'jws_payload_invalid',
} as const satisfies Record<TypedJwsStep, string>;

export type TypedJwsCode = (typeof TYPED_JWS_CODES)[TypedJwsStep];

/** A typed compact JWS failed one of verifyTyped's steps. */
export class TypedJwsError extends WritError {
  override readonly code: TypedJwsCode;
  readonly step: TypedJwsStep;
  constructor(step: TypedJwsStep, message: string) {
    super(TYPED_JWS_CODES[step], message);
    this.name = 'TypedJwsError';
    this.code = TYPED_JWS_CODES[step];
    this.step = step;
  }
}

export interface TypedContext {
  now: Date;
  /** the pinned key the signature verified under, as pinned (with any binding members, e.g. writ:node) */
  jwk: JWK;
  kid: string;
}

export interface VerifyTypedOptions<T> {
  typ: string;
  /** the pinned public keys the signer may have used */
  keys: readonly JWK[];
  /** the time `validate` checks a time window against (default: now) */
  now?: Date;
  /** the claims' own checks: returns the typed claims or throws */
  validate: (payload: Record<string, unknown>, context: TypedContext) => T;
  /**
   * Throws the caller's own error for a failed step (callers keep their error types, reason
   * codes and messages); `header` is null until the header decoded to an object.
   */
  fail?: (step: TypedJwsStep, header: Readonly<Record<string, unknown>> | null) => never;
}

const COMPACT_PART = /^[A-Za-z0-9_-]+$/;

/** Imported keys, cached by their key material (never by kid alone: a key set may change). */
const importedKeys = new Map<string, Promise<CryptoKey | Uint8Array>>();

/** A pinned Ed25519 public key: the JWK as pinned, and its key material. */
export interface PinnedKey {
  jwk: JWK;
  /** the public key (base64url), checked to be a string */
  x: string;
}

/**
 * The pinned key named `kid`, or undefined when no pinned key has that kid or it is not an
 * OKP/Ed25519 public key (a private JWK pinned by mistake is refused).
 */
export function pinnedKey(keys: readonly JWK[], kid: string): PinnedKey | undefined {
  const jwk = keys.find((k) => k.kid === kid);
  if (!jwk || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || 'd' in jwk || typeof jwk.x !== 'string') return undefined;
  return { jwk, x: jwk.x };
}

function importedKey(x: string): Promise<CryptoKey | Uint8Array> {
  let key = importedKeys.get(x);
  if (!key) {
    key = importJWK({ kty: 'OKP', crv: 'Ed25519', x }, TYPED_ALG);
    if (importedKeys.size > 1024) importedKeys.clear();
    importedKeys.set(x, key);
  }
  return key;
}

/**
 * The payload bytes of a compact JWS whose Ed25519 signature verifies under `pinned`; throws
 * otherwise. The header is the decoded first part, already checked for alg. A header with
 * `crit` is refused whatever it names: no Writ message uses extensions (RFC 7515 §4.1.11),
 * and refusing them here keeps both ways of verifying alike. In Node the signature is checked
 * synchronously (sync-crypto.ts), elsewhere by jose with WebCrypto.
 */
export async function verifiedPayload(parts: readonly string[], header: Readonly<Record<string, unknown>>, pinned: PinnedKey): Promise<Uint8Array> {
  const [protectedPart = '', payloadPart = '', signaturePart = ''] = parts;
  if ('crit' in header) throw new Error('the header has crit: no extension is understood');
  const sync = verifyEd25519Sync(pinned.x, `${protectedPart}.${payloadPart}`, signaturePart);
  if (sync === true) return base64url.decode(payloadPart);
  if (sync === false) throw new Error('signature verification failed');
  return (await compactVerify(`${protectedPart}.${payloadPart}.${signaturePart}`, await importedKey(pinned.x), { algorithms: [TYPED_ALG] })).payload;
}

function json(part: string): unknown {
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url.decode(part)));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The protected header of a compact JWS, unverified and without checking the rest (only to
 * find which key to verify it under), or null if the first part is not a JSON object.
 */
export function compactHeader(jws: unknown): Record<string, unknown> | null {
  if (typeof jws !== 'string') return null;
  try {
    const header = json(jws.split('.')[0] ?? '');
    return isObject(header) ? header : null;
  } catch {
    return null;
  }
}

function defaultFail(typ: string): (step: TypedJwsStep, header: Readonly<Record<string, unknown>> | null) => never {
  const problems: Record<TypedJwsStep, (h: Readonly<Record<string, unknown>> | null) => string> = {
    shape: () => 'not a compact JWS (three base64url parts)',
    header: () => 'header is not base64url JSON',
    alg: (h) => `algorithm ${JSON.stringify(h?.alg)} is not accepted; only ${TYPED_ALG}`,
    typ: (h) => `typ ${JSON.stringify(h?.typ)} is not ${typ}`,
    kid: (h) => `key ${String(h?.kid)} is not pinned`,
    signature: () => 'signature does not verify',
    payload: () => 'payload is not a JSON object',
  };
  return (step, header) => {
    throw new TypedJwsError(step, `${typ}: ${problems[step](header)}`);
  };
}

/** The claims of a compact JWS of kind `typ` signed by one of `keys`, as `validate` returns them. */
export async function verifyTyped<T>(jws: unknown, o: VerifyTypedOptions<T>): Promise<T> {
  // annotated so the compiler treats each call as the end of its branch
  const fail: (step: TypedJwsStep, header: Readonly<Record<string, unknown>> | null) => never = o.fail ?? defaultFail(o.typ);
  const parts = typeof jws === 'string' ? jws.split('.') : [];
  if (parts.length !== 3 || !parts.every((p) => COMPACT_PART.test(p))) fail('shape', null);
  let header: unknown;
  try {
    header = json(parts[0] ?? '');
  } catch {
    fail('header', null);
  }
  if (!isObject(header)) fail('header', null);
  if (header.alg !== TYPED_ALG) fail('alg', header);
  if (header.typ !== o.typ) fail('typ', header);
  const pinned = typeof header.kid === 'string' ? pinnedKey(o.keys, header.kid) : undefined;
  if (!pinned || typeof header.kid !== 'string') fail('kid', header);
  let payload: Uint8Array;
  try {
    payload = await verifiedPayload(parts, header, pinned);
  } catch {
    fail('signature', header);
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    fail('payload', header);
  }
  if (!isObject(claims)) fail('payload', header);
  // eslint-disable-next-line no-restricted-syntax -- writ/ is the standalone library: `now` defaults to the current time, as jose's currentDate does
  return o.validate(claims, { now: o.now ?? new Date(), jwk: pinned.jwk, kid: header.kid });
}

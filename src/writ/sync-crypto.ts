/**
 * Synchronous SHA-256 and Ed25519 verification where the runtime has them (Node's
 * node:crypto), WebCrypto elsewhere (browsers).
 *
 * Why: in Node every WebCrypto call (`crypto.subtle.verify`, `digest` — and so every
 * `jose.compactVerify`) is a job on the libuv thread pool, two thread wake-ups per call. On a
 * small VM a wake-up costs far more than the work: verifying a writ took two such round trips
 * (the signature, then the intent digest), ≈ 250–300 µs against ≈ 60 µs of computing.
 *
 * node:crypto is reached through `process.getBuiltinModule` (Node ≥ 20.16), not imported,
 * so that writ/ stays a standalone library that bundles and runs in a browser. Both ways
 * compute the same thing; test/writ-sync-crypto.test.ts runs the same writs, valid and
 * tampered, through both and requires the same answers.
 */
import { base64url } from 'jose';

/** The part of node:crypto used here, typed structurally: writ/ compiles without Node's types. */
interface PublicKeyLike {
  readonly asymmetricKeyType?: string | undefined;
}
interface HashLike {
  update(data: string | Uint8Array): HashLike;
  digest(): Uint8Array;
}
interface NodeCrypto {
  createHash(algorithm: 'sha256'): HashLike;
  createPublicKey(o: { key: { kty: 'OKP'; crv: 'Ed25519'; x: string }; format: 'jwk' }): PublicKeyLike;
  verify(algorithm: null, data: Uint8Array, key: PublicKeyLike, signature: Uint8Array): boolean;
}

function loadNodeCrypto(): NodeCrypto | null {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const m = typeof p?.getBuiltinModule === 'function' ? p.getBuiltinModule('node:crypto') : undefined;
  return m && typeof (m as Partial<NodeCrypto>).verify === 'function' ? (m as NodeCrypto) : null;
}

const nodeCrypto = loadNodeCrypto();

/** true when this runtime verifies and hashes synchronously (node:crypto) */
export const SYNC_CRYPTO = nodeCrypto !== null;

/** base64url SHA-256 of the bytes (or of the UTF-8 of a string). */
export async function sha256Base64url(data: string | Uint8Array): Promise<string> {
  return base64url.encode(await sha256(typeof data === 'string' ? new TextEncoder().encode(data) : data));
}

/** SHA-256 of the bytes. */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  if (nodeCrypto) return new Uint8Array(nodeCrypto.createHash('sha256').update(bytes).digest());
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/** Public keys imported once per key material; bounded, since key sets come from configuration and fetched JWKS. */
const publicKeys = new Map<string, PublicKeyLike>();
const MAX_KEYS = 1024;

/**
 * Verifies an Ed25519 signature synchronously, or returns null when this runtime has no
 * synchronous way (the caller then uses jose and WebCrypto). `x` is the JWK's public key
 * (base64url); a key or signature that cannot be used verifies as false, never throws.
 */
export function verifyEd25519Sync(x: string, signingInput: string, signature: string): boolean | null {
  if (!nodeCrypto) return null;
  try {
    let key = publicKeys.get(x);
    if (!key) {
      key = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
      if (key.asymmetricKeyType !== 'ed25519') return false;
      if (publicKeys.size >= MAX_KEYS) publicKeys.clear();
      publicKeys.set(x, key);
    }
    const sig = base64url.decode(signature);
    if (sig.length !== 64) return false;
    return nodeCrypto.verify(null, new TextEncoder().encode(signingInput), key, sig);
  } catch {
    return false;
  }
}

/**
 * Messages the authority signs for the fleet (revocations, approval decisions): a compact
 * JWS by an authority key, `alg: Ed25519`, a `typ` per kind of message, verified against
 * the pinned authority keys. One `typ` per kind means a message of one kind never passes
 * as another.
 */
import { base64url, compactVerify, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { isRecord } from '../util.ts';

export async function signByAuthority(claims: Record<string, unknown>, typ: string, key: { kid: string; key: CryptoKey }): Promise<string> {
  return new SignJWT({ ...claims, iat: Math.floor(Date.now() / 1000) }).setProtectedHeader({ alg: 'Ed25519', typ, kid: key.kid }).sign(key.key);
}

/** The claims of a message of kind `typ` signed by one of `keys`; throws (with `what` in the message) otherwise. */
export async function verifyByAuthority(jws: string, typ: string, keys: JWK[], what: string): Promise<Record<string, unknown>> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(base64url.decode(jws.split('.')[0] ?? '')));
  } catch {
    throw new Error(`${what}: not a compact JWS`);
  }
  if (!isRecord(header) || header.alg !== 'Ed25519' || header.typ !== typ) throw new Error(`${what}: wrong alg or typ`);
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`${what} signed by unknown key ${String(header.kid)}`);
  const { payload } = await compactVerify(jws, await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'Ed25519'), { algorithms: ['Ed25519'] });
  const claims: unknown = JSON.parse(new TextDecoder().decode(payload));
  if (!isRecord(claims)) throw new Error(`${what}: claims are not an object`);
  return claims;
}

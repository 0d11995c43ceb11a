/**
 * The signing side of verifyTyped (typed-jws.ts), kept apart from verification: a compact JWS
 * of kind `typ`, alg Ed25519, the signer's kid. Authority messages, beacons, node certificates,
 * status reports and revocation lists are signed with it.
 */
import { CompactSign, type CryptoKey, type KeyObject } from 'jose';
import { TYPED_ALG } from './typed-jws.ts';

/** Signs `claims` as a compact JWS of kind `typ` (alg Ed25519, the signer's kid): the one signing side of verifyTyped. */
export async function signTyped(claims: object, typ: string, key: { kid: string; key: CryptoKey | KeyObject }): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: TYPED_ALG, typ, kid: key.kid }).sign(key.key);
}

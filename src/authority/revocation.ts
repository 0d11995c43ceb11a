/**
 * Signed revocations (docs/fleet.md): a compact JWS (typ writ-revocation+jwt) by an
 * authority key naming what is revoked — a writ (jti), a principal, a node, a bundle
 * version — or a principal to quarantine. Nodes apply only revocations that verify
 * against their pinned authority keys.
 */
import { base64url, compactVerify, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { RevocationKind } from '../node/state.ts';
import { isRecord } from '../util.ts';

export const REVOCATION_TYP = 'writ-revocation+jwt';

export interface RevocationClaims {
  v: 1;
  kind: RevocationKind;
  value: string;
  reason: string;
  iat: number;
}

export async function signRevocation(r: Omit<RevocationClaims, 'v' | 'iat'>, key: { kid: string; key: CryptoKey }): Promise<string> {
  return new SignJWT({ v: 1, ...r, iat: Math.floor(Date.now() / 1000) } as unknown as Record<string, unknown>)
    .setProtectedHeader({ alg: 'Ed25519', typ: REVOCATION_TYP, kid: key.kid })
    .sign(key.key);
}

export async function verifyRevocation(jws: string, keys: JWK[]): Promise<RevocationClaims> {
  const header: unknown = JSON.parse(new TextDecoder().decode(base64url.decode(jws.split('.')[0] ?? '')));
  if (!isRecord(header) || header.alg !== 'Ed25519' || header.typ !== REVOCATION_TYP) throw new Error('revocation: wrong alg or typ');
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`revocation signed by unknown key ${String(header.kid)}`);
  const { payload } = await compactVerify(jws, await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'Ed25519'), { algorithms: ['Ed25519'] });
  const c = JSON.parse(new TextDecoder().decode(payload)) as RevocationClaims;
  if (c.v !== 1 || typeof c.kind !== 'string' || typeof c.value !== 'string') throw new Error('revocation claims are malformed');
  return c;
}

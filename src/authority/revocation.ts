/**
 * Signed revocations (docs/fleet.md): a compact JWS (typ writ-revocation+jwt) by an
 * authority key naming what is revoked — a writ (jti), a principal, a node, a bundle
 * version — or a principal to quarantine. Nodes apply only revocations that verify
 * against their pinned authority keys.
 */
import type { CryptoKey, JWK } from 'jose';
import type { RevocationKind } from '../node/state.ts';
import { signByAuthority, verifyByAuthority } from './signed.ts';

export const REVOCATION_TYP = 'writ-revocation+jwt';

export interface RevocationClaims {
  v: 1;
  kind: RevocationKind;
  value: string;
  reason: string;
  iat: number;
}

export async function signRevocation(r: Omit<RevocationClaims, 'v' | 'iat'>, key: { kid: string; key: CryptoKey }): Promise<string> {
  return signByAuthority({ v: 1, ...r }, REVOCATION_TYP, key);
}

export async function verifyRevocation(jws: string, keys: JWK[]): Promise<RevocationClaims> {
  return verifyByAuthority(jws, REVOCATION_TYP, keys, 'revocation', (c) => {
    if (c.v !== 1 || typeof c.kind !== 'string' || typeof c.value !== 'string') throw new Error('revocation claims are malformed');
    return c as unknown as RevocationClaims;
  });
}

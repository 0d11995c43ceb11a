/** Signed revocations, signing side (docs/fleet.md; verifying: node/revocation-message.ts). */
import type { CryptoKey } from 'jose';
import { REVOCATION_TYP, type RevocationClaims } from '../node/revocation-message.ts';
import { signByAuthority } from './signed.ts';

export { REVOCATION_TYP, type RevocationClaims };

export async function signRevocation(r: Omit<RevocationClaims, 'v' | 'iat'>, key: { kid: string; key: CryptoKey }, now?: number): Promise<string> {
  return signByAuthority({ v: 1, ...r }, REVOCATION_TYP, key, now);
}

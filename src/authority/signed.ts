/**
 * Typed messages, signing side (verifying: node/authority-message.ts): the authority's
 * messages to the fleet (revocations, approval decisions) are compact JWSs by an authority
 * key with a `typ` per kind and the time they were signed.
 */
import type { CryptoKey } from 'jose';
import { signTyped } from '../writ/sign-typed.ts';

export async function signByAuthority(claims: Record<string, unknown>, typ: string, key: { kid: string; key: CryptoKey }, now = Date.now()): Promise<string> {
  return signTyped({ ...claims, iat: Math.floor(now / 1000) }, typ, key);
}

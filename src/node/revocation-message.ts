/**
 * Signed revocations (docs/fleet.md), verifying side: a compact JWS (typ
 * writ-revocation+jwt) by an authority key naming what is revoked — a writ (jti), a
 * principal, a node, a bundle version — or a principal to quarantine. Nodes apply only
 * revocations that verify against their pinned authority keys. Signing: authority/revocation.ts.
 *
 * A revocation is on the path of revocation propagation (issue 14, point 6): verifyTyped
 * checks its signature synchronously in Node (writ/sync-crypto.ts), with no hop through the
 * thread pool and back behind the node's decisions.
 */
import type { JWK } from 'jose';
import type { RevocationKind } from './state.ts';
import { verifyByAuthority } from './authority-message.ts';

export const REVOCATION_TYP = 'writ-revocation+jwt';

export interface RevocationClaims {
  v: 1;
  kind: RevocationKind;
  value: string;
  reason: string;
  iat: number;
}

function validate(c: Record<string, unknown>): RevocationClaims {
  if (c.v !== 1 || typeof c.kind !== 'string' || typeof c.value !== 'string') throw new Error('revocation claims are malformed');
  return c as unknown as RevocationClaims;
}

export async function verifyRevocation(jws: string, keys: JWK[]): Promise<RevocationClaims> {
  return verifyByAuthority(jws, REVOCATION_TYP, keys, 'revocation', validate);
}

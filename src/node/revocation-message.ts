/**
 * Signed revocations (docs/fleet.md), verifying side: a compact JWS (typ
 * writ-revocation+jwt) by an authority key naming what is revoked — a writ (jti), a
 * principal, a node, a bundle version — or a principal to quarantine. Nodes apply only
 * revocations that verify against their pinned authority keys. Signing: authority/revocation.ts.
 *
 * A revocation is on the path of revocation propagation (issue 14, point 6), so the common
 * case is verified synchronously (node:crypto, no hop through the thread pool and back
 * behind the node's decisions): exactly the header the authority signs ({alg, typ, kid}),
 * under a pinned key. Anything else, and any failure, goes through verifyTyped, which
 * decides and names the error: the fast path accepts a subset of what verifyTyped accepts.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
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
  return verifyRevocationFast(jws, keys) ?? verifyByAuthority(jws, REVOCATION_TYP, keys, 'revocation', validate);
}

const COMPACT_PART = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
/** node:crypto public keys, by their key material (never by kid alone: a key set may change) */
const publicKeys = new Map<string, KeyObject>();

function decodeJson(part: string): unknown {
  return JSON.parse(utf8.decode(Buffer.from(part, 'base64url')));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The claims when the fast path can vouch for them, else null (then verifyTyped decides). */
export function verifyRevocationFast(jws: string, keys: readonly JWK[]): RevocationClaims | null {
  try {
    const parts = jws.split('.');
    if (parts.length !== 3 || !parts.every((p) => COMPACT_PART.test(p))) return null;
    const [h, p, s] = parts as [string, string, string];
    const header = decodeJson(h);
    if (!isObject(header) || Object.keys(header).length !== 3 || header.alg !== 'Ed25519' || header.typ !== REVOCATION_TYP || typeof header.kid !== 'string') return null;
    // the pinned key as verifyTyped's pinnedKey takes it: that kid, an OKP/Ed25519 public key
    const jwk = keys.find((k) => k.kid === header.kid);
    if (!jwk || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || 'd' in jwk || typeof jwk.x !== 'string') return null;
    let key = publicKeys.get(jwk.x);
    if (!key) {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
      if (publicKeys.size > 1024) publicKeys.clear();
      publicKeys.set(jwk.x, key);
    }
    if (!verify(null, Buffer.from(`${h}.${p}`, 'ascii'), key, Buffer.from(s, 'base64url'))) return null;
    const claims = decodeJson(p);
    return isObject(claims) ? validate(claims) : null;
  } catch {
    return null; // verifyTyped names what is wrong
  }
}

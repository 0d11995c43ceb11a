/**
 * Node certificates, verifying side (issuing: authority/keys.ts): a node key is usable only
 * with a certificate, a compact JWS by an authority key (typ writ-node-cert+jwt) naming the
 * node id, its domain and its public key.
 */
import type { JWK } from 'jose';
import { isRecord } from '../util.ts';
import { verifyTyped } from '../writ/typed-jws.ts';
import { KEY_DOMAIN, KEY_NODE } from '../writ/verify.ts';
import { failNaming } from './authority-message.ts';

export const NODE_CERT_TYP = 'writ-node-cert+jwt';

export interface NodeCertificateClaims {
  iss: string;
  sub: string;
  domain: string;
  jwk: JWK;
  iat: number;
  exp: number;
}

/** The key a certificate certifies, as it is pinned: bound to its node and domain (verifyWrit checks both). */
export function certifiedJwk(cert: Pick<NodeCertificateClaims, 'sub' | 'domain' | 'jwk'>): JWK {
  const bound: Record<string, unknown> = { ...cert.jwk, [KEY_NODE]: cert.sub, [KEY_DOMAIN]: cert.domain };
  return bound as JWK;
}

/** Verifies a node certificate against pinned authority keys at `now`; throws with a clear message. */
export async function verifyNodeCertificate(cert: string, authorityKeys: JWK[], now?: Date): Promise<NodeCertificateClaims> {
  return verifyTyped(cert, {
    typ: NODE_CERT_TYP,
    keys: authorityKeys,
    ...(now && { now }),
    fail: failNaming('node certificate', (kid) => `node certificate: signed by unknown authority key ${kid}`),
    validate: (payload, { now: at }) => {
      const c = payload as unknown as NodeCertificateClaims;
      if (!isRecord(c.jwk) || typeof c.sub !== 'string' || typeof c.exp !== 'number') throw new Error('node certificate: malformed claims');
      if (c.exp * 1000 <= at.getTime()) throw new Error(`node certificate for ${c.sub} expired`);
      return c;
    },
  });
}

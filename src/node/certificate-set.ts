/**
 * The fleet's node certificates as everyone applies them (nodes, the authority's console,
 * `writ fleet keys`): a certificate counts only under its own node's key in the nodes
 * bucket; a node's newest certificate (by `iat`) stands, so an older one put again does
 * not bring a retired key back; an expired certificate counts as none.
 */
import type { JWK } from 'jose';
import { certifiedJwk, type NodeCertificateClaims } from './node-certificate.ts';

export interface HeldCertificate {
  node: string;
  domain: string;
  iat: number;
  exp: number;
  jwk: JWK;
}

export class CertificateSet {
  private readonly byNode = new Map<string, HeldCertificate>();
  private readonly keyOf: (node: string) => string;

  /** `keyOf`: the bucket key a node's certificate must be filed under */
  constructor(keyOf: (node: string) => string) {
    this.keyOf = keyOf;
  }

  /**
   * Offers a verified certificate found under `key`. Returns what it replaced (a rotation
   * when its kid differs), null if it is the node's first, or 'refused'.
   */
  offer(key: string, cert: NodeCertificateClaims): HeldCertificate | null | 'refused' {
    if (key !== this.keyOf(cert.sub) || typeof cert.domain !== 'string') return 'refused';
    const had = this.byNode.get(cert.sub) ?? null;
    if (had && had.iat > cert.iat) return 'refused';
    this.byNode.set(cert.sub, { node: cert.sub, domain: cert.domain, iat: cert.iat, exp: cert.exp, jwk: certifiedJwk(cert) });
    return had;
  }

  /** Removes and returns the certificates expired at `now`. */
  expire(now: number): HeldCertificate[] {
    const gone = [...this.byNode.values()].filter((c) => c.exp * 1000 <= now);
    for (const c of gone) this.byNode.delete(c.node);
    return gone;
  }

  get(node: string, now: number): HeldCertificate | null {
    const c = this.byNode.get(node);
    return c && c.exp * 1000 > now ? c : null;
  }

  /** Every valid certificate, by node id. */
  all(now: number): HeldCertificate[] {
    return [...this.byNode.values()].filter((c) => c.exp * 1000 > now).sort((a, b) => a.node.localeCompare(b.node));
  }
}

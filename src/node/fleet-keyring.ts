/**
 * The keys a fleet node verifies writs with: its own, and those of every certified node of
 * the fleet that is not isolated, so a writ issued on one node verifies on any other.
 *
 * A node's newest certificate stands (certificate-set.ts): a new one replaces the node's
 * old key (rotation), an older one put again does not bring that key back, a certificate
 * filed under another node's key is refused, and a key whose certificate expired is dropped
 * (`prune`, run with each status report). An isolated node's key leaves the ring
 * (its writs: writ_unknown_key) and does not come back with a certificate.
 */
import type { JSONWebKeySet, JWK } from 'jose';
import { CertificateSet } from './certificate-set.ts';
import { kvKey } from './fleet-bus.ts';
import { certifiedJwk, verifyNodeCertificate } from './node-certificate.ts';

export class FleetKeyring {
  private readonly keys: JSONWebKeySet;
  private readonly certs = new CertificateSet((node) => kvKey(node));
  private readonly o: { self: string; authorityKeys: JWK[]; isIsolated: (node: string) => boolean; now: () => number; log: (s: string) => void };

  /** `keys`: the node's verifier key set, kept up to date in place (the verifier reads it on every writ) */
  constructor(keys: JSONWebKeySet, o: { self: string; authorityKeys: JWK[]; isIsolated: (node: string) => boolean; now: () => number; log: (s: string) => void }) {
    this.keys = keys;
    this.o = o;
  }

  /** Offers the certificate found under `key` in the certificates channel; throws if it is refused. */
  async offer(key: string, jws: string): Promise<void> {
    const cert = await verifyNodeCertificate(jws, this.o.authorityKeys, new Date(this.o.now()));
    const had = this.certs.offer(key, cert);
    if (had === 'refused') throw new Error(`certificate of ${cert.sub} refused: filed under another node's key, or older than the one held`);
    if (had && had.jwk.kid !== cert.jwk.kid) this.drop(had.jwk.kid);
    if (this.o.isIsolated(cert.sub)) return this.drop(cert.jwk.kid);
    const jwk = certifiedJwk(cert); // bound to its node and domain
    const i = this.keys.keys.findIndex((k) => k.kid === cert.jwk.kid);
    if (i >= 0) this.keys.keys[i] = jwk;
    else this.keys.keys.push(jwk);
  }

  /** A verified node revocation: that node's writs no longer verify here (this node's own key stays: it is revoked as a node instead). */
  isolate(node: string): void {
    const held = this.certs.get(node, this.o.now());
    if (held && node !== this.o.self) this.drop(held.jwk.kid);
  }

  /** Drops the keys whose certificates expired. */
  prune(): void {
    for (const c of this.certs.expire(this.o.now())) {
      this.drop(c.jwk.kid);
      this.o.log(`writ node ${this.o.self}: the certificate of ${c.node} expired: its writs no longer verify here`);
    }
  }

  private drop(kid: unknown): void {
    const i = this.keys.keys.findIndex((k) => k.kid === kid);
    if (i >= 0) this.keys.keys.splice(i, 1);
  }
}

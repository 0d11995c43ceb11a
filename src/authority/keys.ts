/**
 * Authority and node keys (Ed25519). Private keys live in PKCS#8 PEM files of mode
 * 0600; public keys travel as JWKs whose kid is their RFC 7638 thumbprint.
 * A node key is usable only with a certificate: a compact JWS by an authority key
 * (typ writ-node-cert+jwt) naming the node id, its domain and its public key.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from 'jose';
import { isRecord } from '../util.ts';
import { verifyTyped } from '../writ/typed-jws.ts';
import { KEY_DOMAIN, KEY_NODE } from '../writ/verify.ts';
import { failNaming, signTyped } from './signed.ts';

export const NODE_CERT_TYP = 'writ-node-cert+jwt';

export interface KeyPair {
  kid: string;
  publicJwk: JWK;
  privateKey: CryptoKey;
}

export async function newKeyPair(): Promise<KeyPair & { pkcs8: string }> {
  const { publicKey, privateKey } = await generateKeyPair('Ed25519', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: 'Ed25519', use: 'sig' }, privateKey, pkcs8: await exportPKCS8(privateKey) };
}

export function writePrivateKey(path: string, pkcs8: string): void {
  writeFileSync(path, pkcs8, { mode: 0o600, flag: 'w' });
}

export async function readPrivateKey(path: string): Promise<CryptoKey> {
  // extractable so the writ signer can use it as a node:crypto KeyObject
  return importPKCS8(readFileSync(path, 'utf8'), 'Ed25519', { extractable: true });
}

export interface NodeCertificateClaims {
  iss: string;
  sub: string;
  domain: string;
  jwk: JWK;
  iat: number;
  exp: number;
}

export async function issueNodeCertificate(
  node: { id: string; domain: string; jwk: JWK },
  authority: { kid: string; key: CryptoKey },
  validForSeconds: number,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signTyped({ domain: node.domain, jwk: node.jwk, iss: 'writ-authority', sub: node.id, iat: now, exp: now + validForSeconds }, NODE_CERT_TYP, authority);
}

/** The key a certificate certifies, as it is pinned: bound to its node and domain (verifyWrit checks both). */
export function certifiedJwk(cert: Pick<NodeCertificateClaims, 'sub' | 'domain' | 'jwk'>): JWK {
  const bound: Record<string, unknown> = { ...cert.jwk, [KEY_NODE]: cert.sub, [KEY_DOMAIN]: cert.domain };
  return bound as JWK;
}

/** Verifies a node certificate against pinned authority keys; throws with a clear message. */
export async function verifyNodeCertificate(cert: string, authorityKeys: JWK[], now = new Date()): Promise<NodeCertificateClaims> {
  return verifyTyped(cert, {
    typ: NODE_CERT_TYP,
    keys: authorityKeys,
    now,
    fail: failNaming('node certificate', (kid) => `node certificate: signed by unknown authority key ${kid}`),
    validate: (payload, { now: at }) => {
      const c = payload as unknown as NodeCertificateClaims;
      if (!isRecord(c.jwk) || typeof c.sub !== 'string' || typeof c.exp !== 'number') throw new Error('node certificate: malformed claims');
      if (c.exp * 1000 <= at.getTime()) throw new Error(`node certificate for ${c.sub} expired`);
      return c;
    },
  });
}

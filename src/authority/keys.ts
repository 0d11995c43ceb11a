/**
 * Authority and node keys (Ed25519). Private keys live in PKCS#8 PEM files of mode
 * 0600; public keys travel as JWKs whose kid is their RFC 7638 thumbprint.
 * A node key is usable only with a certificate: a compact JWS by an authority key
 * (typ writ-node-cert+jwt) naming the node id, its domain and its public key.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { calculateJwkThumbprint, compactVerify, exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, SignJWT, type CryptoKey, type JWK } from 'jose';
import { isRecord } from '../util.ts';
import { KEY_DOMAIN, KEY_NODE } from '../writ/verify.ts';

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
  return new SignJWT({ domain: node.domain, jwk: node.jwk })
    .setProtectedHeader({ alg: 'Ed25519', typ: NODE_CERT_TYP, kid: authority.kid })
    .setIssuer('writ-authority')
    .setSubject(node.id)
    .setIssuedAt(now)
    .setExpirationTime(now + validForSeconds)
    .sign(authority.key);
}

/** Verifies a node certificate against pinned authority keys; throws with a clear message. */
/** The key a certificate certifies, as it is pinned: bound to its node and domain (verifyWrit checks both). */
export function certifiedJwk(cert: Pick<NodeCertificateClaims, 'sub' | 'domain' | 'jwk'>): JWK {
  const bound: Record<string, unknown> = { ...cert.jwk, [KEY_NODE]: cert.sub, [KEY_DOMAIN]: cert.domain };
  return bound as JWK;
}

export async function verifyNodeCertificate(cert: string, authorityKeys: JWK[], now = new Date()): Promise<NodeCertificateClaims> {
  const [h] = cert.split('.');
  const header: unknown = JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8'));
  if (!isRecord(header) || header.alg !== 'Ed25519' || header.typ !== NODE_CERT_TYP) throw new Error('node certificate: wrong alg or typ');
  const jwk = authorityKeys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`node certificate: signed by unknown authority key ${String(header.kid)}`);
  const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'Ed25519');
  const { payload } = await compactVerify(cert, key, { algorithms: ['Ed25519'] });
  const c = JSON.parse(new TextDecoder().decode(payload)) as NodeCertificateClaims;
  if (!isRecord(c.jwk) || typeof c.sub !== 'string' || typeof c.exp !== 'number') throw new Error('node certificate: malformed claims');
  if (c.exp * 1000 <= now.getTime()) throw new Error(`node certificate for ${c.sub} expired`);
  return c;
}

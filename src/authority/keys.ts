/**
 * Authority and node keys (Ed25519). Private keys live in PKCS#8 PEM files of mode
 * 0600; public keys travel as JWKs whose kid is their RFC 7638 thumbprint.
 * A node key is usable only with a certificate (node/node-certificate.ts verifies it),
 * which the authority issues here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from 'jose';
import { NODE_CERT_TYP, type NodeCertificateClaims } from '../node/node-certificate.ts';
import { signTyped } from '../writ/sign-typed.ts';

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

export async function issueNodeCertificate(
  node: { id: string; domain: string; jwk: JWK },
  authority: { kid: string; key: CryptoKey },
  validForSeconds: number,
  nowMs = Date.now(),
): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  const claims: NodeCertificateClaims = { domain: node.domain, jwk: node.jwk, iss: 'writ-authority', sub: node.id, iat: now, exp: now + validForSeconds };
  return signTyped({ ...claims }, NODE_CERT_TYP, authority);
}

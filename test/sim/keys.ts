/**
 * The simulation's keys, derived from fixed bytes: every thread signs the same bundles,
 * beacons, certificates and checkpoints, so a seed's trace is the same in any process.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, importPKCS8 } from 'jose';
import type { KeyPair } from '../../src/authority/keys.ts';
import { ed25519 } from '../../src/tlog/crypto.ts';
import { ed25519SignerKey, ed25519VerifierKey, newSigner, newVerifier, type NoteSigner, type NoteVerifier } from '../../src/tlog/note.ts';
import '../../src/ledger/node-crypto.ts';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 key pair from a label: the same label, the same key. */
export async function fixedKeyPair(label: string): Promise<KeyPair> {
  const seed = createHash('sha256').update(`writ-sim:${label}`).digest();
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
  const pem = `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  const privateKey = await importPKCS8(pem, 'Ed25519', { extractable: true });
  const jwk = await exportJWK(createPublicKey(createPrivateKey(pem)));
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: 'Ed25519', use: 'sig' }, privateKey };
}

/** The fleet log's note key (C2SP signed-note), from fixed bytes. */
export function fixedLogKey(origin: string): { signer: NoteSigner; verifier: NoteVerifier; verifierKey: string } {
  const seed = new Uint8Array(createHash('sha256').update(`writ-sim-log:${origin}`).digest());
  const verifierKey = ed25519VerifierKey(origin, ed25519().signer(seed).publicKey);
  return { signer: newSigner(ed25519SignerKey(origin, seed)), verifier: newVerifier(verifierKey), verifierKey };
}

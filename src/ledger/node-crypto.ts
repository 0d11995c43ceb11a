/**
 * node:crypto for the transparency-log spec code (src/tlog/crypto.ts): createHash('sha256')
 * for Merkle hashing and KeyObject Ed25519 for signed notes, installed when this module is
 * imported. Every ledger module that hashes, signs or opens notes imports it, so a Node
 * process that uses the ledger has both; code that uses src/tlog/ alone in Node imports it
 * itself (the tlog's own default SHA-256 is plain JavaScript, and it has no Ed25519).
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { useCrypto, type Ed25519 } from '../tlog/crypto.ts';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function nodeSha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

export const nodeEd25519: Ed25519 = {
  signer(seed) {
    const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const publicKey = new Uint8Array(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32));
    return { publicKey, sign: (msg) => new Uint8Array(sign(null, msg, priv)) };
  },
  verifier(publicKey) {
    const pub = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
    return (msg, sig) => sig.length === 64 && verify(null, msg, pub, sig);
  },
};

useCrypto({ sha256: nodeSha256, ed25519: nodeEd25519 });

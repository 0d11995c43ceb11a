/**
 * `node:crypto` for the project's ledger code in the browser (aliased by vite.config.ts).
 *
 * SHA-256 is synchronous there (Merkle hashing), so it is computed in JavaScript
 * (@noble/hashes). Ed25519 signatures are checked by WebCrypto, which is asynchronous:
 * the caller asks WebCrypto first (`webCryptoVerdicts`) and the synchronous `verify`
 * the project's code calls only looks those verdicts up. A signature nobody asked
 * WebCrypto about is invalid: a missing verdict can never make a check pass.
 * Signing and key generation do not exist in the console.
 */
import './buffer-global.ts';
import { Buffer } from 'buffer';
import { sha256 } from '@noble/hashes/sha2.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const verdicts = new Map<string, boolean>();
const verdictKey = (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): string => `${hex(pub)}:${hex(sig)}:${hex(msg)}`;

class Sha256 {
  private readonly h = sha256.create();
  update(data: string | Uint8Array): this {
    this.h.update(typeof data === 'string' ? new TextEncoder().encode(data) : data);
    return this;
  }
  digest(): Buffer {
    return Buffer.from(this.h.digest());
  }
}

export function createHash(algorithm: string): Sha256 {
  if (algorithm !== 'sha256') throw new Error(`hash ${algorithm} is not available in the console`);
  return new Sha256();
}

interface PublicKeyObject {
  raw: Uint8Array;
}

/** Ed25519 SPKI DER in, the raw 32-byte key kept. */
export function createPublicKey(o: { key: Uint8Array }): PublicKeyObject {
  const der = new Uint8Array(o.key);
  if (der.length !== 44) throw new Error('only Ed25519 SPKI keys are supported');
  return { raw: der.subarray(12) };
}

export function verify(_alg: null, msg: Uint8Array, key: PublicKeyObject, sig: Uint8Array): boolean {
  return verdicts.get(verdictKey(key.raw, new Uint8Array(msg), new Uint8Array(sig))) === true;
}

/** Asks WebCrypto whether each (message, signature) pair is a valid Ed25519 signature by `publicKey`. */
export async function webCryptoVerdicts(publicKey: Uint8Array, pairs: { msg: Uint8Array; sig: Uint8Array }[]): Promise<void> {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(publicKey), { name: 'Ed25519' }, false, ['verify']);
  for (const { msg, sig } of pairs) {
    const ok = sig.length === 64 && (await crypto.subtle.verify({ name: 'Ed25519' }, key, new Uint8Array(sig), new Uint8Array(msg)));
    verdicts.set(verdictKey(publicKey, msg, sig), ok);
  }
}

export function forgetVerdicts(): void {
  verdicts.clear();
}

const unavailable = (what: string) => (): never => {
  throw new Error(`${what} is not available in the console`);
};
export const createPrivateKey = unavailable('createPrivateKey');
export const generateKeyPairSync = unavailable('generateKeyPairSync');
export const sign = unavailable('sign');
export const timingSafeEqual = unavailable('timingSafeEqual');

/**
 * The two primitives the tlog modules need, injected so that the spec code runs in Node and
 * in browsers alike, with no `node:*` import (docs/architecture.md):
 *
 *   SHA-256   synchronous, because Merkle hashing is (every append, root and proof). Node
 *             installs node:crypto's createHash (src/ledger/node-crypto.ts); importing
 *             ./sha256.ts installs plain JavaScript (@noble/hashes) where none is installed
 *             (the web console, tests of the spec code alone). Either gives the same bytes.
 *             This module imports neither, so @writ/verify/proof ships the spec code
 *             without @noble/hashes: it verifies with WebCrypto (./async-crypto.ts).
 *   Ed25519   synchronous signing and verification of signed notes (./note.ts), RFC 8032.
 *             There is no default: Node installs node:crypto's (src/ledger/node-crypto.ts,
 *             imported by every ledger module that signs or opens notes); the web console
 *             installs WebCrypto verdicts asked for beforehand (src/console/web/verify/ed25519.ts),
 *             since WebCrypto itself is asynchronous.
 *
 * useCrypto replaces either for the whole process (or page); withCrypto for one synchronous
 * call only. A SHA-256 that does not hash "abc" to the FIPS 180-4 value is refused; with none
 * installed, hashing throws WritError('crypto_unavailable'), as Ed25519 does.
 */
import { WritError } from '../writ/errors.ts';

/**
 * SHA-256 of the parts, concatenated: 32 bytes out. Parts, not one buffer, so the Merkle code
 * never copies a leaf to prefix it (with node:crypto, one update per part, as before).
 */
export type Sha256 = (...parts: Uint8Array[]) => Uint8Array;

/** An Ed25519 implementation (RFC 8032), with the key prepared once and used many times. */
export interface Ed25519 {
  /** from a 32-byte seed (the RFC 8032 private key): its raw 32-byte public key and a signing function */
  signer(seed: Uint8Array): { publicKey: Uint8Array; sign(msg: Uint8Array): Uint8Array };
  /** from a raw 32-byte public key: a function telling whether `sig` is its signature of `msg` */
  verifier(publicKey: Uint8Array): (msg: Uint8Array, sig: Uint8Array) => boolean;
}

let hash: Sha256 | undefined;
let ed: Ed25519 | undefined;

const ABC = Uint8Array.of(0x61, 0x62, 0x63);
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function checked(h: Sha256): Sha256 {
  if (hex(h(ABC)) !== ABC_SHA256 || hex(h(ABC.subarray(0, 1), ABC.subarray(1))) !== ABC_SHA256) throw new WritError('crypto_unavailable', 'tlog: the SHA-256 given does not hash "abc" right');
  return h;
}

/** Installs the SHA-256 and/or Ed25519 the tlog modules use from now on. */
export function useCrypto(c: { sha256?: Sha256; ed25519?: Ed25519 }): void {
  if (c.sha256) hash = checked(c.sha256);
  if (c.ed25519) ed = c.ed25519;
}

/** Installs `h` as the SHA-256 only if none is installed yet (./sha256.ts: a default never replaces node:crypto's). */
export function useDefaultSha256(h: Sha256): void {
  if (!hash) hash = checked(h);
}

/**
 * Runs the synchronous `fn` with these primitives in place of the installed ones, then puts
 * those back: the verification of one call (./async-crypto.ts) never changes what the rest
 * of the process uses. Synchronous on purpose: no other code can run while they are swapped.
 */
export function withCrypto<T>(c: { sha256: Sha256; ed25519: Ed25519 }, fn: () => T): T {
  const saved = { hash, ed };
  hash = c.sha256;
  ed = c.ed25519;
  try {
    return fn();
  } finally {
    hash = saved.hash;
    ed = saved.ed;
  }
}

/** SHA-256 of the parts, concatenated, with the installed implementation; throws WritError('crypto_unavailable') if there is none. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (!hash) throw new WritError('crypto_unavailable', 'tlog: no SHA-256 installed (Node: import src/ledger/node-crypto.ts; elsewhere: import src/tlog/sha256.ts)');
  return hash(...parts);
}

/** The installed Ed25519; throws WritError('crypto_unavailable') if there is none. */
export function ed25519(): Ed25519 {
  if (!ed) {
    throw new WritError('crypto_unavailable', 'tlog: no Ed25519 installed (Node: import src/ledger/node-crypto.ts; a browser: useCrypto({ ed25519 }))');
  }
  return ed;
}

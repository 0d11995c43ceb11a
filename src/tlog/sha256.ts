/**
 * SHA-256 (FIPS 180-4) for any runtime, synchronous: the tlog modules' default hash, from
 * `@noble/hashes` (audited, pure JavaScript, no Node built-ins), installed by importing this
 * module where no SHA-256 is installed yet (./crypto.ts useDefaultSha256). Node installs
 * `node:crypto`'s createHash instead (src/ledger/node-crypto.ts), which is faster; the bytes
 * are the same. test/tlog-crypto.test.ts checks both against the FIPS vectors.
 * ./crypto.ts does not import this module, so the spec code can ship without @noble/hashes
 * (packages/verify, @writ/verify/proof: SHA-256 from WebCrypto there).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { useDefaultSha256 } from './crypto.ts';

/** SHA-256 of `data`, as 32 bytes. */
export function sha256js(data: Uint8Array): Uint8Array {
  return sha256(data);
}

/** SHA-256 of the concatenation of `parts`, without copying them together. */
export function sha256jsParts(...parts: Uint8Array[]): Uint8Array {
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

useDefaultSha256(sha256jsParts);

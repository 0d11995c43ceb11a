/**
 * Decision ids and jtis: UUIDv7 (time-ordered, so the ledger's index keys append instead of
 * scattering), with their random bits drawn from a pooled buffer of CSPRNG output. One
 * getrandom call per 256 ids instead of one per id: in a VM that syscall cost more than the
 * rest of the id. Every 16 bytes are handed out once and never reused.
 */
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const POOL_BYTES = 16 * 256;
const pool = new Uint8Array(POOL_BYTES);
let offset = POOL_BYTES;

function pooledRandom16(): Uint8Array {
  if (offset >= POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + 16);
  offset += 16;
  return bytes;
}

/** A new UUIDv7: millisecond order, 74 random bits. */
export function newId(): string {
  return v7({ random: pooledRandom16() });
}

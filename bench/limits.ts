/**
 * The machine's limit for a durable governed decision (issue 14, point 1), measured in the
 * same run as the decision path: a raw 1.2 KB append + fdatasync in the home's directory
 * (what one durable decision leaf needs of the disk, at the least), and one Ed25519
 * signature of a writ-sized payload (what signing a writ needs of a core). The durable
 * decision's p50 is printed next to them, with its distance from the fsync.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { measure, type Stats } from './stats.ts';

const LEAF_BYTES = 1200;
const WRIT_BYTES = 700;

/** fdatasync of a 1.2 KB append to a file in `dir`, `count` times in a row. */
export async function fdatasyncLimit(dir: string, count: number): Promise<Stats> {
  const file = join(dir, 'bench-fdatasync.bin');
  const fd = openSync(file, 'a');
  const leaf = Buffer.alloc(LEAF_BYTES, 0x61);
  try {
    return await measure(count, 1, () => {
      writeSync(fd, leaf);
      fdatasyncSync(fd);
    });
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/** One Ed25519 signature of a writ-sized payload (node:crypto, as the writ signer uses). */
export async function ed25519Limit(count: number): Promise<Stats> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const payload = Buffer.alloc(WRIT_BYTES, 0x62);
  return measure(count, 1, () => sign(null, payload, privateKey));
}

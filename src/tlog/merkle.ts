/**
 * Merkle tree hashing and proofs for the ledger, as specified by RFC 6962 §2.1
 * and RFC 9162 §2.1, computed over a hash store so that memory use does not grow
 * with the tree (after golang.org/x/mod/sumdb/tlog).
 *
 * Hashing. A leaf hash is SHA-256(0x00 || leaf bytes); an interior node hash is
 * SHA-256(0x01 || left || right). The Merkle Tree Hash of n leaves is, for
 * n = 0, SHA-256 of the empty string; for n = 1, the leaf hash; otherwise, with
 * k the largest power of two smaller than n, the node hash of MTH(D[0:k]) and
 * MTH(D[k:n]).
 *
 * Storage. Every complete subtree is hashed once, when its last leaf is
 * appended, and stored at a dense linear position: the hash of the subtree at
 * `level` covering leaves [n·2^level, (n+1)·2^level) lives at storedHashIndex(level, n)
 * (Crosby and Wallach, "Efficient Data Structures for Tamper-Evident Logging",
 * §3.3). Appending record n writes storedHashes(n, ...) starting at
 * storedHashIndex(0, n): the leaf hash followed by one hash per subtree the leaf
 * completes. A tree of n records therefore holds storedHashCount(n) < 2n hashes.
 * Any root, inclusion proof or consistency proof is assembled from at most
 * O(log n) stored hashes, fetched with one call to a HashReader.
 *
 * Proofs. proveRecord gives the RFC 6962 §2.1.1 audit path PATH(n, D[0:t]),
 * bottom to top; proveTree gives the §2.1.2 consistency proof PROOF(n, D[0:t]).
 * verifyInclusion and verifyConsistency are the iterative algorithms of
 * RFC 9162 §2.1.3.2 and §2.1.4.2, step for step. They return nothing and throw
 * a MerkleProofError on any failure. Cases the RFC algorithms leave out
 * (consistency with first = second, or first = 0) are decided as follows:
 * equal sizes need an empty proof and equal roots; the empty tree is a prefix
 * of every tree, so first = 0 needs an empty proof and root1 = MTH({}).
 *
 * Indexes and sizes are JavaScript numbers and must be integers below 2^51, so
 * that stored hash indexes (< 2n) stay safe integers. Bit operators are avoided because
 * they truncate to 32 bits.
 *
 * SHA-256 is the one installed in ./crypto.ts (node:crypto's in Node), given the prefix
 * byte and the data as parts: nothing is copied.
 */
import { WritError } from '../writ/errors.ts';
import { sha256 } from './crypto.ts';

export const HASH_SIZE = 32;

/** Reads the stored hashes at the given stored hash indexes, in order. */
export type HashReader = (indexes: number[]) => Uint8Array[];

/** The largest tree size (exclusive) these functions accept. */
export const MAX_TREE_SIZE = 2 ** 51;

/**
 * MTH({}): SHA-256 of the empty string (RFC 6962 §2.1), written out so that loading this module
 * hashes nothing (the SHA-256 may be installed after it: ./crypto.ts). Do not modify;
 * test/tlog-crypto.test.ts checks it against node:crypto.
 */
export const EMPTY_TREE_HASH: Uint8Array = Uint8Array.from('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'.match(/../g) as string[], (h) => parseInt(h, 16));

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** SHA-256(0x00 || data) */
export function leafHash(data: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, data);
}

/** SHA-256(0x01 || left || right) */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

export type MerkleProofFailure = 'invalid-input' | 'hash-size' | 'path-length' | 'root-mismatch';

/** A proof did not verify; `reason` says at which step. */
export class MerkleProofError extends WritError {
  override readonly code: MerkleProofFailure;
  readonly reason: MerkleProofFailure;
  constructor(reason: MerkleProofFailure, message: string) {
    super(reason, message);
    this.name = 'MerkleProofError';
    this.code = reason;
    this.reason = reason;
  }
}

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0 && n < MAX_TREE_SIZE;
const half = (n: number): number => Math.floor(n / 2); // n >> 1, without truncating to 32 bits
const isOdd = (n: number): boolean => n % 2 === 1; // LSB(n)
const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;
const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function trailingZeros(n: number): number {
  let z = 0;
  for (; n > 0 && !isOdd(n); n = half(n)) z++;
  return z;
}

/** k, the largest power of 2 smaller than n (for n ≥ 2), and l = log2 k. */
function maxpow2(n: number): { k: number; l: number } {
  let l = 0;
  while (2 ** (l + 1) < n) l++;
  return { k: 2 ** l, l };
}

/** Maps tree coordinates (level, n) to the dense linear storage order. */
export function storedHashIndex(level: number, n: number): number {
  // Level L's n'th hash is written right after level L+1's 2n+1'th hash:
  // walk down to the level 0 ordering, then add back the level count.
  for (let l = level; l > 0; l--) n = 2 * n + 1;
  // Level 0's n'th hash is written at n + n/2 + n/4 + ... .
  let i = 0;
  for (; n > 0; n = half(n)) i += n;
  return i + level;
}

/** The inverse of storedHashIndex. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  // storedHashIndex(0, n) < 2n, so the record that wrote `index` is in
  // [index/2, index/2 + log2(index)]. Each record n adds 1 + trailingZeros(n+1) hashes.
  let n = half(index);
  let indexN = storedHashIndex(0, n);
  if (indexN > index) throw new Error('merkle: bad math in splitStoredHashIndex');
  for (;;) {
    const x = indexN + 1 + trailingZeros(n + 1);
    if (x > index) break;
    n++;
    indexN = x;
  }
  // The hash was written with record n, so it is one of (0, n), (1, n/2), (2, n/4), ...
  const level = index - indexN;
  return { level, n: Math.floor(n / 2 ** level) };
}

/** The number of stored hashes in a tree of n records. */
export function storedHashCount(n: number): number {
  if (n === 0) return 0;
  // The hashes up to the last leaf hash, then those of subtrees that leaf completes.
  let count = storedHashIndex(0, n - 1) + 1;
  for (let i = n - 1; isOdd(i); i = half(i)) count++;
  return count;
}

function read(reader: HashReader, indexes: number[]): Uint8Array[] {
  const hashes = indexes.length === 0 ? [] : reader(indexes);
  if (hashes.length !== indexes.length || hashes.some((h) => h.length !== HASH_SIZE)) {
    throw new Error(`merkle: HashReader(${indexes.length} indexes) returned ${hashes.length} hashes, not all of ${HASH_SIZE} bytes`);
  }
  return hashes;
}

/**
 * The hashes to store, starting at storedHashIndex(0, n), when appending record n
 * with the given data: its leaf hash, then one hash per subtree it completes.
 * Reads up to log2(n) earlier hashes.
 */
export function storedHashes(n: number, data: Uint8Array, reader: HashReader): Uint8Array[] {
  return storedHashesForLeafHash(n, leafHash(data), reader);
}

/** storedHashes for a record whose leaf hash is already known. */
export function storedHashesForLeafHash(n: number, h: Uint8Array, reader: HashReader): Uint8Array[] {
  if (!isCount(n) || n + 1 >= MAX_TREE_SIZE) throw new RangeError(`merkle: invalid record index ${n}`);
  // Each trailing 1 bit of n completes a subtree, consuming the hash of its left sibling.
  const m = trailingZeros(n + 1);
  const indexes = new Array<number>(m);
  for (let i = 0; i < m; i++) indexes[m - 1 - i] = storedHashIndex(i, Math.floor(n / 2 ** i) - 1);
  const old = read(reader, indexes);
  const hashes = [h];
  for (let i = 0; i < m; i++) hashes.push((h = nodeHash(old[m - 1 - i] as Uint8Array, h)));
  return hashes;
}

/** The stored hash indexes needed for the hash of the subtree of records [lo, hi). */
function subTreeIndex(lo: number, hi: number, need: number[]): number[] {
  while (lo < hi) {
    const { k, l } = maxpow2(hi - lo + 1);
    if (lo % k !== 0) throw new Error('merkle: bad math in subTreeIndex');
    need.push(storedHashIndex(l, lo / k));
    lo += k;
  }
  return need;
}

/**
 * The hash of the subtree of records [lo, hi), from the hashes at subTreeIndex(lo, hi),
 * which are consumed from the front of `hashes`. The subtree splits into complete
 * subtrees of decreasing size, whose stored hashes are folded right to left.
 */
function subTreeHash(lo: number, hi: number, hashes: Uint8Array[]): Uint8Array {
  let numTree = 0;
  for (; lo < hi; numTree++) lo += maxpow2(hi - lo + 1).k;
  const parts = hashes.splice(0, numTree);
  if (parts.length !== numTree) throw new Error('merkle: bad index math in subTreeHash');
  let h = parts[numTree - 1] as Uint8Array;
  for (let i = numTree - 2; i >= 0; i--) h = nodeHash(parts[i] as Uint8Array, h);
  return h;
}

/** MTH(D[0:n]), from the stored hashes of the first n records (one reader call). */
export function treeHash(n: number, reader: HashReader): Uint8Array {
  if (!isCount(n)) throw new RangeError(`merkle: invalid tree size ${n}`);
  if (n === 0) return Uint8Array.from(EMPTY_TREE_HASH);
  const hashes = read(reader, subTreeIndex(0, n, []));
  const h = subTreeHash(0, n, hashes);
  if (hashes.length !== 0) throw new Error('merkle: bad index math in treeHash');
  return h;
}

/** Indexes needed for PATH(n - lo, D[lo:hi]) (RFC 6962 §2.1.1), in the order leafProof consumes them. */
function leafProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (lo + 1 === hi) return need;
  const { k } = maxpow2(hi - lo);
  if (n < lo + k) return subTreeIndex(lo + k, hi, leafProofIndex(lo, lo + k, n, need));
  return leafProofIndex(lo + k, hi, n, subTreeIndex(lo, lo + k, need));
}

/** PATH(n - lo, D[lo:hi]): walk down toward leaf n, recording the hash of the path not taken. */
function leafProof(lo: number, hi: number, n: number, hashes: Uint8Array[]): Uint8Array[] {
  if (lo + 1 === hi) return []; // the verifier knows the leaf hash
  const { k } = maxpow2(hi - lo);
  if (n < lo + k) return [...leafProof(lo, lo + k, n, hashes), subTreeHash(lo + k, hi, hashes)];
  const left = subTreeHash(lo, lo + k, hashes);
  return [...leafProof(lo + k, hi, n, hashes), left];
}

/** The inclusion proof (audit path) of record n in the tree of size t, bottom to top. */
export function proveRecord(t: number, n: number, reader: HashReader): Uint8Array[] {
  if (!isCount(t) || !isCount(n) || n >= t) throw new RangeError(`merkle: cannot prove record ${n} in tree of size ${t}`);
  const hashes = read(reader, leafProofIndex(0, t, n, []));
  const p = leafProof(0, t, n, hashes);
  if (hashes.length !== 0) throw new Error('merkle: bad index math in proveRecord');
  return p;
}

/** Indexes needed for SUBPROOF(n - lo, D[lo:hi], lo = 0) (RFC 6962 §2.1.2), in the order treeProof consumes them. */
function treeProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (n === hi) return lo === 0 ? need : subTreeIndex(lo, hi, need);
  const { k } = maxpow2(hi - lo);
  if (n <= lo + k) return subTreeIndex(lo + k, hi, treeProofIndex(lo, lo + k, n, need));
  return treeProofIndex(lo + k, hi, n, subTreeIndex(lo, lo + k, need));
}

/** SUBPROOF(n - lo, D[lo:hi], lo = 0). */
function treeProof(lo: number, hi: number, n: number, hashes: Uint8Array[]): Uint8Array[] {
  // Common ground; when lo = 0 this is the old tree itself, whose root the verifier knows.
  if (n === hi) return lo === 0 ? [] : [subTreeHash(lo, hi, hashes)];
  const { k } = maxpow2(hi - lo);
  if (n <= lo + k) return [...treeProof(lo, lo + k, n, hashes), subTreeHash(lo + k, hi, hashes)];
  const left = subTreeHash(lo, lo + k, hashes);
  return [...treeProof(lo + k, hi, n, hashes), left];
}

/** The consistency proof that the tree of size t extends the tree of size n (0 ≤ n ≤ t). */
export function proveTree(t: number, n: number, reader: HashReader): Uint8Array[] {
  if (!isCount(t) || !isCount(n) || n > t) throw new RangeError(`merkle: cannot prove size ${n} against size ${t}`);
  if (n === 0 || n === t) return [];
  const hashes = read(reader, treeProofIndex(0, t, n, []));
  const p = treeProof(0, t, n, hashes);
  if (hashes.length !== 0) throw new Error('merkle: bad index math in proveTree');
  return p;
}

function checkHashes(what: string, hashes: Uint8Array[]): void {
  const bad = hashes.find((h) => h.length !== HASH_SIZE);
  if (bad) throw new MerkleProofError('hash-size', `${what} has a ${bad.length}-byte hash, want ${HASH_SIZE}`);
}

/**
 * Verifies that `proof` proves the leaf with hash `leaf` at `index` is in the tree
 * of `size` leaves with root hash `root`: RFC 9162 §2.1.3.2. Throws MerkleProofError.
 */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array): void {
  if (!isCount(index) || !isCount(size)) throw new MerkleProofError('invalid-input', `invalid index ${index} or size ${size}`);
  checkHashes('leaf hash or root', [leaf, root]);
  checkHashes('inclusion proof', proof);
  // 1. If leaf_index is greater than or equal to tree_size, fail.
  if (index >= size) throw new MerkleProofError('invalid-input', `index ${index} is not below tree size ${size}`);
  // 2. Set fn to leaf_index and sn to tree_size - 1.
  let fn = index;
  let sn = size - 1;
  // 3. Set r to hash.
  let r = leaf;
  // 4. For each value p in the inclusion_path array:
  for (const p of proof) {
    // a. If sn is 0, stop the iteration and fail the proof verification.
    if (sn === 0) throw new MerkleProofError('path-length', 'inclusion proof is too long');
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (isOdd(fn) || fn === sn) {
      // i. Set r to HASH(0x01 || p || r).
      r = nodeHash(p, r);
      // ii. If LSB(fn) is not set, right-shift both fn and sn equally
      //     until either LSB(fn) is set or fn is 0.
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      // Otherwise: i. Set r to HASH(0x01 || r || p).
      r = nodeHash(r, p);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn = half(fn);
    sn = half(sn);
  }
  // 5. Compare sn to 0. Compare r against the root_hash.
  if (sn !== 0) throw new MerkleProofError('path-length', 'inclusion proof is too short');
  if (!equal(r, root)) throw new MerkleProofError('root-mismatch', 'inclusion proof does not lead to the root hash');
}

/**
 * Verifies that `proof` proves the tree of `size1` leaves with root `root1` is a
 * prefix of the tree of `size2` leaves with root `root2`: RFC 9162 §2.1.4.2.
 * Throws MerkleProofError.
 */
export function verifyConsistency(size1: number, size2: number, proof: Uint8Array[], root1: Uint8Array, root2: Uint8Array): void {
  if (!isCount(size1) || !isCount(size2)) throw new MerkleProofError('invalid-input', `invalid sizes ${size1}, ${size2}`);
  checkHashes('root1 or root2', [root1, root2]);
  checkHashes('consistency proof', proof);
  if (size1 > size2) throw new MerkleProofError('invalid-input', `size1 ${size1} is larger than size2 ${size2}`);
  if (size1 === size2 || size1 === 0) {
    // Outside the RFC algorithm (0 < first < second): nothing to prove.
    if (proof.length !== 0) throw new MerkleProofError('path-length', 'consistency proof must be empty');
    const want = size1 === 0 ? EMPTY_TREE_HASH : root2;
    if (!equal(root1, want)) throw new MerkleProofError('root-mismatch', 'root hashes do not match');
    return;
  }
  // 1. If consistency_path is an empty array, stop and fail the proof verification.
  if (proof.length === 0) throw new MerkleProofError('path-length', 'consistency proof is empty');
  // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  // 3. Set fn to first - 1 and sn to second - 1.
  let fn = size1 - 1;
  let sn = size2 - 1;
  // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5. Set both fr and sr to the first value in the consistency_path array.
  let fr = path[0] as Uint8Array;
  let sr = fr;
  // 6. For each subsequent value c in the consistency_path array:
  for (const c of path.slice(1)) {
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0) throw new MerkleProofError('path-length', 'consistency proof is too long');
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (isOdd(fn) || fn === sn) {
      // i. Set fr to HASH(0x01 || c || fr). ii. Set sr to HASH(0x01 || c || sr).
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      // iii. If LSB(fn) is not set, then right-shift both fn and sn equally
      //      until either LSB(fn) is set or fn is 0.
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      // Otherwise: i. Set sr to HASH(0x01 || sr || c).
      sr = nodeHash(sr, c);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn = half(fn);
    sn = half(sn);
  }
  // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
  if (sn !== 0) throw new MerkleProofError('path-length', 'consistency proof is too short');
  if (!equal(fr, root1)) throw new MerkleProofError('root-mismatch', 'consistency proof does not lead to the first root hash');
  if (!equal(sr, root2)) throw new MerkleProofError('root-mismatch', 'consistency proof does not lead to the second root hash');
}

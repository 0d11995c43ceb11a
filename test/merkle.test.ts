/**
 * RFC 6962 / RFC 9162 Merkle tree math (src/tlog/merkle.ts).
 *
 * Published vectors: the 8-leaf reference tree of the Certificate Transparency
 * test suite as carried by transparency-dev/merkle proof/verify_test.go (leaves,
 * roots for sizes 1..8, inclusion and consistency proofs) and its corruption
 * probes; testdata/inclusion/1/happy-path.json of the same repository; the
 * stored-hash layout checks of golang.org/x/mod sumdb/tlog/tlog_test.go.
 * Then property tests over seeded random trees against the recursive
 * definitions of RFC 6962 §2.1 (MTH, PATH, PROOF).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '../src/tlog/sha256.ts'; // the JavaScript SHA-256 for the spec code alone (src/tlog/crypto.ts has no default)
import {
  EMPTY_TREE_HASH, MerkleProofError, leafHash, nodeHash, proveRecord, proveTree, splitStoredHashIndex,
  storedHashCount, storedHashIndex, storedHashes, treeHash, verifyConsistency, verifyInclusion, type HashReader,
} from '../src/tlog/merkle.ts';

/** XORs byte `at` of `h` with `mask`, in place. */
function flip(h: Uint8Array, at: number, mask: number): void {
  h[at] = (h[at] ?? 0) ^ mask;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const dh = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const hexes = (p: Uint8Array[]): string[] => p.map(hex);

/** An append-only tree over a Map, built only through storedHashes, as a log would. */
function buildTree(leaves: Uint8Array[]): { reader: HashReader; reads: number[] } {
  const store = new Map<number, Uint8Array>();
  const reads: number[] = [];
  const reader: HashReader = (indexes) => {
    reads.push(indexes.length);
    for (let i = 1; i < indexes.length; i++) assert.ok((indexes[i - 1] as number) < (indexes[i] as number), 'indexes in increasing order');
    return indexes.map((i) => store.get(i) ?? assert.fail(`hash ${i} is not stored`));
  };
  leaves.forEach((leaf, n) => {
    storedHashes(n, leaf, reader).forEach((h, j) => store.set(storedHashIndex(0, n) + j, h));
    assert.equal(store.size, storedHashCount(n + 1));
  });
  return { reader, reads };
}

// transparency-dev/merkle proof/verify_test.go: the RFC 6962 reference tree.
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(dh);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(dh);
const root = (size: number): Uint8Array => ROOTS[size - 1] as Uint8Array;
// {leaf (1-based), size, proof}
const INCLUSION: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [2, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];
const CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [6, 7, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
];
const SOME_HASH = dh('abacaba000000000000000000000000000000000000000000060061e00123456');
const EMPTY_HASH = dh('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

function fails(f: () => void, what: string, reason?: MerkleProofError['reason']): void {
  assert.throws(f, (e) => e instanceof MerkleProofError && (reason === undefined || e.reason === reason), what);
}

describe('RFC 6962 reference tree (transparency-dev/merkle verify_test.go)', () => {
  const tree = buildTree(LEAVES);

  it('hashes the empty tree, leaves and roots for sizes 1..8', () => {
    assert.equal(hex(EMPTY_TREE_HASH), hex(EMPTY_HASH));
    assert.equal(hex(treeHash(0, tree.reader)), hex(EMPTY_HASH));
    assert.equal(hex(leafHash(LEAVES[0] as Uint8Array)), hex(root(1)));
    for (let size = 1; size <= 8; size++) assert.equal(hex(treeHash(size, tree.reader)), hex(root(size)), `root of size ${size}`);
    assert.equal(hex(nodeHash(leafHash(dh('')), leafHash(dh('00')))), hex(root(2)));
  });

  it('produces and verifies the published inclusion proofs, and rejects every corruption probe', () => {
    for (const [leaf, size, want] of INCLUSION) {
      const index = leaf - 1;
      const lh = leafHash(LEAVES[index] as Uint8Array);
      const proof = proveRecord(size, index, tree.reader);
      assert.deepEqual(hexes(proof), want, `proof of ${index} in ${size}`);
      verifyInclusion(index, size, lh, proof, root(size));
      // corruptInclusionProof probes
      const probes: [string, number, number, Uint8Array, Uint8Array[], Uint8Array][] = [
        ['leafIndex - 1', index - 1, size, lh, proof, root(size)],
        ['leafIndex + 1', index + 1, size, lh, proof, root(size)],
        ['leafIndex ^ 2', index ^ 2, size, lh, proof, root(size)],
        ['treeSize * 2', index, size * 2, lh, proof, root(size)],
        ['treeSize / 2', index, Math.floor(size / 2), lh, proof, root(size)],
        ['wrong leaf', index, size, new TextEncoder().encode('WrongLeaf'), proof, root(size)],
        ['empty root', index, size, lh, proof, EMPTY_HASH],
        ['random root', index, size, lh, proof, SOME_HASH],
        ['trailing garbage', index, size, lh, [...proof, new Uint8Array()], root(size)],
        ['trailing root', index, size, lh, [...proof, root(size)], root(size)],
        ['preceding garbage', index, size, lh, [new Uint8Array(), ...proof], root(size)],
        ['preceding root', index, size, lh, [root(size), ...proof], root(size)],
      ];
      proof.forEach((_, i) => {
        const wrong = proof.map((h) => Uint8Array.from(h));
        flip(wrong[i] as Uint8Array, 0, 8);
        probes.push([`modified proof[${i}] bit 3`, index, size, lh, wrong, root(size)]);
      });
      if (proof.length > 0) probes.push(['removed component', index, size, lh, proof.slice(0, -1), root(size)]);
      if (proof.length > 1) probes.push(['inserted component', index, size, lh, [proof[0] as Uint8Array, SOME_HASH, ...proof.slice(1)], root(size)]);
      for (const [desc, i, s, l, p, r] of probes) fails(() => verifyInclusion(i, s, l, p, r), `${desc} (${index}, ${size})`);
    }
  });

  it('accepts the base64 happy path of testdata/inclusion/1/happy-path.json', () => {
    const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
    const proof = ['lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=', 'Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=', 'a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ='].map(b64);
    verifyInclusion(0, 8, b64('bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0='), proof, b64('XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg='));
  });

  it('rejects degenerate inclusion inputs (TestVerifyInclusion, TestVerifyInclusionSingleEntry)', () => {
    for (const [index, size] of [[0, 0], [1, 0], [2, 1]] as const) {
      fails(() => verifyInclusion(index, size, SOME_HASH, [], EMPTY_HASH), `probe ${index}:${size}`, 'invalid-input');
    }
    fails(() => verifyInclusion(0, 1, SOME_HASH, [], new Uint8Array()), 'empty root');
    fails(() => verifyInclusion(0, 1, new Uint8Array(), [], EMPTY_HASH), 'empty leaf');
    const h = leafHash(new TextEncoder().encode('data'));
    verifyInclusion(0, 1, h, [], h);
    fails(() => verifyInclusion(0, 1, h, [], new Uint8Array()), 'wrong hash size');
    fails(() => verifyInclusion(-1, 1, h, [], h), 'negative index');
    fails(() => verifyInclusion(0, 1.5, h, [], h), 'fractional size');
  });

  it('produces and verifies the published consistency proofs, and rejects every corruption probe', () => {
    for (const [size1, size2, want] of CONSISTENCY) {
      const proof = proveTree(size2, size1, tree.reader);
      assert.deepEqual(hexes(proof), want, `proof ${size1} -> ${size2}`);
      const [r1, r2] = [root(size1), root(size2)];
      verifyConsistency(size1, size2, proof, r1, r2);
      if (proof.length === 0) continue;
      const wrongRoot = new TextEncoder().encode('WrongRoot');
      const probes: [string, number, number, Uint8Array[], Uint8Array, Uint8Array][] = [
        ['size1 - 1', size1 - 1, size2, proof, r1, r2],
        ['size1 + 1', size1 + 1, size2, proof, r1, r2],
        ['size1 ^ 2', size1 ^ 2, size2, proof, r1, r2],
        ['size2 * 2', size1, size2 * 2, proof, r1, r2],
        ['size2 / 2', size1, Math.floor(size2 / 2), proof, r1, r2],
        ['wrong root1', size1, size2, proof, wrongRoot, r2],
        ['wrong root2', size1, size2, proof, r1, wrongRoot],
        ['swapped roots', size1, size2, proof, r2, r1],
        ['empty proof', size1, size2, [], r1, r2],
        ['trailing garbage', size1, size2, [...proof, new Uint8Array()], r1, r2],
        ['trailing root1', size1, size2, [...proof, r1], r1, r2],
        ['trailing root2', size1, size2, [...proof, r2], r1, r2],
        ['preceding garbage', size1, size2, [new Uint8Array(), ...proof], r1, r2],
        ['preceding root1', size1, size2, [r1, ...proof], r1, r2],
        ['preceding root2', size1, size2, [r2, ...proof], r1, r2],
        ['preceding proof[0]', size1, size2, [proof[0] as Uint8Array, ...proof], r1, r2],
        ['truncated proof', size1, size2, proof.slice(0, -1), r1, r2],
      ];
      proof.forEach((_, i) => {
        const wrong = proof.map((h) => Uint8Array.from(h));
        flip(wrong[i] as Uint8Array, 0, 16);
        probes.push([`modified proof[${i}] bit 4`, size1, size2, wrong, r1, r2]);
      });
      for (const [desc, s1, s2, p, a, b] of probes) fails(() => verifyConsistency(s1, s2, p, a, b), `${desc} (${size1} -> ${size2})`);
    }
  });

  it('decides the cases outside the RFC algorithm (TestVerifyConsistency)', () => {
    const [r1, r2] = [root(1), root(2)];
    verifyConsistency(0, 0, [], EMPTY_HASH, EMPTY_HASH);
    verifyConsistency(0, 1, [], EMPTY_HASH, r1);
    verifyConsistency(1, 1, [], r1, r1);
    fails(() => verifyConsistency(1, 1, [], r1, r2), 'equal sizes, different roots');
    fails(() => verifyConsistency(0, 1, [], r1, r1), 'size 0 with a non-empty root');
    fails(() => verifyConsistency(1, 0, [], r1, r2), 'time travel', 'invalid-input');
    fails(() => verifyConsistency(2, 1, [], r1, r2), 'time travel', 'invalid-input');
    fails(() => verifyConsistency(5, 3, [r1], r1, r2), 'time travel', 'invalid-input');
    fails(() => verifyConsistency(1, 2, [], r1, r2), 'empty proof');
    fails(() => verifyConsistency(0, 0, [EMPTY_HASH], EMPTY_HASH, EMPTY_HASH), 'non-empty proof, size 0');
    fails(() => verifyConsistency(1, 1, [EMPTY_HASH], r1, r1), 'non-empty proof, equal sizes');
  });
});

describe('stored hash layout (golang.org/x/mod sumdb/tlog tlog_test.go)', () => {
  it('splitStoredHashIndex inverts storedHashIndex', () => {
    for (let level = 0; level < 10; level++) {
      for (let n = 0; n < 100; n++) assert.deepEqual(splitStoredHashIndex(storedHashIndex(level, n)), { level, n });
    }
  });

  it('numbers stored hashes in append order', () => {
    // record 0: (0,0); record 1: (0,1),(1,0); record 2: (0,2); record 3: (0,3),(1,1),(2,0)
    assert.deepEqual([[0, 0], [0, 1], [1, 0], [0, 2], [0, 3], [1, 1], [2, 0], [0, 4]].map(([l, n]) => storedHashIndex(l as number, n as number)), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 8].map(storedHashCount), [0, 1, 3, 4, 7, 8, 15]);
    // large values stay exact (no 32-bit truncation)
    const big = 2 ** 40 + 12345;
    assert.deepEqual(splitStoredHashIndex(storedHashIndex(3, big)), { level: 3, n: big });
  });
});

// ---- property tests over random trees ---------------------------------------------------------

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const split = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1); // largest power of 2 < n, n ≥ 2

// RFC 6962 §2.1, as written (recursive, over leaf hashes).
function mth(lh: Uint8Array[]): Uint8Array {
  if (lh.length === 0) return EMPTY_HASH;
  if (lh.length === 1) return lh[0] as Uint8Array;
  const k = split(lh.length);
  return nodeHash(mth(lh.slice(0, k)), mth(lh.slice(k)));
}
function path(m: number, lh: Uint8Array[]): Uint8Array[] {
  if (lh.length <= 1) return [];
  const k = split(lh.length);
  return m < k ? [...path(m, lh.slice(0, k)), mth(lh.slice(k))] : [...path(m - k, lh.slice(k)), mth(lh.slice(0, k))];
}
function subproof(m: number, lh: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === lh.length) return b ? [] : [mth(lh)];
  const k = split(lh.length);
  return m <= k ? [...subproof(m, lh.slice(0, k), b), mth(lh.slice(k))] : [...subproof(m - k, lh.slice(k), false), mth(lh.slice(0, k))];
}

/**
 * The shape of a proof: how the verifier must combine each element, from the
 * recursive definitions. A proof for one claim verifies for another claim with
 * the same roots exactly when the shapes agree (the tree size itself is
 * authenticated by the signed checkpoint, not by the proof).
 */
function pathShape(m: number, n: number): string {
  if (n === 1) return '';
  const k = split(n);
  return m < k ? `${pathShape(m, k)}R` : `${pathShape(m - k, n - k)}L`;
}
function consistencyShape(m: number, n: number, b = true): string {
  if (m === 0) return 'trivial';
  if (m === n) return b ? 'root1:' : 'seed:';
  const k = split(n);
  return m <= k ? `${consistencyShape(m, k, b)}R` : `${consistencyShape(m - k, n - k, false)}L`;
}

/** Changed proofs, each with the reason verification must give. */
function mutations(proof: Uint8Array[], rand: (n: number) => number): [string, Uint8Array[], MerkleProofError['reason']][] {
  const out: [string, Uint8Array[], MerkleProofError['reason']][] = [];
  proof.forEach((_, i) => {
    const p = proof.map((h) => Uint8Array.from(h));
    flip(p[i] as Uint8Array, rand(32), 1 + rand(255));
    out.push([`flipped byte in [${i}]`, p, 'root-mismatch']);
  });
  const extra = new Uint8Array(32).map(() => rand(256));
  out.push(['appended', [...proof, extra], 'path-length'], ['prepended', [extra, ...proof], 'path-length']);
  if (proof.length > 0) {
    out.push(['dropped last', proof.slice(0, -1), 'path-length'], ['dropped first', proof.slice(1), 'path-length']);
    out.push(['duplicated', [...proof, proof.at(-1) as Uint8Array], 'path-length'], ['short hash', [...proof.slice(1), extra.subarray(1)], 'hash-size']);
  }
  return out;
}

describe('property: random trees of up to 300 leaves', () => {
  const rand = prng(0x5eed);
  const N = 300;
  const leaves = Array.from({ length: N }, () => new Uint8Array(rand(40)).map(() => rand(256)));
  const lh = leaves.map(leafHash);
  const tree = buildTree(leaves);
  const roots = [EMPTY_HASH, ...Array.from({ length: N }, (_, i) => treeHash(i + 1, tree.reader))];
  const rootOf = (s: number): Uint8Array => roots[s] as Uint8Array;

  it('treeHash equals MTH for every size, reading O(log n) hashes', () => {
    for (let s = 0; s <= N; s++) assert.equal(hex(rootOf(s)), hex(mth(lh.slice(0, s))), `size ${s}`);
    tree.reads.length = 0;
    treeHash(N, tree.reader);
    proveRecord(N, 123, tree.reader);
    proveTree(N, 77, tree.reader);
    assert.ok(tree.reads.every((c) => c <= 2 * Math.ceil(Math.log2(N)) + 2), `reads ${tree.reads}`);
  });

  it('every inclusion proof verifies; any change to a proof, index or size fails', () => {
    const pairs: [number, number][] = [];
    for (let s = 1; s <= 64; s++) for (let i = 0; i < s; i++) pairs.push([i, s]);
    for (let j = 0; j < 1500; j++) {
      const s = 1 + rand(N);
      pairs.push([rand(s), s]);
    }
    let sizeAccepts = 0;
    for (const [i, s] of pairs) {
      const proof = proveRecord(s, i, tree.reader);
      assert.deepEqual(hexes(proof), hexes(path(i, lh.slice(0, s))), `PATH(${i}, ${s})`);
      verifyInclusion(i, s, lh[i] as Uint8Array, proof, rootOf(s));
      for (const [desc, p, why] of mutations(proof, rand)) fails(() => verifyInclusion(i, s, lh[i] as Uint8Array, p, rootOf(s)), `${desc} (${i}, ${s})`, why);
      for (const i2 of new Set([i - 1, i + 1, rand(s), i ^ 1])) {
        if (i2 === i || i2 < 0 || i2 >= s) continue;
        fails(() => verifyInclusion(i2, s, lh[i] as Uint8Array, proof, rootOf(s)), `index ${i} -> ${i2} (size ${s})`);
      }
      for (const s2 of new Set([s - 1, s + 1, 2 * s, Math.floor(s / 2), i + 1 + rand(N)])) {
        if (s2 === s || s2 <= i) continue;
        const same = pathShape(i, s2) === pathShape(i, s);
        const verify = (): void => verifyInclusion(i, s2, lh[i] as Uint8Array, proof, rootOf(s));
        if (same) {
          verify();
          sizeAccepts++;
        } else fails(verify, `size ${s} -> ${s2} (index ${i})`);
      }
    }
    assert.ok(sizeAccepts > 0, 'the shape oracle was exercised both ways');
  });

  it('flipping any byte of any inclusion proof hash fails', () => {
    for (let j = 0; j < 20; j++) {
      const s = 2 + rand(N - 1);
      const i = rand(s);
      const proof = proveRecord(s, i, tree.reader);
      proof.forEach((h, k) => {
        for (let b = 0; b < 32; b++) {
          const p = proof.slice();
          p[k] = Uint8Array.from(h);
          flip(p[k] as Uint8Array, b, 0x80);
          fails(() => verifyInclusion(i, s, lh[i] as Uint8Array, p, rootOf(s)), `byte ${b} of [${k}]`, 'root-mismatch');
        }
      });
    }
  });

  it('every consistency proof verifies; any change to a proof or size fails', () => {
    const pairs: [number, number][] = [];
    for (let n = 0; n <= 48; n++) for (let m = 0; m <= n; m++) pairs.push([m, n]);
    for (let j = 0; j < 1500; j++) {
      const n = rand(N + 1);
      pairs.push([rand(n + 1), n]);
    }
    for (const [m, n] of pairs) {
      const proof = proveTree(n, m, tree.reader);
      const want = m === 0 || m === n ? [] : subproof(m, lh.slice(0, n), true);
      assert.deepEqual(hexes(proof), hexes(want), `PROOF(${m}, ${n})`);
      verifyConsistency(m, n, proof, rootOf(m), rootOf(n));
      for (const [desc, p, why] of mutations(proof, rand)) fails(() => verifyConsistency(m, n, p, rootOf(m), rootOf(n)), `${desc} (${m} -> ${n})`, why);
      if (proof.length === 0) continue;
      const sizes: [number, number][] = [[m - 1, n], [m + 1, n], [m, n + 1], [m, n - 1], [m, 2 * n], [rand(n), n], [m, m + rand(N)]];
      for (const [m2, n2] of sizes) {
        if ((m2 === m && n2 === n) || m2 < 0 || m2 > n2) continue;
        const verify = (): void => verifyConsistency(m2, n2, proof, rootOf(m), rootOf(n));
        if (consistencyShape(m2, n2) === consistencyShape(m, n)) verify();
        else fails(verify, `sizes ${m} -> ${n} changed to ${m2} -> ${n2}`);
      }
    }
  });

  it('rejects wrong roots for consistency', () => {
    for (let j = 0; j < 300; j++) {
      const n = 2 + rand(N - 1);
      const m = 1 + rand(n - 1);
      const proof = proveTree(n, m, tree.reader);
      fails(() => verifyConsistency(m, n, proof, rootOf(m - 1), rootOf(n)), `root1 of ${m - 1}`);
      fails(() => verifyConsistency(m, n, proof, rootOf(m), rootOf(n - 1)), `root2 of ${n - 1}`);
    }
  });
});

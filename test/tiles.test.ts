/**
 * C2SP tlog-tiles paths, hash tiles and entry bundles (src/tlog/tiles.ts).
 *
 * Published vectors: the examples of c2sp.org/tlog-tiles (index 1234067 is
 * x001/x234/067; the tiles of trees of size 70,000 and 256) and the tile path
 * table of golang.org/x/mod sumdb/tlog tlog_test.go, with Go's tile-height path
 * element dropped as C2SP does (Go "tile/3/5/x123/x456/078" is C2SP
 * "tile/5/x123/x456/078"; Go's data tiles "tile/H/data/..." are "tile/entries/...").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '../src/tlog/sha256.ts'; // the JavaScript SHA-256 for the spec code alone (src/tlog/crypto.ts has no default)
import { leafHash, nodeHash, storedHashIndex, storedHashes, treeHash, type HashReader } from '../src/tlog/merkle.ts';
import {
  decodeEntryBundle, encodeEntryBundle, entriesPath, parseTilePath, readHashTile, tilePath, tileWidth, treeTiles, type TileRef,
} from '../src/tlog/tiles.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('tile paths', () => {
  it('encodes the C2SP example index', () => {
    assert.equal(tilePath(0, 1234067), 'tile/0/x001/x234/067');
    assert.equal(entriesPath(1234067), 'tile/entries/x001/x234/067');
    assert.equal(tilePath(2, 0, 1), 'tile/2/000.p/1');
    assert.equal(tilePath(0, 1000, 255), 'tile/0/x001/000.p/255');
    assert.equal(entriesPath(999, 7), 'tile/entries/999.p/7');
  });

  it('round-trips the sumdb/tlog path table (C2SP form)', () => {
    const table: [string, TileRef][] = [
      ['tile/0/001', { level: 0, n: 1, width: 256 }],
      ['tile/0/001.p/5', { level: 0, n: 1, width: 5 }],
      ['tile/5/x123/x456/078', { level: 5, n: 123456078, width: 256 }],
      ['tile/5/x123/x456/078.p/2', { level: 5, n: 123456078, width: 2 }],
      ['tile/0/x003/x057/500', { level: 0, n: 3057500, width: 256 }],
      ['tile/entries/x003/x057/500', { level: 'entries', n: 3057500, width: 256 }],
      ['tile/entries/x003/x057/500.p/2', { level: 'entries', n: 3057500, width: 2 }],
      ['tile/63/000', { level: 63, n: 0, width: 256 }],
    ];
    for (const [path, tile] of table) {
      assert.deepEqual(parseTilePath(path), tile, path);
      assert.equal(tile.level === 'entries' ? entriesPath(tile.n, tile.width) : tilePath(tile.level, tile.n, tile.width), path);
    }
  });

  it('rejects malformed paths', () => {
    const bad = [
      'tile/5/123/456/078', // sumdb/tlog: elements but the last need an x
      'tile/-1/123/456/078', // sumdb/tlog
      'tile/3/5/x123/x456/078', // Go's form, with the height element
      'tile/64/000', 'tile/00/000', 'tile/01/000', 'tile/a/000', 'tile//000',
      'tile/0/1', 'tile/0/0001', 'tile/0/x001', 'tile/0/x01/000', 'tile/0/X001/000', 'tile/0/001/', 'tile/0/',
      'tile/0/x000/001', // non-canonical: 1 is 001
      'tile/0/001.p/0', 'tile/0/001.p/256', 'tile/0/001.p/05', 'tile/0/001.p/', 'tile/0/001.p', 'tile/0/001.q/5', 'tile/0/001.p/5/6',
      'tile/data/000', 'tile/entries', 'tiles/0/000', '/tile/0/000', 'tile/0/000 ', 'tile/0/x999/x999/x999/x999/x999/999',
    ];
    for (const p of bad) assert.throws(() => parseTilePath(p), SyntaxError, p);
    assert.throws(() => tilePath(64, 0));
    assert.throws(() => tilePath(0, -1));
    assert.throws(() => tilePath(0, 0, 0));
    assert.throws(() => entriesPath(0, 257));
  });
});

describe('hash tiles', () => {
  // A tree of 70,000 records, stored as a log would store it.
  const N = 70000;
  const store = new Map<number, Uint8Array>();
  const reader: HashReader = (indexes) => indexes.map((i) => store.get(i) as Uint8Array);
  const entries: Uint8Array[] = [];
  for (let n = 0; n < N; n++) {
    const e = new TextEncoder().encode(`entry ${n}`);
    entries.push(e);
    storedHashes(n, e, reader).forEach((h, j) => store.set(storedHashIndex(0, n) + j, h));
  }
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leafHash(entries[lo] as Uint8Array);
    const k = 2 ** Math.ceil(Math.log2(hi - lo) - 1);
    return nodeHash(mth(lo, lo + k), mth(lo + k, hi));
  };

  it('lists the tiles of the C2SP examples (sizes 70,000 and 256)', () => {
    const tiles = treeTiles(70000);
    const full0 = tiles.filter((t) => t.level === 0 && t.width === 256);
    assert.equal(full0.length, 273);
    assert.deepEqual(tiles.filter((t) => t.width !== 256 || t.level !== 0), [
      { level: 0, n: 273, width: 112 },
      { level: 1, n: 0, width: 256 },
      { level: 1, n: 1, width: 17 },
      { level: 2, n: 0, width: 1 },
    ]);
    assert.deepEqual(treeTiles(256), [{ level: 0, n: 0, width: 256 }, { level: 1, n: 0, width: 1 }]);
    assert.deepEqual(treeTiles(255), [{ level: 0, n: 0, width: 255 }]);
    assert.deepEqual(treeTiles(0), []);
    assert.equal(tileWidth(70000, 0, 274), 0);
  });

  it('serves level 0 tiles as the leaf hashes and the entry bundle that hashes to them', () => {
    const tile = readHashTile(N, 0, 273, reader);
    assert.equal(tile.length, 112 * 32);
    const bundle = encodeEntryBundle(entries.slice(273 * 256, N));
    const hashes = decodeEntryBundle(bundle).map(leafHash);
    assert.equal(hex(tile), hex(Buffer.concat(hashes)));
    assert.equal(hex(readHashTile(N, 0, 5, reader)), hex(Buffer.concat(entries.slice(5 * 256, 6 * 256).map(leafHash))));
  });

  it('serves higher tiles as MTH of complete 256^level subtrees', () => {
    const l1 = readHashTile(N, 1, 1, reader); // partial, width 17
    assert.equal(l1.length, 17 * 32);
    for (const i of [0, 7, 16]) {
      const lo = (256 + i) * 256;
      assert.equal(hex(l1.subarray(i * 32, (i + 1) * 32)), hex(mth(lo, lo + 256)), `hash ${i}`);
    }
    const l2 = readHashTile(N, 2, 0, reader);
    assert.equal(hex(l2), hex(treeHash(65536, reader)));
  });

  it('makes partial tiles prefixes of the full tile, and refuses hashes the tree lacks', () => {
    const full = readHashTile(N, 0, 3, reader);
    for (const w of [1, 100, 255]) assert.equal(hex(readHashTile(N, 0, 3, reader, w)), hex(full.subarray(0, w * 32)));
    assert.equal(hex(readHashTile(3 * 256 + 9, 0, 3, reader)), hex(full.subarray(0, 9 * 32))); // as served at an earlier size
    assert.throws(() => readHashTile(N, 0, 273, reader, 113), RangeError);
    assert.throws(() => readHashTile(N, 0, 274, reader), RangeError);
    assert.throws(() => readHashTile(N, 3, 0, reader), RangeError);
    assert.throws(() => readHashTile(N, 64, 0, reader), RangeError);
  });
});

describe('entry bundles', () => {
  it('prefixes each entry with its big-endian uint16 length', () => {
    const long = new Uint8Array(300).fill(7);
    const b = encodeEntryBundle([new Uint8Array(), Uint8Array.of(0x61), long]);
    assert.equal(hex(b.subarray(0, 7)), '0000' + '000161' + '012c');
    assert.equal(b.length, 2 + 3 + 302);
    assert.deepEqual(decodeEntryBundle(b).map(hex), ['', '61', hex(long)]);
    assert.equal(decodeEntryBundle(encodeEntryBundle([new Uint8Array(0xffff)]))[0]?.length, 0xffff);
    assert.throws(() => encodeEntryBundle([new Uint8Array(0x10000)]), RangeError);
    assert.throws(() => encodeEntryBundle(Array.from({ length: 257 }, () => new Uint8Array())), RangeError);
    assert.throws(() => decodeEntryBundle(Uint8Array.of(0x00)), SyntaxError);
    assert.throws(() => decodeEntryBundle(Uint8Array.of(0x00, 0x02, 0x61)), SyntaxError);
  });
});

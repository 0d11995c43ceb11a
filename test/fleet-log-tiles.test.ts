/**
 * The fleet's log is served as C2SP tlog-tiles too (issue 11, point 4): the sequencer
 * (and the authority with --pg) answer /tile/... from PostgreSQL with the one route
 * module of every log. From the outside: the level-0 tiles give the root of the signed
 * checkpoint, the entry bundles hash to the level-0 tiles, the level-1 tile is the root of
 * the first 256 leaves; tiles beyond the checkpoint are 404, malformed paths 400.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts';
import { EMPTY_TREE_HASH, leafHash, nodeHash } from '../src/tlog/merkle.ts';
import { decodeEntryBundle, entriesPath, tilePath } from '../src/tlog/tiles.ts';
import { allowedRequest, TestFleet } from './fleet-harness.ts';
import { waitCheckpoint } from './fleet-ledger.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** RFC 6962 MTH over leaf hashes, computed here (not from the stored tree). */
function mth(leaves: Uint8Array[], lo = 0, hi = leaves.length): Uint8Array {
  const n = hi - lo;
  if (n === 0) return Uint8Array.from(EMPTY_TREE_HASH);
  if (n === 1) return leaves[lo] as Uint8Array;
  let k = 1;
  while (k * 2 < n) k *= 2;
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

const split = (tile: Uint8Array): Uint8Array[] => Array.from({ length: tile.length / 32 }, (_, i) => tile.slice(i * 32, (i + 1) * 32));

describe('fleet log: C2SP tiles from the sequencer and the authority', { timeout: 180_000 }, () => {
  let f: TestFleet;
  before(async () => {
    f = await TestFleet.start({ nodes: 1, sequencer: true, authorityPg: true });
  });
  after(async () => {
    await f?.close();
  });

  it('the tiles of the latest checkpoint recompute its root; entry bundles hash to the level-0 tiles', async () => {
    const n1 = f.node('n1');
    // more than one full tile of leaves
    for (let i = 0; i < 270; i += 30) {
      const ds = await Promise.all(Array.from({ length: 30 }, (_, j) => f.authorize(n1, allowedRequest(i + j))));
      assert.ok(ds.every((d) => d.body.decision === 'allow'), JSON.stringify(ds.find((d) => d.body.decision !== 'allow')?.body));
    }
    const size = await f.waitSequenced();
    assert.ok(size > 256, `${size} entries`);
    const cp = await waitCheckpoint(f, size, 15_000);
    assert.ok(cp.size >= size);

    for (const base of [f.sequencer?.url, f.authority.url]) {
      const get = async (path: string) => {
        const res = await fetch(`${base}/${path}`);
        return { status: res.status, cache: res.headers.get('cache-control') ?? '', type: res.headers.get('content-type') ?? '', body: new Uint8Array(await res.arrayBuffer()) };
      };
      const full = Math.floor(cp.size / 256);
      const rest = cp.size % 256;
      const leaves: Uint8Array[] = [];
      for (let n = 0; n <= full; n++) {
        const width = n < full ? 256 : rest;
        if (width === 0) break;
        const tile = await get(tilePath(0, n, width));
        assert.equal(tile.status, 200, `${base}: ${tilePath(0, n, width)}`);
        assert.equal(tile.type, 'application/octet-stream');
        assert.equal(tile.cache, width === 256 ? 'public, max-age=31536000, immutable' : 'no-store');
        assert.equal(tile.body.length, width * 32);
        const hashes = split(tile.body);
        const bundle = await get(entriesPath(n, width));
        assert.equal(bundle.status, 200, `${base}: ${entriesPath(n, width)}`);
        assert.deepEqual(decodeEntryBundle(bundle.body).map((e) => hex(leafHash(e))), hashes.map(hex), `${base}: entry bundle ${n} hashes to tile 0/${n}`);
        leaves.push(...hashes);
      }
      assert.equal(hex(mth(leaves)), hex(cp.rootHash), `${base}: the level-0 tiles give the root of the signed checkpoint of size ${cp.size}`);
      const level1 = await get(tilePath(1, 0, full));
      assert.equal(level1.status, 200);
      assert.deepEqual(split(level1.body).map(hex), Array.from({ length: full }, (_, n) => hex(mth(leaves, n * 256, (n + 1) * 256))), `${base}: tile 1/0 holds the roots of the full level-0 tiles`);

      // beyond the checkpoint: 404; malformed: 400 bad_tile_path
      for (const path of [tilePath(0, full + 1, 1), entriesPath(full + 1, 1), tilePath(2, 0, 1)]) assert.equal((await get(path)).status, 404, `${base}: ${path}`);
      const bad = await fetch(`${base}/tile/0/1`);
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: string }).error, 'bad_tile_path');
    }
  });
});

/**
 * Tiles and entry bundles, as specified by C2SP tlog-tiles (c2sp.org/tlog-tiles).
 *
 * A tile is a run of consecutive Merkle Tree Hashes at one height. The n-th
 * tile at level l holds, for i from 0 to 255,
 *
 *     MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l])
 *
 * that is, the hashes of complete subtrees of height 8·l, concatenated: 32 bytes
 * each, 8,192 bytes for a full tile. Those are exactly the stored hashes at
 * storedHashIndex(8·l, n·256 + i) (./merkle.ts). The rightmost tiles of a tree
 * are partial: at level l a tree of size s has floor(s / 256^l) mod 256 hashes
 * in its partial tile; empty tiles do not exist.
 *
 * Tiles are served at tile/<L>/<N>[.p/<W>], entry bundles at
 * tile/entries/<N>[.p/<W>]:
 *   - <L> is the level, decimal 0..63 with no leading zeroes;
 *   - <N> is the tile index in zero-padded 3-digit path elements, all but the
 *     last prefixed with 'x' (1234067 is x001/x234/067);
 *   - .p/<W> marks a partial tile of width W, decimal 1..255 with no leading zeroes.
 * parseTilePath also rejects a redundant leading x000 element, so that every
 * tile has exactly one path.
 *
 * An entry bundle is the log entries of the matching level-0 tile, each as a
 * big-endian uint16 length followed by the entry bytes.
 */
import { HASH_SIZE, storedHashIndex, type HashReader } from './merkle.ts';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const MAX_TILE_LEVEL = 63;
export const MAX_BUNDLE_ENTRY = 0xffff;

export interface TileRef {
  /** hash tile level; 'entries' for an entry bundle */
  level: number | 'entries';
  n: number;
  /** 1..256; 256 is a full tile */
  width: number;
}

function checkTile(level: number | 'entries', n: number, width: number): void {
  if (level !== 'entries' && (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL)) {
    throw new RangeError(`tile level ${level} out of range`);
  }
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`tile index ${n} out of range`);
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new RangeError(`tile width ${width} out of range`);
}

/** <N> as 3-digit path elements: 1234067 → x001/x234/067. */
function encodeIndex(n: number): string {
  let path = String(n % 1000).padStart(3, '0');
  for (n = Math.floor(n / 1000); n > 0; n = Math.floor(n / 1000)) {
    path = `x${String(n % 1000).padStart(3, '0')}/${path}`;
  }
  return path;
}

function suffix(width: number): string {
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/** tile/<L>/<N>[.p/<W>] */
export function tilePath(level: number, n: number, width: number = TILE_WIDTH): string {
  checkTile(level, n, width);
  return `tile/${level}/${encodeIndex(n)}${suffix(width)}`;
}

/** tile/entries/<N>[.p/<W>] */
export function entriesPath(n: number, width: number = TILE_WIDTH): string {
  checkTile('entries', n, width);
  return `tile/entries/${encodeIndex(n)}${suffix(width)}`;
}

const LEVEL = /^(0|[1-9][0-9]?)$/;
const WIDTH = /^[1-9][0-9]{0,2}$/;

/** Parses tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]; throws on anything else. */
export function parseTilePath(path: string): TileRef {
  const bad = (): Error => new SyntaxError(`malformed tile path ${JSON.stringify(path)}`);
  const parts = path.split('/');
  if (parts.length < 3 || parts[0] !== 'tile') throw bad();
  const levelPart = parts[1] as string;
  let level: number | 'entries';
  if (levelPart === 'entries') level = 'entries';
  else if (LEVEL.test(levelPart) && Number(levelPart) <= MAX_TILE_LEVEL) level = Number(levelPart);
  else throw bad();

  let rest = parts.slice(2);
  let width = TILE_WIDTH;
  if (rest.length >= 2 && (rest[rest.length - 2] as string).endsWith('.p')) {
    const w = rest[rest.length - 1] as string;
    if (!WIDTH.test(w) || Number(w) >= TILE_WIDTH) throw bad();
    width = Number(w);
    rest = rest.slice(0, -1);
    rest[rest.length - 1] = (rest[rest.length - 1] as string).slice(0, -2);
  }
  let n = 0;
  for (let i = 0; i < rest.length; i++) {
    const elem = rest[i] as string;
    const last = i === rest.length - 1;
    const digits = last ? elem : elem.slice(1);
    if ((!last && elem[0] !== 'x') || !/^[0-9]{3}$/.test(digits)) throw bad();
    if (i === 0 && !last && digits === '000') throw bad(); // not canonical
    n = n * 1000 + Number(digits);
  }
  if (!Number.isSafeInteger(n)) throw bad();
  return { level, n, width };
}

/**
 * How many hashes tile (level, n) holds in the tree of the given size:
 * 256 if full, 1..255 if it is the partial tile, 0 if it does not exist yet.
 * For level 0 this is also the width of entry bundle n.
 */
export function tileWidth(treeSize: number, level: number, n: number): number {
  const hashesAtLevel = Math.floor(treeSize / TILE_WIDTH ** level);
  return Math.max(0, Math.min(TILE_WIDTH, hashesAtLevel - n * TILE_WIDTH));
}

/** Every hash tile of the tree of the given size, full and partial, level by level. */
export function treeTiles(treeSize: number): TileRef[] {
  const tiles: TileRef[] = [];
  for (let level = 0; level <= MAX_TILE_LEVEL && Math.floor(treeSize / TILE_WIDTH ** level) > 0; level++) {
    const count = Math.floor(treeSize / TILE_WIDTH ** level);
    for (let n = 0; n * TILE_WIDTH < count; n++) tiles.push({ level, n, width: tileWidth(treeSize, level, n) });
  }
  return tiles;
}

/**
 * The bytes of hash tile (level, n) in the tree of size treeSize: its hashes
 * concatenated. `width` defaults to the tile's width in that tree; a smaller
 * width gives the partial tile of an earlier tree size. Throws if the tree
 * does not contain that many hashes of the tile.
 */
export function readHashTile(treeSize: number, level: number, n: number, reader: HashReader, width?: number): Uint8Array {
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new RangeError(`invalid tree size ${treeSize}`);
  checkTile(level, n, width ?? TILE_WIDTH);
  const have = tileWidth(treeSize, level, n);
  const w = width ?? have;
  if (have === 0 || w > have) {
    throw new RangeError(`tile ${level}/${n} has ${have} hashes in the tree of size ${treeSize}, not ${w}`);
  }
  const indexes: number[] = [];
  for (let i = 0; i < w; i++) indexes.push(storedHashIndex(TILE_HEIGHT * level, n * TILE_WIDTH + i));
  const hashes = reader(indexes);
  if (hashes.length !== w || hashes.some((h) => h.length !== HASH_SIZE)) throw new Error('tiles: HashReader returned wrong hashes');
  const out = new Uint8Array(w * HASH_SIZE);
  hashes.forEach((h, i) => out.set(h, i * HASH_SIZE));
  return out;
}

/** An entry bundle: each entry as a big-endian uint16 length, then its bytes. */
export function encodeEntryBundle(entries: Uint8Array[]): Uint8Array {
  if (entries.length > TILE_WIDTH) throw new RangeError(`entry bundle of ${entries.length} entries`);
  let size = 0;
  for (const e of entries) {
    if (e.length > MAX_BUNDLE_ENTRY) throw new RangeError(`entry of ${e.length} bytes does not fit a uint16 length`);
    size += 2 + e.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const e of entries) {
    out[off] = e.length >> 8;
    out[off + 1] = e.length & 0xff;
    out.set(e, off + 2);
    off += 2 + e.length;
  }
  return out;
}

/** Splits an entry bundle into its entries; throws if it is truncated. */
export function decodeEntryBundle(bundle: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  for (let off = 0; off < bundle.length; ) {
    if (off + 2 > bundle.length) throw new SyntaxError('truncated entry bundle');
    const len = ((bundle[off] as number) << 8) | (bundle[off + 1] as number);
    if (off + 2 + len > bundle.length) throw new SyntaxError('truncated entry bundle');
    entries.push(bundle.slice(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return entries;
}

/**
 * Checkpoints, as specified by C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint):
 * the text of a signed note (./note.ts) stating a log's tree head.
 *
 * The note text is at least three non-empty lines, each ending in a newline:
 *
 *   1. the origin, a non-empty identifier of the log (SHOULD be a schema-less
 *      URL without spaces or '+'; clients must not assume so);
 *   2. the tree size, in ASCII decimal without leading zeroes ("0" when empty);
 *   3. the root hash, the standard base64 of the 32-byte RFC 6962 Merkle Tree Hash;
 *
 * followed by optional, opaque, non-empty extension lines (NOT RECOMMENDED).
 * The log's key name in its signature line should match the origin.
 *
 * parseCheckpoint is strict: the text must end in a newline, contain no control
 * characters other than newline, the size must be canonical decimal within the
 * safe-integer range, and the hash canonical base64 of exactly 32 bytes.
 */
import { decodeBase64, encodeBase64 } from './base64.ts';
import { WritError } from '../writ/errors.ts';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** opaque extension lines, without their newlines */
  extensions?: string[];
}

export class CheckpointError extends WritError {
  constructor(message: string) {
    super('checkpoint_invalid', message);
    this.name = 'CheckpointError';
  }
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

/** Parses a canonical non-negative decimal (no sign, no leading zeroes) that is a safe integer. */
export function parseDecimal(s: string): number | undefined {
  if (!DECIMAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The checkpoint note text: "<origin>\n<size>\n<base64 root>\n" plus any extension lines. */
export function formatCheckpoint(c: Checkpoint): string {
  if (c.origin === '' || hasControl(c.origin)) throw new CheckpointError('origin must be a non-empty line');
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new CheckpointError(`invalid tree size ${c.size}`);
  if (c.rootHash.length !== 32) throw new CheckpointError(`root hash of ${c.rootHash.length} bytes, want 32`);
  const ext = c.extensions ?? [];
  for (const line of ext) {
    if (line === '' || hasControl(line)) throw new CheckpointError('extension lines must be non-empty lines');
  }
  return [c.origin, String(c.size), encodeBase64(c.rootHash), ...ext].map((l) => `${l}\n`).join('');
}

/** Parses checkpoint note text (the note's text, not the signed note). Throws CheckpointError. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new CheckpointError('checkpoint must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointError('checkpoint has fewer than three lines');
  if (lines.some((l) => l === '')) throw new CheckpointError('checkpoint has an empty line');
  if (lines.some(hasControl)) throw new CheckpointError('checkpoint has a control character');
  const [origin, sizeLine, hashLine, ...extensions] = lines as [string, string, string, ...string[]];
  const size = parseDecimal(sizeLine);
  if (size === undefined) throw new CheckpointError(`malformed tree size ${JSON.stringify(sizeLine)}`);
  const rootHash = decodeBase64(hashLine);
  if (!rootHash || rootHash.length !== 32) throw new CheckpointError(`malformed root hash ${JSON.stringify(hashLine)}`);
  return extensions.length > 0 ? { origin, size, rootHash, extensions } : { origin, size, rootHash };
}

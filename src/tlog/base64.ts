/**
 * Standard base64 (RFC 4648 §4) with padding, in plain JavaScript for any runtime (no Buffer).
 * decodeBase64 accepts only the canonical encoding: the one encodeBase64 gives, so non-zero
 * padding bits are refused (stricter than Go's encoding/base64).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

export function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += ALPHABET[v >>> 18]! + ALPHABET[(v >>> 12) & 63]! + ALPHABET[(v >>> 6) & 63]! + ALPHABET[v & 63]!;
  }
  if (n - i === 1) {
    const v = (bytes[i] as number) << 16;
    out += `${ALPHABET[v >>> 18]}${ALPHABET[(v >>> 12) & 63]}==`;
  } else if (n - i === 2) {
    const v = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += `${ALPHABET[v >>> 18]}${ALPHABET[(v >>> 12) & 63]}${ALPHABET[(v >>> 6) & 63]}=`;
  }
  return out;
}

/** Decodes canonical standard base64 (RFC 4648 §4); undefined if `s` is not that. */
export function decodeBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const c = (k: number): number => (s[i + k] === '=' ? 0 : (VALUE[s.charCodeAt(i + k)] as number));
    const v = (c(0) << 18) | (c(1) << 12) | (c(2) << 6) | c(3);
    out[o++] = v >>> 16;
    if (o < out.length) out[o++] = (v >>> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  // canonical: re-encoding gives the same text (zero padding bits)
  return encodeBase64(out) === s ? out : undefined;
}

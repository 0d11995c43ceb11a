/**
 * Witness cosignatures, as specified by C2SP tlog-cosignature (c2sp.org/tlog-cosignature),
 * the Ed25519 `cosignature/v1` type only.
 *
 * A cosignature is a signed-note signature line (./note.ts) on a checkpoint:
 *
 *     — <cosigner name> base64(4-byte key ID || u64 big-endian timestamp || 64-byte Ed25519 signature)
 *
 * The key ID is the first 4 bytes of SHA-256(name || 0x0A || 0x04 || 32-byte public key):
 * algorithm byte 0x04, not the 0x01 of a plain Ed25519 note key, so one key can never be
 * mistaken for the other. The signed message is
 *
 *     cosignature/v1\n
 *     time <timestamp, decimal, no leading zeroes>\n
 *     <the checkpoint note text, up to and including its last newline>
 *
 * The timestamp is POSIX seconds and must not exceed 2^63 - 1. The statement it makes: as
 * of that time, this is the largest consistent tree the cosigner has seen for the origin.
 *
 * Keys are written as signed-note keys with algorithm byte 0x04:
 *
 *     verifier key:  <name>+<8 hex digit key ID>+base64(0x04 || public key)
 *     signer key:    PRIVATE+KEY+<name>+<8 hex digit key ID>+base64(0x04 || seed)
 *
 * newCosignatureVerifier returns a NoteVerifier, so openNote checks a log signature and
 * any number of cosignatures in one pass; verifyCosignatures counts the distinct pinned
 * witnesses that cosigned a note, for K-of-N policies.
 *
 * Runtime-neutral like the rest of src/tlog/: Ed25519 and SHA-256 come from ./crypto.ts.
 */
import { WritError } from '../writ/errors.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { ed25519 } from './crypto.ts';
import { isValidKeyName, keyId, NoteError, openNote, type Note, type NoteVerifier } from './note.ts';

export const ALG_COSIGNATURE_V1 = 0x04;
const HEADER = 'cosignature/v1\n';
const MAX_TIMESTAMP = 2n ** 63n - 1n;
const utf8 = new TextEncoder();

export type CosignatureErrorCode = 'bad-key' | 'bad-timestamp' | 'witness-policy';

export class CosignatureError extends WritError {
  override readonly code: CosignatureErrorCode;
  constructor(code: CosignatureErrorCode, message: string) {
    super(code, message);
    this.name = 'CosignatureError';
    this.code = code;
  }
}

/** A cosigner: signs checkpoint note texts at a given time (POSIX seconds). */
export interface Cosigner {
  readonly name: string;
  readonly keyId: number;
  /** the verifier key string, 0x04 form */
  readonly verifierKey: string;
  /** the note signature line `— name base64(...)\n` cosigning `text` at `timestamp` */
  cosign(text: string, timestamp: number): string;
}

const hex8 = (id: number): string => id.toString(16).padStart(8, '0');

function chop(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** The message a cosignature/v1 signs: header, time line, then the checkpoint note text. */
export function cosignedMessage(text: string, timestamp: number | bigint): Uint8Array {
  const t = BigInt(timestamp);
  if (t < 0n || t > MAX_TIMESTAMP) throw new CosignatureError('bad-timestamp', `timestamp ${t} is outside 0..2^63-1`);
  if (!text.endsWith('\n')) throw new NoteError('malformed', 'checkpoint text must end in a newline');
  return utf8.encode(`${HEADER}time ${t}\n${text}`);
}

/** The cosignature/v1 key ID: SHA-256(name || 0x0A || 0x04 || public key)[:4]. */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): number {
  return keyId(name, Uint8Array.of(ALG_COSIGNATURE_V1, ...publicKey));
}

/** The cosigner verifier key string for a raw 32-byte Ed25519 public key. */
export function cosignatureVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new CosignatureError('bad-key', `invalid key name ${JSON.stringify(name)}`);
  if (publicKey.length !== 32) throw new CosignatureError('bad-key', `Ed25519 public key of ${publicKey.length} bytes`);
  return `${name}+${hex8(cosignatureKeyId(name, publicKey))}+${encodeBase64(Uint8Array.of(ALG_COSIGNATURE_V1, ...publicKey))}`;
}

/** The cosigner signer key string for a 32-byte Ed25519 seed. */
export function cosignatureSignerKey(name: string, seed: Uint8Array): string {
  if (seed.length !== 32) throw new CosignatureError('bad-key', `Ed25519 seed of ${seed.length} bytes`);
  if (!isValidKeyName(name)) throw new CosignatureError('bad-key', `invalid key name ${JSON.stringify(name)}`);
  const id = cosignatureKeyId(name, ed25519().signer(seed).publicKey);
  return `PRIVATE+KEY+${name}+${hex8(id)}+${encodeBase64(Uint8Array.of(ALG_COSIGNATURE_V1, ...seed))}`;
}

/** A new cosigner key pair for `name`. */
export function generateCosignerKey(name: string): { signerKey: string; verifierKey: string } {
  const seed = globalThis.crypto.getRandomValues(new Uint8Array(32));
  return { signerKey: cosignatureSignerKey(name, seed), verifierKey: cosignatureVerifierKey(name, ed25519().signer(seed).publicKey) };
}

/** Parses a cosigner signer key (0x04). Throws CosignatureError('bad-key'). */
export function newCosigner(skey: string): Cosigner {
  const [priv1, r1] = chop(skey, '+');
  const [priv2, r2] = chop(r1, '+');
  const [name, r3] = chop(r2, '+');
  const [id16, key64] = chop(r3, '+');
  const key = decodeBase64(key64);
  const bad = (why: string): CosignatureError => new CosignatureError('bad-key', `malformed cosigner signer key: ${why}`);
  if (priv1 !== 'PRIVATE' || priv2 !== 'KEY' || !/^[0-9a-fA-F]{8}$/.test(id16) || !key || !isValidKeyName(name)) throw bad('syntax');
  if (key[0] !== ALG_COSIGNATURE_V1) throw bad(`algorithm byte ${key[0]}, want 0x04 (cosignature/v1)`);
  if (key.length !== 33) throw bad('Ed25519 seed is not 32 bytes');
  const ed = ed25519().signer(key.subarray(1));
  const id = parseInt(id16, 16);
  if (id !== cosignatureKeyId(name, ed.publicKey)) throw bad('key ID does not match key');
  const verifierKey = cosignatureVerifierKey(name, ed.publicKey);
  return {
    name,
    keyId: id,
    verifierKey,
    cosign(text, timestamp) {
      const sig = ed.sign(cosignedMessage(text, timestamp));
      const out = new Uint8Array(4 + 8 + 64);
      const view = new DataView(out.buffer);
      view.setUint32(0, id);
      view.setBigUint64(4, BigInt(timestamp));
      out.set(sig, 12);
      return `\u2014 ${name} ${encodeBase64(out)}\n`;
    },
  };
}

/**
 * Parses a cosigner verifier key (0x04) into a NoteVerifier: given the note text and the
 * signature bytes after the key ID (timestamp || signature), it rebuilds the cosigned message.
 * Throws CosignatureError('bad-key').
 */
export function newCosignatureVerifier(vkey: string): NoteVerifier {
  const [name, rest] = chop(vkey, '+');
  const [id16, key64] = chop(rest, '+');
  const key = decodeBase64(key64);
  const bad = (why: string): CosignatureError => new CosignatureError('bad-key', `malformed witness key ${JSON.stringify(vkey)}: ${why}`);
  if (!/^[0-9a-fA-F]{8}$/.test(id16) || !key || !isValidKeyName(name)) throw bad('syntax');
  if (key[0] !== ALG_COSIGNATURE_V1) throw bad(`algorithm byte ${key[0]}, want 0x04 (cosignature/v1)`);
  if (key.length !== 33) throw bad('Ed25519 key is not 32 bytes');
  const id = parseInt(id16, 16);
  if (id !== cosignatureKeyId(name, key.subarray(1))) throw bad('key ID does not match key');
  const verify = ed25519().verifier(key.subarray(1));
  const textDecoder = new TextDecoder();
  return {
    name,
    keyId: id,
    verify(msg, sig) {
      if (sig.length !== 8 + 64) return false;
      const t = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0);
      if (t > MAX_TIMESTAMP) return false;
      return verify(cosignedMessage(textDecoder.decode(msg), t), sig.subarray(8));
    },
  };
}

/** The timestamp of a cosignature line's base64 (key ID || timestamp || signature), or undefined. */
export function cosignatureTimestamp(base64: string): number | undefined {
  const b = decodeBase64(base64);
  if (!b || b.length !== 4 + 8 + 64) return undefined;
  const t = new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(4);
  return t > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(t);
}

export interface WitnessPolicyResult {
  /** the pinned witnesses (by name+key ID) whose cosignature verified, each once */
  witnesses: { name: string; keyId: number; timestamp: number | undefined }[];
  min: number;
  ok: boolean;
}

/**
 * Counts the distinct pinned witnesses that cosigned the signed note `note` (which must
 * also carry a valid signature by `logVerifier`). A pinned witness's cosignature that does
 * not verify makes the note invalid (openNote fails closed: NoteError 'invalid-signature');
 * unknown signatures are ignored. ok is true when at least `min` pinned witnesses cosigned.
 */
export function verifyCosignatures(note: string, logVerifier: NoteVerifier, witnessKeys: string[], min: number): WitnessPolicyResult & { note: Note } {
  if (!Number.isSafeInteger(min) || min < 0) throw new CosignatureError('witness-policy', `invalid minimum number of witnesses ${min}`);
  const witnesses = witnessKeys.map(newCosignatureVerifier);
  const ids = new Set(witnesses.map((w) => `${w.name}+${hex8(w.keyId)}`));
  if (ids.size !== witnesses.length) throw new CosignatureError('witness-policy', 'a witness key is given twice');
  if (min > witnesses.length) throw new CosignatureError('witness-policy', `${min} witnesses required but only ${witnesses.length} witness keys given`);
  const opened = openNote(note, [logVerifier, ...witnesses]);
  const logId = `${logVerifier.name}+${hex8(logVerifier.keyId)}`;
  if (!opened.sigs.some((s) => `${s.name}+${hex8(s.keyId)}` === logId)) throw new NoteError('unverified', 'the note is not signed by the log key');
  const found = opened.sigs
    .filter((s) => ids.has(`${s.name}+${hex8(s.keyId)}`))
    .map((s) => ({ name: s.name, keyId: s.keyId, timestamp: cosignatureTimestamp(s.base64) }));
  return { witnesses: found, min, ok: found.length >= min, note: opened };
}

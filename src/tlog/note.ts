/**
 * Signed notes, as specified by C2SP signed-note (c2sp.org/signed-note) and
 * implemented by golang.org/x/mod/sumdb/note, with Ed25519 keys only.
 *
 * A signed note is a text ending in a newline, a blank line, then one or more
 * signature lines: em dash (U+2014), space, key name, space, base64 signature,
 * newline. The whole note must be valid UTF-8 without ASCII control characters
 * other than newline. The text is everything up to and including the newline
 * before the last blank line. A signature is base64(key ID || signature): a
 * 4-byte big-endian key ID, then the signature of the text bytes (Ed25519:
 * 64 bytes, RFC 8032).
 *
 * Key names are non-empty and contain neither Unicode spaces nor plus signs.
 * An Ed25519 key's ID is the first 4 bytes of
 * SHA-256(name || 0x0A || 0x01 || 32-byte public key). Keys are written
 *
 *     verifier key:  <name>+<8 hex digit key ID>+base64(0x01 || public key)
 *     signer key:    PRIVATE+KEY+<name>+<8 hex digit key ID>+base64(0x01 || seed)
 *
 * Opening a note: signatures whose (name, key ID) match no known key are kept
 * as unverified and otherwise ignored; a known key's signature must verify, or
 * the whole note is rejected; at least one known key must have signed. Repeated
 * signatures by one key are dropped, as are repeated identical unknown ones.
 * More than 100 signature lines make the note malformed (the spec requires
 * accepting at least 16). Base64 must be canonical standard encoding (RFC 4648
 * §4); this is stricter than Go, which accepts non-zero padding bits.
 *
 * Runtime-neutral (docs/architecture.md): SHA-256 and Ed25519 are the ones installed in
 * ./crypto.ts (node:crypto's in Node, src/ledger/node-crypto.ts), base64 is ./base64.ts.
 */
import { WritError } from '../writ/errors.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { ed25519, sha256 } from './crypto.ts';

export { decodeBase64, encodeBase64 } from './base64.ts';

const ALG_ED25519 = 0x01;
const MAX_SIGNATURES = 100;
const SIG_PREFIX = '\u2014 '; // em dash, space
const utf8 = new TextEncoder();

export type NoteErrorCode = 'malformed' | 'bad-key' | 'invalid-signer' | 'ambiguous-key' | 'invalid-signature' | 'unverified';

export class NoteError extends WritError {
  override readonly code: NoteErrorCode;
  /** for 'unverified': the parsed note, none of whose signatures is by a known key */
  readonly note?: Note;
  constructor(code: NoteErrorCode, message: string, note?: Note) {
    super(code, message);
    this.name = 'NoteError';
    this.code = code;
    if (note) this.note = note;
  }
}

const malformed = (): NoteError => new NoteError('malformed', 'malformed note');

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(msg: Uint8Array): Uint8Array;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** base64(key ID || signature), as in the note */
  base64: string;
}

export interface Note {
  text: string;
  sigs: NoteSignature[];
  unverifiedSigs: NoteSignature[];
}

/** A valid key name is non-empty, well-formed, and has no Unicode space (Go's unicode.IsSpace) or '+'. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && name.isWellFormed() && !/[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]/.test(name);
}

/** The key ID: the first 4 bytes, big-endian, of SHA-256(name || 0x0A || encoded key). */
export function keyId(name: string, key: Uint8Array): number {
  return readUint32(sha256(utf8.encode(`${name}\n`), key), 0);
}

const readUint32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);

const hex8 = (id: number): string => id.toString(16).padStart(8, '0');

/** Splits s at the first `sep`; [s, ''] if absent (Go's chop). */
function chop(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** Parses a verifier key `<name>+<hex key ID>+<base64 key>`. Throws NoteError('bad-key'). */
export function newVerifier(vkey: string): NoteVerifier {
  const [name, rest] = chop(vkey, '+');
  const [id16, key64] = chop(rest, '+');
  const key = decodeBase64(key64);
  const bad = (why: string): NoteError => new NoteError('bad-key', `malformed verifier key: ${why}`);
  if (!/^[0-9a-fA-F]{8}$/.test(id16) || !key || key.length === 0 || !isValidKeyName(name)) throw bad('syntax');
  const id = parseInt(id16, 16);
  if (id !== keyId(name, key)) throw bad('key ID does not match key');
  if (key[0] !== ALG_ED25519) throw bad('unknown algorithm');
  if (key.length !== 33) throw bad('Ed25519 key is not 32 bytes');
  const verify = ed25519().verifier(key.subarray(1));
  return { name, keyId: id, verify: (msg, sig) => sig.length === 64 && verify(msg, sig) };
}

/** Parses a signer key `PRIVATE+KEY+<name>+<hex key ID>+<base64 seed>`. Throws NoteError('bad-key'). */
export function newSigner(skey: string): NoteSigner {
  const [priv1, r1] = chop(skey, '+');
  const [priv2, r2] = chop(r1, '+');
  const [name, r3] = chop(r2, '+');
  const [id16, key64] = chop(r3, '+');
  const key = decodeBase64(key64);
  const bad = (why: string): NoteError => new NoteError('bad-key', `malformed signer key: ${why}`);
  if (priv1 !== 'PRIVATE' || priv2 !== 'KEY' || !/^[0-9a-fA-F]{8}$/.test(id16) || !key || key.length === 0 || !isValidKeyName(name)) {
    throw bad('syntax');
  }
  if (key[0] !== ALG_ED25519) throw bad('unknown algorithm');
  if (key.length !== 33) throw bad('Ed25519 seed is not 32 bytes');
  const ed = ed25519().signer(key.subarray(1));
  // The ID is of the public key: derive it, then check.
  const id = parseInt(id16, 16);
  if (id !== keyId(name, Uint8Array.of(ALG_ED25519, ...ed.publicKey))) throw bad('key ID does not match key');
  return { name, keyId: id, sign: (msg) => ed.sign(msg) };
}

/** The verifier key string for a raw 32-byte Ed25519 public key. */
export function ed25519VerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new NoteError('bad-key', `invalid key name ${JSON.stringify(name)}`);
  if (publicKey.length !== 32) throw new NoteError('bad-key', `Ed25519 public key of ${publicKey.length} bytes`);
  const key = Uint8Array.of(ALG_ED25519, ...publicKey);
  return `${name}+${hex8(keyId(name, key))}+${encodeBase64(key)}`;
}

/** The signer key string for a 32-byte Ed25519 seed (RFC 8032 private key). */
export function ed25519SignerKey(name: string, seed: Uint8Array): string {
  if (seed.length !== 32) throw new NoteError('bad-key', `Ed25519 seed of ${seed.length} bytes`);
  if (!isValidKeyName(name)) throw new NoteError('bad-key', `invalid key name ${JSON.stringify(name)}`);
  const id = keyId(name, Uint8Array.of(ALG_ED25519, ...ed25519().signer(seed).publicKey));
  return `PRIVATE+KEY+${name}+${hex8(id)}+${encodeBase64(Uint8Array.of(ALG_ED25519, ...seed))}`;
}

/** The verifier key of a signer key, derived from its seed (so the two cannot disagree). */
export function verifierKeyOf(skey: string): string {
  const signer = newSigner(skey); // validates syntax, algorithm and key ID
  const seed = (decodeBase64(skey.split('+').slice(4).join('+')) as Uint8Array).subarray(1); // base64 may hold '+'
  return ed25519VerifierKey(signer.name, ed25519().signer(seed).publicKey);
}

/** A new Ed25519 key pair for `name`, as signer and verifier key strings. */
export function generateKey(name: string): { signerKey: string; verifierKey: string } {
  const seed = globalThis.crypto.getRandomValues(new Uint8Array(32)); // an Ed25519 private key is 32 random bytes
  const signerKey = ed25519SignerKey(name, seed);
  return { signerKey, verifierKey: ed25519VerifierKey(name, ed25519().signer(seed).publicKey) };
}

/** Checks the note-wide rules: well-formed text with no control characters but newline. */
function isNoteText(s: string): boolean {
  if (!s.isWellFormed()) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return false;
  }
  return true;
}

/**
 * Signs `text` (which must end in a newline) with each signer and returns the
 * signed note: text, blank line, one signature line per signer.
 */
export function signNote(text: string, signers: NoteSigner[]): string {
  if (!text.endsWith('\n') || !isNoteText(text)) throw malformed();
  const msg = utf8.encode(text);
  let sigs = '';
  for (const s of signers) {
    if (!isValidKeyName(s.name) || !Number.isInteger(s.keyId) || s.keyId < 0 || s.keyId > 0xffffffff) {
      throw new NoteError('invalid-signer', 'invalid signer');
    }
    const sig = s.sign(msg);
    const line = new Uint8Array(4 + sig.length);
    new DataView(line.buffer).setUint32(0, s.keyId);
    line.set(sig, 4);
    sigs += `${SIG_PREFIX}${s.name} ${encodeBase64(line)}\n`;
  }
  return `${text}\n${sigs}`;
}

/**
 * Parses the signed note `msg` and checks its signatures against the known
 * verifiers. Returns the note with its verified and unverified signatures, or
 * throws NoteError: 'malformed', 'ambiguous-key' (two known keys share a name
 * and ID), 'invalid-signature' (a known key's signature fails), or 'unverified'
 * (no known key signed; the parsed note is on the error).
 */
export function openNote(msg: Uint8Array | string, verifiers: NoteVerifier[]): Note {
  let all: string;
  if (typeof msg === 'string') {
    all = msg;
  } else {
    try {
      all = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(msg);
    } catch {
      throw malformed();
    }
  }
  if (!isNoteText(all)) throw malformed();

  // Must end with a signature block preceded by a blank line.
  const split = all.lastIndexOf('\n\n');
  if (split < 0) throw malformed();
  const text = all.slice(0, split + 1);
  let sigs = all.slice(split + 2);
  if (sigs === '' || !sigs.endsWith('\n')) throw malformed();
  const textBytes = utf8.encode(text);

  const known = new Map<string, NoteVerifier[]>();
  for (const v of verifiers) {
    const k = `${v.name}+${hex8(v.keyId)}`;
    known.set(k, [...(known.get(k) ?? []), v]);
  }

  const note: Note = { text, sigs: [], unverifiedSigs: [] };
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  let numSig = 0;
  while (sigs !== '') {
    const i = sigs.indexOf('\n');
    let line = sigs.slice(0, i);
    sigs = sigs.slice(i + 1);
    if (!line.startsWith(SIG_PREFIX)) throw malformed();
    line = line.slice(SIG_PREFIX.length);
    const [name, b64] = chop(line, ' ');
    const sig = decodeBase64(b64);
    if (!sig || !isValidKeyName(name) || b64 === '' || sig.length < 5) throw malformed();
    const id = readUint32(sig, 0);
    if (++numSig > MAX_SIGNATURES) throw malformed(); // avoid spending forever on many signatures

    const k = `${name}+${hex8(id)}`;
    const candidates = known.get(k);
    if (!candidates) {
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        note.unverifiedSigs.push({ name, keyId: id, base64: b64 });
      }
      continue;
    }
    if (candidates.length > 1) throw new NoteError('ambiguous-key', `ambiguous key ${k}`);
    if (seen.has(k)) continue; // repeated signature by one key
    seen.add(k);
    if (!(candidates[0] as NoteVerifier).verify(textBytes, sig.subarray(4))) {
      throw new NoteError('invalid-signature', `invalid signature for key ${k}`);
    }
    note.sigs.push({ name, keyId: id, base64: b64 });
  }
  if (note.sigs.length === 0) throw new NoteError('unverified', 'note has no verifiable signatures', note);
  return note;
}

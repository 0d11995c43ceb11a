/**
 * Transparency-log checks in the browser, with the project's own code
 * (src/tlog/proof-file.ts, note.ts, checkpoint.ts, merkle.ts, with their own JavaScript
 * SHA-256) and WebCrypto Ed25519 (./ed25519.ts).
 * Every check runs against the log key the user pinned; nothing the server says is
 * taken as a verdict: proofs, checkpoints and entries are just inputs.
 */
import { parseCheckpoint, type Checkpoint } from '../../../tlog/checkpoint.ts';
import { verifyConsistency } from '../../../tlog/merkle.ts';
import { decodeBase64, newVerifier, openNote } from '../../../tlog/note.ts';
import { cosignedMessage } from '../../../tlog/cosignature.ts';
import { verifyProofFile, type ProofVerification, type WitnessPolicy } from '../../../tlog/proof-file.ts';
import { forgetVerdicts, webCryptoVerdicts } from './ed25519.ts';

export interface Check {
  name: string;
  ok: boolean;
  skipped?: boolean;
  detail: string;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Lenient base64 for finding candidate signatures (the project's parser stays strict). */
function looseBase64(s: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The raw Ed25519 key of a verifier key `<name>+<hex id>+<base64(alg || key)>` (0x01: a log key; 0x04: a witness key), or null. */
function rawKey(vkey: string, alg = 0x01): Uint8Array | null {
  // <name>+<id>+<base64>: the base64 may itself contain '+'
  const parts = vkey.trim().split('+');
  const k = parts.length < 3 ? null : looseBase64(parts.slice(2).join('+'));
  return k && k.length === 33 && k[0] === alg ? k.subarray(1) : null;
}

/**
 * Has WebCrypto judge every cosignature-shaped line of a note (key ID, 8-byte timestamp,
 * 64-byte signature) under each pinned witness key, over the cosignature/v1 message that
 * timestamp makes (src/tlog/cosignature.ts); the project's code then looks the verdicts up.
 */
async function askWebCryptoWitnesses(note: string, witnessKeys: string[]): Promise<void> {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return;
  const text = note.slice(0, split + 1);
  const cosigs: { ts: bigint; sig: Uint8Array }[] = [];
  for (const line of note.slice(split + 2).split('\n')) {
    const raw = looseBase64(line.split(' ').at(-1) ?? '');
    if (raw && raw.length === 76) cosigs.push({ ts: new DataView(raw.buffer, raw.byteOffset, 76).getBigUint64(4), sig: raw.subarray(12) });
  }
  const pairs = [];
  for (const c of cosigs) {
    try {
      pairs.push({ msg: cosignedMessage(text, c.ts), sig: c.sig });
    } catch {
      // a timestamp out of range: no verdict, so the cosignature is invalid
    }
  }
  for (const k of witnessKeys) {
    const key = rawKey(k, 0x04);
    if (key) await webCryptoVerdicts(key, pairs);
  }
}

/** Has WebCrypto judge every signature line of a note under the pinned key, before the project's code looks. */
async function askWebCrypto(note: string, vkey: string): Promise<void> {
  const key = rawKey(vkey);
  const split = note.lastIndexOf('\n\n');
  if (!key || split < 0) return;
  const msg = new TextEncoder().encode(note.slice(0, split + 1));
  const pairs = [];
  for (const line of note.slice(split + 2).split('\n')) {
    const sig = looseBase64(line.split(' ').at(-1) ?? '');
    if (sig && sig.length === 68) pairs.push({ msg, sig: sig.subarray(4) });
  }
  await webCryptoVerdicts(key, pairs);
}

/** verifyProofFile (src/tlog/proof-file.ts), with the signature and any pinned witnesses' cosignatures judged by WebCrypto. */
export async function verifyProof(proofText: string, entry: Uint8Array, vkey: string, witnesses?: WitnessPolicy): Promise<ProofVerification> {
  const blank = proofText.indexOf('\n\n');
  try {
    if (blank >= 0) await askWebCrypto(proofText.slice(blank + 2), vkey);
    if (blank >= 0 && witnesses) await askWebCryptoWitnesses(proofText.slice(blank + 2), witnesses.keys);
    return verifyProofFile(proofText, entry, vkey.trim(), witnesses);
  } finally {
    forgetVerdicts();
  }
}

export interface CheckedCheckpoint {
  checks: Check[];
  checkpoint: Checkpoint | null;
}

/** A signed checkpoint note checked against the pinned log key: key, signature, checkpoint syntax, origin. */
export async function verifyCheckpoint(note: string, vkey: string): Promise<CheckedCheckpoint> {
  const checks: Check[] = [];
  let checkpoint: Checkpoint | null = null;
  try {
    await askWebCrypto(note, vkey);
    let verifier;
    try {
      verifier = newVerifier(vkey.trim());
      checks.push({ name: 'log-key', ok: true, detail: `key ${verifier.name}` });
    } catch (e) {
      checks.push({ name: 'log-key', ok: false, detail: message(e) });
    }
    let text: string | null = null;
    if (!verifier) checks.push({ name: 'signature', ok: false, skipped: true, detail: 'not checked: log-key failed' });
    else {
      try {
        text = openNote(note, [verifier]).text;
        checks.push({ name: 'signature', ok: true, detail: `signed by ${verifier.name} (WebCrypto Ed25519)` });
      } catch (e) {
        checks.push({ name: 'signature', ok: false, detail: message(e) });
      }
    }
    if (text === null) checks.push({ name: 'checkpoint', ok: false, skipped: true, detail: 'not checked: signature failed' });
    else {
      try {
        checkpoint = parseCheckpoint(text);
        checks.push({ name: 'checkpoint', ok: true, detail: `tree size ${checkpoint.size}` });
      } catch (e) {
        checks.push({ name: 'checkpoint', ok: false, detail: message(e) });
      }
    }
    if (!checkpoint || !verifier) checks.push({ name: 'origin', ok: false, skipped: true, detail: 'not checked: checkpoint failed' });
    else if (checkpoint.origin !== verifier.name) {
      checks.push({ name: 'origin', ok: false, detail: `origin ${checkpoint.origin} is not the key name ${verifier.name}` });
      checkpoint = null;
    } else checks.push({ name: 'origin', ok: true, detail: `origin is ${checkpoint.origin}` });
  } finally {
    forgetVerdicts();
  }
  return { checks, checkpoint };
}

/**
 * The newer checkpoint extends the older one: both signed by the pinned key, and the
 * consistency proof (fetched from the server, untrusted) leads from the older root to
 * the newer (RFC 9162 §2.1.4.2, src/tlog/merkle.ts verifyConsistency).
 */
export async function verifyConsistencyBetween(older: string, newer: string, vkey: string, fetchProof: (from: number, to: number) => Promise<string[]>): Promise<Check[]> {
  const a = await verifyCheckpoint(older, vkey);
  const b = await verifyCheckpoint(newer, vkey);
  const checks: Check[] = [];
  const summary = (label: string, c: CheckedCheckpoint): void => {
    const bad = c.checks.find((x) => !x.ok);
    checks.push(bad ? { name: `${label} checkpoint`, ok: false, detail: `${bad.name}: ${bad.detail}` } : { name: `${label} checkpoint`, ok: true, detail: `signed, tree size ${c.checkpoint?.size}` });
  };
  summary('older', a);
  summary('newer', b);
  const ca = a.checkpoint;
  const cb = b.checkpoint;
  if (!ca || !cb) {
    checks.push({ name: 'order', ok: false, skipped: true, detail: 'not checked: a checkpoint failed' });
    checks.push({ name: 'consistency', ok: false, skipped: true, detail: 'not checked: a checkpoint failed' });
    return checks;
  }
  if (ca.size > cb.size) {
    checks.push({ name: 'order', ok: false, detail: `the older checkpoint (size ${ca.size}) is larger than the newer (size ${cb.size})` });
    checks.push({ name: 'consistency', ok: false, skipped: true, detail: 'not checked: order failed' });
    return checks;
  }
  checks.push({ name: 'order', ok: true, detail: `size ${ca.size} ≤ size ${cb.size}` });
  let proof: Uint8Array[];
  try {
    const lines = await fetchProof(ca.size, cb.size);
    proof = lines.map((l) => {
      const h = decodeBase64(l);
      if (!h || h.length !== 32) throw new Error('the consistency proof is not a list of base64 SHA-256 hashes');
      return h;
    });
  } catch (e) {
    checks.push({ name: 'consistency', ok: false, detail: `no usable proof: ${message(e)}` });
    return checks;
  }
  try {
    verifyConsistency(ca.size, cb.size, proof, ca.rootHash, cb.rootHash);
    checks.push({ name: 'consistency', ok: true, detail: `the tree of size ${cb.size} extends the tree of size ${ca.size} (${proof.length} proof hashes, checked here)` });
  } catch (e) {
    checks.push({ name: 'consistency', ok: false, detail: message(e) });
  }
  return checks;
}

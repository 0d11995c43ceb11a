/**
 * Transparency-log checks in the browser, with the project's own code
 * (src/tlog/proof-file.ts, note.ts, checkpoint.ts, merkle.ts) and WebCrypto's SHA-256 and
 * Ed25519 through withAsyncCrypto (src/tlog/async-crypto.ts, as @writ/verify/proof): the
 * synchronous checks run until every digest and signature verdict they use came from WebCrypto.
 * Every check runs against the log key the user pinned; nothing the server says is
 * taken as a verdict: proofs, checkpoints and entries are just inputs.
 */
import { parseCheckpoint, type Checkpoint } from '../../../tlog/checkpoint.ts';
import { withAsyncCrypto } from '../../../tlog/async-crypto.ts';
import { verifyConsistency } from '../../../tlog/merkle.ts';
import { decodeBase64, newVerifier, openNote } from '../../../tlog/note.ts';
import { verifyProofFile, type ProofVerification, type WitnessPolicy } from '../../../tlog/proof-file.ts';

export interface Check {
  name: string;
  ok: boolean;
  skipped?: boolean;
  detail: string;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** verifyProofFile (src/tlog/proof-file.ts): the log signature and any pinned witnesses' cosignatures judged by WebCrypto. */
export async function verifyProof(proofText: string, entry: Uint8Array, vkey: string, witnesses?: WitnessPolicy): Promise<ProofVerification> {
  return withAsyncCrypto(() => verifyProofFile(proofText, entry, vkey.trim(), witnesses));
}

export interface CheckedCheckpoint {
  checks: Check[];
  checkpoint: Checkpoint | null;
}

/** A signed checkpoint note checked against the pinned log key: key, signature, checkpoint syntax, origin. */
export async function verifyCheckpoint(note: string, vkey: string): Promise<CheckedCheckpoint> {
  return withAsyncCrypto(() => checkCheckpoint(note, vkey));
}

function checkCheckpoint(note: string, vkey: string): CheckedCheckpoint {
  const checks: Check[] = [];
  let checkpoint: Checkpoint | null = null;
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

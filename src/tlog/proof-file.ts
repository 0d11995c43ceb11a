/**
 * Offline inclusion proofs, as specified by C2SP tlog-proof (c2sp.org/tlog-proof),
 * version 1. A proof file is a sequence of newline-separated lines:
 *
 *     c2sp.org/tlog-proof@v1
 *     extra <base64 opaque data>          (optional, unauthenticated)
 *     index <decimal, no leading zeroes>
 *     <base64 hash>                        (zero or more: the RFC 6962 inclusion
 *     ...                                   proof, leaf's sibling first)
 *     <empty line>
 *     <the signed checkpoint note, verbatim>
 *
 * Base64 is the standard encoding of RFC 4648 §4; each hash is 32 bytes.
 * Files should use the extension .tlog-proof.
 *
 * verifyProofFile checks a proof file against the entry bytes and the log's
 * verifier key alone, in this order, and reports every check:
 *
 *   format       the file parses as above;
 *   log-key      the verifier key parses (./note.ts);
 *   signature    the checkpoint note carries a valid signature by that key;
 *   checkpoint   the note text is a well-formed checkpoint (./checkpoint.ts);
 *   origin       the checkpoint origin equals the key name;
 *   index        the index is below the checkpoint's tree size;
 *   inclusion    the proof leads from SHA-256(0x00 || entry) at the index to the
 *                checkpoint's root hash (RFC 9162 §2.1.3.2).
 *
 * With a witness policy (K of N pinned witness keys, ./cosignature.ts), one more check,
 * right after the signature: witnesses — at least K of the N pinned witnesses cosigned the
 * checkpoint (C2SP tlog-cosignature, cosignature/v1); a pinned witness's cosignature that
 * does not verify fails it. A log showing a split view cannot get both views cosigned by
 * an honest witness (docs/witness.md), so a proof from the other view fails here.
 *
 * A check whose inputs come from a failed check is not run; it is reported with
 * ok false and skipped true, so the first failure that is not skipped is the cause.
 */
import { parseCheckpoint, parseDecimal, type Checkpoint } from './checkpoint.ts';
import { leafHash, verifyInclusion, HASH_SIZE } from './merkle.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { newVerifier, NoteError, openNote, type NoteVerifier } from './note.ts';
import { CosignatureError, verifyCosignatures } from './cosignature.ts';
import { WritError } from '../writ/errors.ts';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

export interface ProofFile {
  /** opaque extra data; not authenticated */
  extra?: Uint8Array;
  index: number;
  /** inclusion proof hashes, leaf's sibling first */
  proof: Uint8Array[];
  /** the signed checkpoint note, verbatim */
  checkpoint: string;
}

export class ProofFileError extends WritError {
  constructor(message: string) {
    super('proof_file_invalid', message);
    this.name = 'ProofFileError';
  }
}

/** Writes a tlog-proof@v1 file. */
export function formatProofFile(p: ProofFile): string {
  if (!Number.isSafeInteger(p.index) || p.index < 0) throw new ProofFileError(`invalid index ${p.index}`);
  if (p.proof.some((h) => h.length !== HASH_SIZE)) throw new ProofFileError('proof hashes must be 32 bytes');
  if (p.checkpoint === '' || !p.checkpoint.endsWith('\n')) throw new ProofFileError('checkpoint must be a signed note');
  let out = `${TLOG_PROOF_HEADER}\n`;
  if (p.extra) out += `extra ${encodeBase64(p.extra)}\n`;
  out += `index ${p.index}\n`;
  for (const h of p.proof) out += `${encodeBase64(h)}\n`;
  return `${out}\n${p.checkpoint}`;
}

/** Parses a tlog-proof@v1 file; throws ProofFileError. The checkpoint is not verified here. */
export function parseProofFile(text: string): ProofFile {
  let rest = text;
  const next = (): string => {
    const i = rest.indexOf('\n');
    if (i < 0) throw new ProofFileError('proof file ends before the checkpoint');
    const line = rest.slice(0, i);
    rest = rest.slice(i + 1);
    return line;
  };
  if (next() !== TLOG_PROOF_HEADER) throw new ProofFileError(`first line is not ${TLOG_PROOF_HEADER}`);
  let line = next();
  let extra: Uint8Array | undefined;
  if (line.startsWith('extra ')) {
    extra = decodeBase64(line.slice('extra '.length));
    if (!extra) throw new ProofFileError('extra data is not base64');
    line = next();
  }
  if (!line.startsWith('index ')) throw new ProofFileError('missing index line');
  const index = parseDecimal(line.slice('index '.length));
  if (index === undefined) throw new ProofFileError(`malformed index ${JSON.stringify(line.slice(6))}`);
  const proof: Uint8Array[] = [];
  for (line = next(); line !== ''; line = next()) {
    const h = decodeBase64(line);
    if (!h || h.length !== HASH_SIZE) throw new ProofFileError(`proof line ${proof.length + 1} is not a base64 SHA-256 hash`);
    proof.push(h);
  }
  if (rest === '') throw new ProofFileError('missing checkpoint');
  return extra ? { extra, index, proof, checkpoint: rest } : { index, proof, checkpoint: rest };
}

export type ProofCheckName = 'format' | 'log-key' | 'signature' | 'witnesses' | 'checkpoint' | 'origin' | 'index' | 'inclusion';

/**
 * Why a check failed, stable (never renamed, only added; docs/proof-file.md): what
 * @writ/verify/proof's ProofVerificationError carries as its code.
 */
export const PROOF_REASONS = [
  'proof_malformed', // format: not a tlog-proof@v1 file
  'verifier_config_invalid', // log-key, witnesses: a pinned key or the K-of-N policy is unusable
  'checkpoint_signature_invalid', // signature: no valid signature by the pinned log key
  'cosignature_invalid', // witnesses: a pinned witness's cosignature does not verify over this checkpoint
  'witness_quorum_not_met', // witnesses: fewer than K of the N pinned witnesses cosigned
  'checkpoint_malformed', // signature, checkpoint: the note or its checkpoint text does not parse
  'checkpoint_origin_mismatch', // origin: the checkpoint is of another log than the key names
  'inclusion_proof_invalid', // index, inclusion: the entry is not proven to be in that tree
] as const;
export type ProofReason = (typeof PROOF_REASONS)[number];

/** K of N: the pinned witness verifier keys (0x04, cosignature/v1) and how many must have cosigned. */
export interface WitnessPolicy {
  keys: string[];
  min: number;
}

export interface ProofCheck {
  name: ProofCheckName;
  ok: boolean;
  detail: string;
  /** on a failed check that ran: why */
  reason?: ProofReason;
  /** true if not run because a check it depends on failed */
  skipped?: boolean;
}

export interface ProofVerification {
  ok: boolean;
  checks: ProofCheck[];
  /** what the file claims, as far as it could be parsed */
  index?: number;
  checkpoint?: Checkpoint;
  extra?: Uint8Array;
  /** with a witness policy: the pinned witnesses that cosigned the checkpoint */
  witnesses?: { name: string; keyId: number; timestamp: number | undefined }[];
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The witnesses check threw: a bad pinned key or policy, or a pinned witness's line that does not verify (fail closed). */
function witnessFailure(e: unknown): ProofReason {
  if (e instanceof CosignatureError) return 'verifier_config_invalid'; // bad-key, witness-policy
  if (e instanceof NoteError && e.code === 'ambiguous-key') return 'verifier_config_invalid'; // a witness key with the log key's name and ID
  if (e instanceof NoteError && e.code === 'unverified') return 'checkpoint_signature_invalid';
  return 'cosignature_invalid';
}

/**
 * Verifies a tlog-proof file for `entry` (the exact leaf bytes) against the log's
 * verifier key string `<name>+<hex id>+<base64 key>`, and the witness policy if one is
 * given. Never throws.
 */
export function verifyProofFile(fileText: string, entry: Uint8Array, verifierKey: string, witnesses?: WitnessPolicy): ProofVerification {
  const checks: ProofCheck[] = [];
  const result: ProofVerification = { ok: false, checks };
  const pass = (name: ProofCheckName, detail: string): void => void checks.push({ name, ok: true, detail });
  const fail = (name: ProofCheckName, detail: string, reason: ProofReason): void => void checks.push({ name, ok: false, detail, reason });
  const skip = (name: ProofCheckName, after: ProofCheckName): void =>
    void checks.push({ name, ok: false, skipped: true, detail: `not checked: ${after} failed` });

  let file: ProofFile | undefined;
  try {
    file = parseProofFile(fileText);
    result.index = file.index;
    if (file.extra) result.extra = file.extra;
    pass('format', `${TLOG_PROOF_HEADER}, index ${file.index}, ${file.proof.length} proof hashes`);
  } catch (e) {
    fail('format', message(e), 'proof_malformed');
  }

  let verifier: NoteVerifier | undefined;
  try {
    verifier = newVerifier(verifierKey);
    pass('log-key', `key ${verifier.name}+${verifier.keyId.toString(16).padStart(8, '0')}`);
  } catch (e) {
    fail('log-key', message(e), 'verifier_config_invalid');
  }

  let text: string | undefined;
  if (!file) skip('signature', 'format');
  else if (!verifier) skip('signature', 'log-key');
  else {
    try {
      text = openNote(file.checkpoint, [verifier]).text;
      pass('signature', `signed by ${verifier.name}`);
    } catch (e) {
      fail('signature', message(e), e instanceof NoteError && e.code === 'malformed' ? 'checkpoint_malformed' : 'checkpoint_signature_invalid');
    }
  }

  if (witnesses) {
    if (!file || !verifier || text === undefined) skip('witnesses', 'signature');
    else {
      try {
        const w = verifyCosignatures(file.checkpoint, verifier, witnesses.keys, witnesses.min);
        result.witnesses = w.witnesses;
        const names = w.witnesses.map((x) => x.name).join(', ') || 'none';
        if (w.ok) pass('witnesses', `${w.witnesses.length} of ${witnesses.keys.length} pinned witnesses cosigned (${names}), ${witnesses.min} required`);
        else fail('witnesses', `only ${w.witnesses.length} of ${witnesses.keys.length} pinned witnesses cosigned (${names}), ${witnesses.min} required`, 'witness_quorum_not_met');
      } catch (e) {
        fail('witnesses', message(e), witnessFailure(e));
      }
    }
  }

  let cp: Checkpoint | undefined;
  if (text === undefined) skip('checkpoint', 'signature');
  else {
    try {
      cp = parseCheckpoint(text);
      result.checkpoint = cp;
      pass('checkpoint', `origin ${cp.origin}, tree size ${cp.size}`);
    } catch (e) {
      fail('checkpoint', message(e), 'checkpoint_malformed');
    }
  }

  if (!cp || !verifier) skip('origin', 'checkpoint');
  else if (cp.origin !== verifier.name) fail('origin', `checkpoint origin ${JSON.stringify(cp.origin)} is not the key name ${JSON.stringify(verifier.name)}`, 'checkpoint_origin_mismatch');
  else pass('origin', `origin is ${cp.origin}`);

  let indexOk = false;
  if (!cp || !file) skip('index', 'checkpoint');
  else if (file.index >= cp.size) fail('index', `index ${file.index} is not below tree size ${cp.size}`, 'inclusion_proof_invalid');
  else {
    indexOk = true;
    pass('index', `index ${file.index} < tree size ${cp.size}`);
  }

  if (!cp || !file || !indexOk) skip('inclusion', 'index');
  else {
    try {
      verifyInclusion(file.index, cp.size, leafHash(entry), file.proof, cp.rootHash);
      pass('inclusion', `entry is leaf ${file.index} of the tree of size ${cp.size}`);
    } catch (e) {
      fail('inclusion', message(e), 'inclusion_proof_invalid');
    }
  }

  result.ok = checks.every((c) => c.ok);
  return result;
}

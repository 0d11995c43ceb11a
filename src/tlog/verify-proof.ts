/**
 * verifyProof — an offline proof file (C2SP tlog-proof@v1, docs/proof-file.md) checked by an
 * executor, an auditor or a browser, with a witness policy: the entry is in the log's tree,
 * the checkpoint is signed by a pinned log key, and at least K of N pinned witnesses cosigned
 * it (C2SP tlog-cosignature, docs/witness.md), so it is not one branch of a split view.
 *
 * Published as `@writ/verify/proof` (packages/verify). The checks are verifyProofFile's
 * (./proof-file.ts), the same code `writ audit verify-proof` and the console run, with
 * SHA-256 and Ed25519 from WebCrypto (./async-crypto.ts): nothing but the runtime is needed,
 * and nothing of Node (Node >= 20, browsers). It resolves with what was proven, or rejects
 * with ProofVerificationError, whose `code` is a stable reason (PROOF_REASONS) and whose
 * `check` names the first failing check; a bad option is verifier_config_invalid. It never
 * resolves for a proof that failed any check; a runtime without WebCrypto rejects with
 * WritError('crypto_unavailable').
 */
import { WritError } from '../writ/errors.ts';
import { webCrypto, withAsyncCrypto, type AsyncCrypto } from './async-crypto.ts';
import { encodeBase64 } from './base64.ts';
import { verifyProofFile, type ProofCheck, type ProofCheckName, type ProofReason, type ProofVerification, type WitnessPolicy } from './proof-file.ts';

export { PROOF_REASONS, TLOG_PROOF_HEADER, type ProofCheck, type ProofCheckName, type ProofReason } from './proof-file.ts';
export { WritError } from '../writ/errors.ts';
export type { AsyncCrypto } from './async-crypto.ts';

export interface VerifyProofOptions {
  /**
   * The log's verifier key `<name>+<8 hex key ID>+base64(0x01 || Ed25519 key)` (`writ keys
   * --log`), pinned out of band; several while a log key is being replaced: a checkpoint
   * signed by any one of them passes.
   */
  logKey: string | readonly string[];
  /** the pinned witnesses' verifier keys (cosignature/v1: `<name>+<key ID>+base64(0x04 || key)`) */
  witnesses?: readonly string[];
  /** K: how many distinct pinned witnesses must have cosigned; default all of `witnesses` */
  minWitnesses?: number;
  /** SHA-256 and Ed25519; WebCrypto's by default */
  crypto?: AsyncCrypto;
}

export interface VerifiedProof {
  /** the entry's 0-based index in the log */
  index: number;
  /** the checkpoint the entry is proven against; rootHash in base64 */
  checkpoint: { origin: string; size: number; rootHash: string };
  /** the pinned log key that signed it */
  logKey: string;
  /** the pinned witnesses that cosigned it, each once; keyId in 8 hex digits, timestamp in POSIX seconds */
  witnesses: { name: string; keyId: string; timestamp: number | undefined }[];
  /** every check, in order, all passed */
  checks: ProofCheck[];
}

/** A proof file that does not prove its entry under the options given. `code` is stable. */
export class ProofVerificationError extends WritError {
  override readonly code: ProofReason;
  /** the first failing check; undefined for an option refused before any check */
  readonly check: ProofCheckName | undefined;
  /** every check of the attempt that came furthest (the log key it was made with, if several were pinned) */
  readonly checks: ProofCheck[];
  constructor(code: ProofReason, message: string, check?: ProofCheckName, checks: ProofCheck[] = []) {
    super(code, message);
    this.name = 'ProofVerificationError';
    this.code = code;
    this.check = check;
    this.checks = checks;
  }
}

const config = (message: string): ProofVerificationError => new ProofVerificationError('verifier_config_invalid', `verifyProof: ${message}`);
const isStringList = (v: unknown): v is readonly string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const hex8 = (id: number): string => id.toString(16).padStart(8, '0');

function policyOf(o: VerifyProofOptions): WitnessPolicy | undefined {
  if (o.witnesses !== undefined && !isStringList(o.witnesses)) throw config('witnesses must be a list of verifier keys');
  const keys = (o.witnesses ?? []).map((k) => k.trim());
  if (keys.length === 0) {
    if (o.minWitnesses !== undefined) throw config('minWitnesses without any pinned witness key');
    return undefined;
  }
  const min = o.minWitnesses ?? keys.length;
  if (!Number.isSafeInteger(min) || min < 1 || min > keys.length) throw config(`minWitnesses ${String(min)} is not between 1 and the ${keys.length} pinned witnesses`);
  return { keys, min };
}

/** Where a verification stopped: the position of its first failing check (later is further). */
const stoppedAt = (v: ProofVerification): number => v.checks.findIndex((c) => !c.ok && !c.skipped);

/**
 * Verifies `proofFile` (the file's text or bytes) for `entry` (the exact entry bytes, or their
 * UTF-8 text). Resolves with what is proven; rejects with ProofVerificationError.
 */
export async function verifyProof(proofFile: string | Uint8Array, entry: Uint8Array | string, options: VerifyProofOptions): Promise<VerifiedProof> {
  if (typeof options !== 'object' || options === null) throw config('options are required (logKey at least)');
  const logKeys = (typeof options.logKey === 'string' ? [options.logKey] : isStringList(options.logKey) ? [...options.logKey] : []).map((k) => k.trim());
  if (logKeys.length === 0 || logKeys.some((k) => k === '')) throw config('logKey must be a verifier key or a non-empty list of them');
  const policy = policyOf(options);
  let text: string;
  try {
    text = typeof proofFile === 'string' ? proofFile : new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(proofFile);
  } catch {
    throw new ProofVerificationError('proof_malformed', 'format: the proof file is not UTF-8', 'format');
  }
  const entryBytes = typeof entry === 'string' ? new TextEncoder().encode(entry) : entry;
  if (!(entryBytes instanceof Uint8Array)) throw config('entry must be the entry bytes (Uint8Array) or its text');

  // one pure run for every pinned log key, so the asynchronous crypto is asked once for all
  const runs = await withAsyncCrypto(() => logKeys.map((k) => verifyProofFile(text, entryBytes, k, policy)), options.crypto ?? webCrypto);
  const passed = runs.findIndex((r) => r.ok);
  const r = runs[passed];
  if (r?.checkpoint && r.index !== undefined) {
    return {
      index: r.index,
      checkpoint: { origin: r.checkpoint.origin, size: r.checkpoint.size, rootHash: encodeBase64(r.checkpoint.rootHash) },
      logKey: logKeys[passed] as string,
      witnesses: (r.witnesses ?? []).map((w) => ({ name: w.name, keyId: hex8(w.keyId), timestamp: w.timestamp })),
      checks: r.checks,
    };
  }
  const furthest = runs.reduce((a, b) => (stoppedAt(b) > stoppedAt(a) ? b : a));
  const bad = furthest.checks.find((c) => !c.ok && !c.skipped);
  // every failed check that ran has a reason (./proof-file.ts); a failure without one is still a failure
  throw new ProofVerificationError(bad?.reason ?? 'proof_malformed', bad ? `${bad.name}: ${bad.detail}` : 'the proof did not verify', bad?.name, furthest.checks);
}

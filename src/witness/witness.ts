/**
 * A C2SP tlog-witness (c2sp.org/tlog-witness): given a log's new checkpoint and a proof that
 * it is consistent with the last one this witness cosigned for that log, it records the new
 * one and returns a cosignature (c2sp.org/tlog-cosignature, cosignature/v1). It never cosigns
 * two checkpoints of one origin that are not consistent with each other, so a log showing
 * two views (a split view) cannot get both witnessed.
 *
 * The checks, in the spec's order, each with its HTTP status:
 *
 *   400  the body is not an add-checkpoint request, or its checkpoint is malformed, or the
 *        old size is larger than the checkpoint's size;
 *   404  the checkpoint's origin is not a log this witness is configured for;
 *   403  no signature on it verifies with a key this witness trusts for that origin (a
 *        trusted key's signature that does not verify is refused too);
 *   409  the old size is not the size of the latest checkpoint cosigned for the origin (0 if
 *        none): the body is that size, `text/x.tlog.size`; or the sizes are equal and the
 *        root hashes are not;
 *   422  the consistency proof from the old size does not verify (RFC 6962 §2.1.2; it must be
 *        empty when the old size is 0);
 *   200  the new checkpoint is committed to the witness's state, then cosigned: the body is
 *        the cosignature line.
 *
 * The check of the old size and the write are one transaction (./state.ts). A validly signed
 * checkpoint refused as conflicting (409 root_mismatch, 422) is kept as possible evidence.
 */
import { parseCheckpoint, type Checkpoint } from '../tlog/checkpoint.ts';
import type { Cosigner } from '../tlog/cosignature.ts';
import { EMPTY_TREE_HASH, verifyConsistency } from '../tlog/merkle.ts';
import { newVerifier, NoteError, openNote, type NoteVerifier } from '../tlog/note.ts';
import { parseAddCheckpoint, WitnessRequestError, type AddCheckpointRequest } from './request.ts';
import type { WitnessedCheckpoint, WitnessState } from './state.ts';
import '../ledger/node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules

export const SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** A log this witness witnesses: its origin and the verifier keys it trusts for it. */
export interface WitnessedLog {
  origin: string;
  verifierKeys: string[];
}

export type WitnessReason =
  | 'cosigned'
  | 'malformed_request'
  | 'malformed_checkpoint'
  | 'unknown_origin'
  | 'unverified_signature'
  | 'old_size_too_large'
  | 'old_size_mismatch'
  | 'root_mismatch'
  | 'inconsistent';

export interface WitnessResponse {
  status: 200 | 400 | 403 | 404 | 409 | 422;
  reason: WitnessReason;
  contentType: string;
  body: string;
}

export interface WitnessOptions {
  cosigner: Cosigner;
  logs: WitnessedLog[];
  state: WitnessState;
  /** milliseconds since the epoch; the cosignature's timestamp is this in whole seconds */
  now?: () => number;
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const text = (status: WitnessResponse['status'], reason: WitnessReason, message: string): WitnessResponse => ({ status, reason, contentType: 'text/plain; charset=utf-8', body: `${message}\n` });

export class Witness {
  readonly #cosigner: Cosigner;
  readonly #logs = new Map<string, NoteVerifier[]>();
  readonly #state: WitnessState;
  readonly #now: () => number;

  constructor(o: WitnessOptions) {
    this.#cosigner = o.cosigner;
    this.#state = o.state;
    this.#now = o.now ?? Date.now;
    for (const l of o.logs) {
      if (this.#logs.has(l.origin)) throw new WitnessRequestError(`log ${l.origin} is configured twice`);
      if (l.verifierKeys.length === 0) throw new WitnessRequestError(`log ${l.origin} has no verifier key`);
      this.#logs.set(l.origin, l.verifierKeys.map(newVerifier)); // throws NoteError('bad-key')
    }
  }

  get name(): string {
    return this.#cosigner.name;
  }

  get verifierKey(): string {
    return this.#cosigner.verifierKey;
  }

  origins(): string[] {
    return [...this.#logs.keys()];
  }

  /** Handles one add-checkpoint request body. Never throws for anything the client sent. */
  addCheckpoint(body: string | Uint8Array): WitnessResponse {
    let raw: string;
    try {
      raw = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
    } catch {
      return text(400, 'malformed_request', 'request body is not UTF-8');
    }
    let req: AddCheckpointRequest;
    try {
      req = parseAddCheckpoint(raw);
    } catch (e) {
      return text(400, 'malformed_request', (e as Error).message);
    }

    // The origin first (404), so it is read from the note before any key is chosen.
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(unverifiedText(req.checkpoint));
    } catch (e) {
      return text(400, 'malformed_checkpoint', (e as Error).message);
    }
    const verifiers = this.#logs.get(cp.origin);
    if (!verifiers) return text(404, 'unknown_origin', `unknown log origin ${JSON.stringify(cp.origin)}`);
    let signedText: string;
    try {
      signedText = openNote(req.checkpoint, verifiers).text;
    } catch (e) {
      return text(403, 'unverified_signature', `checkpoint is not signed by a trusted key of ${cp.origin}: ${(e as Error).message}`);
    }
    if (req.oldSize > cp.size) return text(400, 'old_size_too_large', `old size ${req.oldSize} is larger than the checkpoint size ${cp.size}`);

    const nowSeconds = Math.floor(this.#now() / 1000);
    const response = this.#state.update(cp.origin, (current): { next?: WitnessedCheckpoint; result: WitnessResponse } => {
      const size = current?.size ?? 0;
      const root = current?.root ?? EMPTY_TREE_HASH;
      if (req.oldSize !== size) {
        return { result: { status: 409, reason: 'old_size_mismatch', contentType: SIZE_CONTENT_TYPE, body: `${size}\n` } };
      }
      if (req.oldSize === cp.size && !equal(root, cp.rootHash)) {
        return { result: { status: 409, reason: 'root_mismatch', contentType: SIZE_CONTENT_TYPE, body: `${size}\n` } };
      }
      try {
        verifyConsistency(req.oldSize, cp.size, req.proof, root, cp.rootHash);
      } catch (e) {
        return { result: text(422, 'inconsistent', `consistency proof from size ${req.oldSize} to ${cp.size} does not verify: ${(e as Error).message}`) };
      }
      const line = this.#cosigner.cosign(signedText, nowSeconds);
      return {
        next: { origin: cp.origin, size: cp.size, root: cp.rootHash, note: req.checkpoint, cosignedAt: nowSeconds },
        result: { status: 200, reason: 'cosigned', contentType: 'text/plain; charset=utf-8', body: line },
      };
    });
    if (response.reason === 'root_mismatch' || response.reason === 'inconsistent') {
      this.#state.recordRefusal({ origin: cp.origin, checkpoint: signedText, status: response.status, reason: response.reason, request: raw, received: nowSeconds });
    }
    return response;
  }
}

/** The text of a signed note, before any key is trusted (openNote parses it, then finds no known key). */
function unverifiedText(note: string): string {
  try {
    return openNote(note, []).text;
  } catch (e) {
    if (e instanceof NoteError && e.code === 'unverified' && e.note) return e.note.text;
    throw e;
  }
}

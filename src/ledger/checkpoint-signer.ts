/**
 * The one checkpoint signer, for every log Writ signs (a home's SQLite log, the fleet's
 * PostgreSQL log). Inside its store's checkpoint transaction it computes the root of the
 * current tree, checks that the tree extends the newest checkpoint signed before under the
 * origin (`assertExtends`, log-identity.ts: same size and root, or larger and consistent;
 * a truncated or rewritten tree throws LogForkError) and only then signs a C2SP
 * tlog-checkpoint as a C2SP signed note with the log's key (key name = origin), which the
 * store stores. At most one checkpoint per size; nothing is signed while the log has not grown.
 */
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { formatCheckpoint, parseCheckpoint } from '../tlog/checkpoint.ts';
import { proveTree, treeHash } from '../tlog/merkle.ts';
import { openNote, signNote, type NoteSigner, type NoteVerifier } from '../tlog/note.ts';
import { assertExtends, LogForkError } from './log-identity.ts';
import type { CheckpointState, CheckpointStep, LogStore, StoredCheckpoint } from './log-store.ts';
import { systemClock } from '../clock.ts';

/**
 * The witnesses a log asks for cosignatures (C2SP tlog-witness; src/witness/log-witnessing.ts
 * implements it over HTTP). The ledger only hands each checkpoint over and asks for the note
 * with the cosignatures obtained: the network is outside the core, and signing never waits
 * for a witness.
 */
export interface CheckpointWitnesses {
  /** Asks every witness to cosign `cp` (`prove(from)`: the consistency proof to cp.size); never rejects. */
  submit(cp: StoredCheckpoint, prove: (from: number) => Promise<Uint8Array[]>): Promise<void>;
  /** `note` with the cosignature lines obtained for its checkpoint appended (none yet: `note`) */
  cosigned(note: string): string;
  /** The same for a stored checkpoint, reading the cosignatures its store kept (after a restart: without asking the witnesses again). */
  cosignedNote(cp: StoredCheckpoint): Promise<string>;
}

/**
 * Where a log keeps the cosignatures its witnesses returned, beside its checkpoints (SQLite:
 * `ledger_checkpoints.cosignatures`, log.ts; PostgreSQL: `<schema>.checkpoints.cosignatures`,
 * pg-log.ts), so that a restarted log serves them without asking again. Keyed by the
 * checkpoint's size (one checkpoint per size) and the witness's verifier key; the lines are
 * stored as verified when they came back, and verified again when read (log-witnessing.ts).
 */
export interface CosignatureStore {
  /** Records a witness's cosignature lines for the stored checkpoint of `size` (replacing that witness's earlier ones). */
  saveCosignature(size: number, witnessKey: string, lines: string): Promise<void>;
  /** The cosignature lines stored for the checkpoint of `size`, by witness verifier key (none: empty). */
  cosignatures(size: number): Promise<Map<string, string>>;
}

/** The consistency proofs to `size` from the stored hashes of `store`. */
export function storeProver(store: LogStore, size: number): (from: number) => Promise<Uint8Array[]> {
  return (from) => store.withHashes((r) => (from === 0 || from === size ? [] : proveTree(size, from, r)));
}

export class CheckpointSigner {
  readonly origin: string;
  readonly verifier: NoteVerifier;
  private readonly signer: NoteSigner;

  constructor(o: { origin: string; verifier: NoteVerifier; signer: NoteSigner }) {
    if (o.verifier.name !== o.origin || o.signer.name !== o.origin || o.signer.keyId !== o.verifier.keyId) {
      throw new LogForkError(`the signer key (${o.signer.name}), the verifier key (${o.verifier.name}) and the origin ${o.origin} of the log disagree`);
    }
    this.origin = o.origin;
    this.verifier = o.verifier;
    this.signer = o.signer;
  }

  /**
   * The decision, synchronous (it runs inside the store's transaction, and a store that
   * prefetches hashes reruns it): nothing for an empty log; the newest checkpoint if the
   * tree is the one it signed; else a new signed checkpoint, once the tree is proven to
   * extend the newest one (its size and root taken from the verified note, not a column).
   */
  next(s: CheckpointState): CheckpointStep {
    const { last, size, hashes } = s;
    if (size === 0 && !last) return null;
    const root = treeHash(size, hashes);
    if (last) {
      const from = parseCheckpoint(openNote(last.note, [this.verifier]).text).size;
      // the proof is computed here, outside assertExtends: a store's hash reads must not be taken for a fork
      const proof = size > from ? proveTree(size, from, hashes) : [];
      assertExtends(last.note, this.verifier, this.origin, size, root, () => proof);
      if (size === from) return { keep: last };
    }
    return { store: { size, root, note: signNote(formatCheckpoint({ origin: this.origin, size, rootHash: root }), [this.signer]) } };
  }

  /** Signs a checkpoint of the store's current tree if it grew since the last one; returns the latest. */
  sign(store: LogStore, now = new Date(systemClock.now())): Promise<StoredCheckpoint | null> {
    return store.checkpointWith((s) => this.next(s), now);
  }
}

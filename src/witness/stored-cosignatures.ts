/**
 * A log's checkpoints with the cosignatures stored beside them, served by a process that
 * does not ask the witnesses itself — `writ authority --pg`, which reads the fleet log the
 * sequencer writes (the sequencer's LogWitnessing stores each cosignature with its
 * checkpoint: ledger/checkpoint-signer.ts CosignatureStore).
 *
 * It knows no witness configuration: the store is keyed by each witness's verifier key, and
 * a stored line is served only if it verifies with that key over this checkpoint (a row
 * edited, or copied from another checkpoint, is dropped and logged). Whether a witness
 * counts is for the verifier to say, with the keys it pins (docs/witness.md); this only
 * keeps the served note from carrying lines that could not be anyone's cosignature of it.
 */
import type { CosignatureStore } from '../ledger/checkpoint-signer.ts';
import type { StoredCheckpoint } from '../ledger/log-store.ts';
import { newCosignatureVerifier } from '../tlog/cosignature.ts';
import { openNote, type NoteVerifier } from '../tlog/note.ts';

/** The note text of a signed note: up to and including the newline before its signatures. */
export const noteTextOf = (note: string): string => note.slice(0, note.lastIndexOf('\n\n') + 1);

/** Throws unless `lines` (signature lines) are valid signatures by `verifier` over the note `text`, and nothing else. */
export function checkStoredLines(text: string, lines: string, verifier: NoteVerifier): void {
  const n = openNote(`${text}\n${lines}`, [verifier]); // a line by `verifier` that does not verify throws
  if (n.sigs.length === 0) throw new Error('no signature by that key');
  if (n.unverifiedSigs.length > 0) throw new Error('a line by another key');
}

export class StoredCosignatures {
  readonly #store: CosignatureStore;
  readonly #log: (s: string) => void;

  constructor(store: CosignatureStore, o: { log?: (s: string) => void } = {}) {
    this.#store = store;
    this.#log = o.log ?? (() => {});
  }

  /** `cp`'s note with every stored cosignature that verifies over it, in the order of the witness keys. */
  async cosignedNote(cp: StoredCheckpoint): Promise<string> {
    const text = noteTextOf(cp.note);
    const stored = [...(await this.#store.cosignatures(cp.size))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let out = cp.note;
    for (const [key, lines] of stored) {
      try {
        checkStoredLines(text, lines, newCosignatureVerifier(key));
        out += lines;
      } catch (e) {
        this.#log(`the stored cosignature by ${key.split('+')[0]} for size ${cp.size} does not verify (${(e as Error).message}): not served`);
      }
    }
    return out;
  }
}

/**
 * A log in memory for the witness and proof tests: a Merkle tree over text leaves, its signed
 * checkpoint, proof files and consistency proofs, and `cosign`, which submits its checkpoint to
 * witnesses and collects the cosignature lines (test/witness-verify, test/verify-proof-lib).
 */
import { formatCheckpoint } from '../src/tlog/checkpoint.ts';
import { proveRecord, proveTree, storedHashes, storedHashIndex, treeHash, type HashReader } from '../src/tlog/merkle.ts';
import { signNote, type NoteSigner } from '../src/tlog/note.ts';
import { formatProofFile } from '../src/tlog/proof-file.ts';
import { formatAddCheckpoint } from '../src/witness/request.ts';
import type { Witness } from '../src/witness/witness.ts';

export interface TestTree {
  size: number;
  entry(i: number): Uint8Array;
  /** the signed checkpoint of the whole tree */
  checkpoint(): string;
  proofFile(i: number, checkpoint: string): string;
  /** the consistency proof from `from` to the tree's size (none from 0) */
  prove(from: number): Uint8Array[];
}

export function testTree(leaves: string[], signer: NoteSigner, origin: string): TestTree {
  const store = new Map<number, Uint8Array>();
  const reader: HashReader = (ix) => ix.map((i) => store.get(i) as Uint8Array);
  const enc = leaves.map((l) => new TextEncoder().encode(l));
  enc.forEach((e, n) => storedHashes(n, e, reader).forEach((h, j) => store.set(storedHashIndex(0, n) + j, h)));
  const size = enc.length;
  return {
    size,
    entry: (i) => enc[i] as Uint8Array,
    checkpoint: () => signNote(formatCheckpoint({ origin, size, rootHash: treeHash(size, reader) }), [signer]),
    proofFile: (i, checkpoint) => formatProofFile({ index: i, proof: proveRecord(size, i, reader), checkpoint }),
    prove: (from) => (from === 0 ? [] : proveTree(size, from, reader)),
  };
}

/** Submits the tree's checkpoint to each witness from `from`; the note with the cosignatures obtained, and the statuses. */
export function cosign(t: TestTree, from: number, which: Witness[]): { note: string; statuses: number[] } {
  const cp = t.checkpoint();
  let note = cp;
  const statuses: number[] = [];
  for (const w of which) {
    const r = w.addCheckpoint(formatAddCheckpoint({ oldSize: from, proof: t.prove(from), checkpoint: cp }));
    statuses.push(r.status);
    if (r.status === 200) note += r.body;
  }
  return { note, statuses };
}

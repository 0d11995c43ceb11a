/**
 * The simulated ledger sequencer: receives leaves from nodes, appends them in one total
 * order, keeps the RFC 6962 tree as stored hashes (src/tlog/merkle.ts, the tlog layout
 * the SQLite log uses), and signs C2SP checkpoints — after proving that the tree it is
 * about to sign extends the last signed one, as src/ledger/log.ts does on SQLite.
 *
 * `disk` survives crashes (it models PostgreSQL); everything else is process memory.
 * An append is acked only after it is on disk (except under the ack-before-durable
 * mutation). Appends carry an id, so a duplicated or retried message is acked with the
 * index it got the first time (JetStream's message-id de-duplication).
 */
import '../../src/ledger/node-crypto.ts'; // node:crypto's Ed25519 (and SHA-256) for the tlog modules
import { formatCheckpoint, parseCheckpoint } from '../../src/tlog/checkpoint.ts';
import type { AppendRequest, LedgerEntry, WritIndexRow } from '../../src/ledger/ledger.ts';
import type { LeafType } from '../../src/ledger/leaf.ts';
import { proveTree, storedHashes, storedHashIndex, treeHash, verifyConsistency, type HashReader } from '../../src/tlog/merkle.ts';
import { generateKey, newSigner, newVerifier, openNote, signNote, type NoteSigner, type NoteVerifier } from '../../src/tlog/note.ts';
import { errorMessage } from '../../src/util.ts';
import { LOG_ORIGIN, type NodeId, type World } from './world.ts';

interface StoredLeaf {
  type: LeafType;
  leaf: Uint8Array;
  jti: string | null;
  decisionId: string | null;
  appendId: string;
}

export interface SignedCheckpoint {
  size: number;
  root: Uint8Array;
  note: string;
  step: number;
}

/** What survives a sequencer crash. */
interface SequencerDisk {
  leaves: StoredLeaf[];
  hashes: Map<number, Uint8Array>;
  byAppendId: Map<string, number>;
  writs: Map<string, WritIndexRow>;
  checkpoints: SignedCheckpoint[];
  /** leaves [0, synced) are durable; only the ack-before-durable mutation lets this lag */
  synced: number;
}

const keys = generateKey(LOG_ORIGIN);
const SIGNER: NoteSigner = newSigner(keys.signerKey);
export const LOG_VERIFIER: NoteVerifier = newVerifier(keys.verifierKey);

export class SimSequencer {
  private readonly world: World;
  private readonly disk: SequencerDisk = { leaves: [], hashes: new Map(), byAppendId: new Map(), writs: new Map(), checkpoints: [], synced: 0 };
  up = true;
  /** called with every checkpoint the sequencer signs, before anyone else sees it */
  onCheckpoint: (c: SignedCheckpoint) => void = () => undefined;

  constructor(world: World) {
    this.world = world;
  }

  readonly reader: HashReader = (indexes) =>
    indexes.map((i) => {
      const h = this.disk.hashes.get(i);
      if (!h) throw new Error(`sequencer: no stored hash ${i}`);
      return h;
    });

  size(): number {
    return this.disk.leaves.length;
  }

  checkpoints(): readonly SignedCheckpoint[] {
    return this.disk.checkpoints;
  }

  onAppend(from: NodeId, id: string, req: AppendRequest): void {
    let index = this.disk.byAppendId.get(id);
    if (index === undefined) {
      index = this.disk.leaves.length;
      const hashes = storedHashes(index, req.leaf, this.reader);
      const first = storedHashIndex(0, index);
      hashes.forEach((h, i) => this.disk.hashes.set(first + i, h));
      this.disk.leaves.push({ type: req.type, leaf: req.leaf, jti: req.jti ?? null, decisionId: req.decisionId ?? null, appendId: id });
      this.disk.byAppendId.set(id, index);
      if (req.writ) this.disk.writs.set(req.writ.jti, { ...req.writ, decisionIndex: index });
      if (this.world.mutation !== 'ack-before-durable') this.disk.synced = this.disk.leaves.length;
      this.world.trace(`seq append ${from} #${index} ${req.type}`);
    } else {
      this.world.trace(`seq dedup ${from} #${index}`);
    }
    this.world.send('sequencer', from, { kind: 'append-ack', id, index });
  }

  /** the ack-before-durable mutation's periodic fsync */
  flush(): void {
    this.disk.synced = this.disk.leaves.length;
  }

  crash(): void {
    this.up = false;
    const m = this.world.mutation;
    let keep = this.disk.synced;
    if (m === 'lossy-disk-no-proof') keep = Math.max(0, this.disk.leaves.length - this.world.prng.int(1, 3));
    if (keep < this.disk.leaves.length) {
      this.world.trace(`seq crash loses #${keep}..#${this.disk.leaves.length - 1}`);
      this.truncate(keep);
    }
  }

  private truncate(size: number): void {
    const d = this.disk;
    const firstHash = storedHashIndex(0, size);
    for (const i of [...d.hashes.keys()]) if (i >= firstHash) d.hashes.delete(i);
    d.leaves.length = size;
    for (const [id, i] of [...d.byAppendId]) if (i >= size) d.byAppendId.delete(id);
    for (const [jti, w] of [...d.writs]) if (w.decisionIndex >= size) d.writs.delete(jti);
    d.synced = Math.min(d.synced, size);
  }

  /** Signs a checkpoint of the current tree if it grew, after proving it extends the last signed one. */
  checkpoint(): void {
    const d = this.disk;
    const size = d.leaves.length;
    const last = d.checkpoints.at(-1);
    if (size === 0 || (last && last.size >= size)) return;
    const root = treeHash(size, this.reader);
    if (last && this.world.mutation !== 'lossy-disk-no-proof') {
      try {
        const signed = parseCheckpoint(openNote(last.note, [LOG_VERIFIER]).text);
        verifyConsistency(signed.size, size, proveTree(size, signed.size, this.reader), signed.rootHash, root);
      } catch (err) {
        this.world.trace(`seq refuses to sign ${size}: ${errorMessage(err)}`);
        return;
      }
    }
    const note = signNote(formatCheckpoint({ origin: LOG_ORIGIN, size, rootHash: root }), [SIGNER]);
    const c = { size, root, note, step: this.world.step() };
    d.checkpoints.push(c);
    this.world.trace(`seq checkpoint ${size}`);
    this.onCheckpoint(c);
  }

  // Reads, as nodes make them against the shared ledger database (not faulted).

  leaf(index: number): Uint8Array | null {
    return this.disk.leaves[index]?.leaf ?? null;
  }

  entry(index: number): LedgerEntry | null {
    const e = this.disk.leaves[index];
    return e ? { index, type: e.type, leaf: e.leaf } : null;
  }

  entries(from: number, limit: number): LedgerEntry[] {
    return this.disk.leaves.slice(from, from + limit).map((e, i) => ({ index: from + i, type: e.type, leaf: e.leaf }));
  }

  findByJti(jti: string, type?: LeafType): LedgerEntry[] {
    const out: LedgerEntry[] = [];
    this.disk.leaves.forEach((e, index) => {
      if (e.jti === jti && (type === undefined || e.type === type)) out.push({ index, type: e.type, leaf: e.leaf });
    });
    return out;
  }

  findByDecisionId(id: string): LedgerEntry | null {
    const index = this.disk.leaves.findIndex((e) => e.decisionId === id && e.type === 'decision');
    const e = this.disk.leaves[index];
    return e ? { index, type: e.type, leaf: e.leaf } : null;
  }

  writ(jti: string): WritIndexRow | null {
    return this.disk.writs.get(jti) ?? null;
  }

  children(jti: string): WritIndexRow[] {
    return [...this.disk.writs.values()].filter((w) => w.parent === jti);
  }
}

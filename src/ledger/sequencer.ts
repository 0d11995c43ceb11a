/**
 * The sequencer (`writ sequencer`, docs/fleet.md): turns the fleet's evidence stream into
 * the one Merkle ledger. The store is the only record of progress: the stream is read from
 * the sequence after the last entry the store holds; each batch is appended by the store in
 * one transaction (PostgreSQL: entries, tree hashes, lineage index). After a crash, or any
 * error (a gap, a lost connection), reading restarts from the store's size — nothing waits
 * for acknowledgement timeouts, and nothing is applied twice (nextInOrder). Every
 * `checkpointIntervalMs`, if the log grew, the one checkpoint signer signs it (after
 * proving the tree extends the last checkpoint), and hands it to the witnesses, if any,
 * without waiting for them (docs/witness.md).
 *
 * Transport, storage and time are parameters: `writ sequencer` runs it over NATS and
 * PostgreSQL (sync/sequencer.ts), the deterministic simulation over its simulated bus,
 * an in-memory store and its clock.
 */
import type { Clock } from '../clock.ts';
import { errorMessage } from '../util.ts';
import { storeProver, type CheckpointSigner, type CheckpointWitnesses } from './checkpoint-signer.ts';
import type { EvidenceMessage, EvidenceReader, EvidenceStream } from './evidence-stream.ts';
import type { LogStore } from './log-store.ts';

/** A log store the sequencer appends stream messages to (PgLog; MemoryLogStore). */
export interface SequencerStore extends LogStore {
  /** appends in order (nextInOrder), atomically; resolves with the new size */
  append(messages: EvidenceMessage[]): Promise<number>;
}

export interface Sequencer {
  /** the number of entries applied so far */
  applied(): number;
  /** resolves once everything the stream held when called is in the store */
  caughtUp(): Promise<void>;
  /** signs a checkpoint now, if the log grew */
  checkpoint(): Promise<void>;
  stop(): void;
}

const RESUME_AFTER_MS = 200;

export function runSequencer(o: { stream: EvidenceStream; store: SequencerStore; signer: CheckpointSigner; clock: Clock; log: (s: string) => void; checkpointIntervalMs?: number; witnesses?: CheckpointWitnesses }): Sequencer {
  const { stream, store, clock, log } = o;
  let running = true;
  let applied = 0;
  let reader: EvidenceReader | null = null;
  const resume = (why: unknown) => {
    reader = null;
    if (!running) return;
    if (why) log(`writ sequencer: ${errorMessage(why)}; resuming from the store`);
    clock.after(RESUME_AFTER_MS, () => void start());
  };
  const start = async () => {
    if (!running) return;
    try {
      applied = await store.size();
    } catch (err) {
      return resume(err);
    }
    if (!running) return;
    reader = stream.read(applied + 1, async (batch) => {
      applied = await store.append(batch);
    }, resume);
  };
  void start();
  const checkpoint = async () => {
    const cp = await o.signer.sign(store, new Date(clock.now()));
    // handed to the witnesses, not awaited: a witness that is down delays no checkpoint
    if (cp && o.witnesses) void o.witnesses.submit(cp, storeProver(store, cp.size));
  };
  const stopCheckpoints = clock.every(o.checkpointIntervalMs ?? 1000, () => void checkpoint().catch((err: unknown) => log(`writ sequencer: checkpoint: ${errorMessage(err)}`)));
  return {
    applied: () => applied,
    async caughtUp() {
      const last = await stream.lastSeq();
      while (applied < last) await new Promise<void>((r) => clock.after(50, r));
    },
    checkpoint,
    stop() {
      running = false;
      stopCheckpoints();
      reader?.stop();
    },
  };
}

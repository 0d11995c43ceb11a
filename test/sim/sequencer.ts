/**
 * The simulated sequencer: the shipped sequencer (src/ledger/sequencer.ts — reading the
 * evidence stream from the store's size, appending in order, signing checkpoints with the
 * one checkpoint signer) on its own connection to the simulated bus and the simulated
 * clock, over a MemoryLogStore that survives its crashes (the PostgreSQL it models).
 * Under lossy-disk-no-proof its store loses its tail on a crash, and on restart it signs at
 * once, with UnprovenCheckpointSigner, before the stream refilled what was lost (a correct
 * signer refuses: the tree no longer extends the last checkpoint).
 */
import { CheckpointSigner } from '../../src/ledger/checkpoint-signer.ts';
import type { CheckpointState, CheckpointStep, StoredCheckpoint } from '../../src/ledger/log-store.ts';
import { MemoryLogStore } from '../../src/ledger/memory-log.ts';
import { runSequencer, type Sequencer } from '../../src/ledger/sequencer.ts';
import type { FleetBus } from '../../src/node/fleet-bus.ts';
import type { InProcessBusServer } from '../../src/sync/in-process-bus.ts';
import type { NoteVerifier } from '../../src/tlog/note.ts';
import { fixedLogKey } from './keys.ts';
import { UnprovenCheckpointSigner } from './mutations.ts';
import { simClock } from './sim-bus.ts';
import { BUS_TIMEOUT_MS, CHECKPOINT_INTERVAL_MS, DOMAIN, FLEET, type World } from './world.ts';

export const LOG_ORIGIN = `writ.fleet/${FLEET}/${DOMAIN}`;
const LOG_KEY = fixedLogKey(LOG_ORIGIN);
export const LOG_VERIFIER: NoteVerifier = LOG_KEY.verifier;

export interface SignedCheckpoint {
  size: number;
  root: Uint8Array;
  note: string;
  step: number;
}

/** The store that survives, telling the checker of every checkpoint it stores. */
class ObservedStore extends MemoryLogStore {
  onCheckpoint: (c: StoredCheckpoint) => void = () => undefined;
  override async checkpointWith(step: (s: CheckpointState) => CheckpointStep, now: Date): Promise<StoredCheckpoint | null> {
    const before = (await this.latestCheckpoint())?.note;
    const c = await super.checkpointWith(step, now);
    if (c && c.note !== before) this.onCheckpoint(c);
    return c;
  }
}

export class SimSequencer {
  private readonly world: World;
  private readonly server: InProcessBusServer;
  /** disk: survives crashes */
  readonly store = new ObservedStore();
  private proc: { bus: FleetBus; seq: Sequencer; alive: boolean } | null = null;
  onCheckpoint: (c: SignedCheckpoint) => void = () => undefined;
  private starts = 0;

  constructor(world: World, server: InProcessBusServer) {
    this.world = world;
    this.server = server;
    this.store.onCheckpoint = (c) => {
      this.world.trace(`seq checkpoint ${c.size}`);
      this.onCheckpoint({ size: c.size, root: c.root, note: c.note, step: this.world.step() });
    };
  }

  get up(): boolean {
    return this.proc !== null;
  }

  start(): void {
    const proc = { alive: true } as { bus: FleetBus; seq: Sequencer; alive: boolean };
    const clock = simClock(this.world, 0, () => proc.alive);
    const keys = { origin: LOG_ORIGIN, verifier: LOG_KEY.verifier, signer: LOG_KEY.signer };
    const signer = this.world.mutation === 'lossy-disk-no-proof' ? new UnprovenCheckpointSigner(keys) : new CheckpointSigner(keys);
    proc.bus = this.server.connect('sequencer', { timeoutMs: BUS_TIMEOUT_MS });
    proc.seq = runSequencer({ stream: proc.bus.evidence, store: this.store, signer, clock, log: (s) => this.world.trace(s), checkpointIntervalMs: CHECKPOINT_INTERVAL_MS });
    this.proc = proc;
    // the broken copy also signs as it starts, before the stream refilled what its disk lost
    if (this.world.mutation === 'lossy-disk-no-proof' && this.starts++ > 0) void proc.seq.checkpoint().catch(() => undefined);
  }

  crash(): void {
    if (!this.proc) return;
    this.close();
    if (this.world.mutation === 'lossy-disk-no-proof') {
      const keep = Math.max(0, this.store.length - this.world.prng.int(1, 3));
      this.world.trace(`seq crash loses #${keep}..#${this.store.length - 1}`);
      this.store.truncate(keep);
    }
  }

  /** stops the process (its timers, its connection); the store stays */
  close(): void {
    const p = this.proc;
    if (!p) return;
    p.alive = false;
    p.seq.stop();
    void p.bus.close();
    this.proc = null;
  }

  /** signs a checkpoint now if the log grew (the end of the run) */
  async checkpoint(): Promise<void> {
    await this.proc?.seq.checkpoint();
  }

  size(): number {
    return this.store.length;
  }

  leaf(index: number): Uint8Array | null {
    return this.store.leafAt(index);
  }
}

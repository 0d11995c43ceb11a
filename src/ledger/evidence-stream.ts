/**
 * The fleet's evidence stream, as the ledger sees it (docs/fleet.md): nodes publish their
 * decision and outcome leaves to it and hold back the writ until it acknowledged them;
 * the sequencer reads it in order into the one Merkle ledger. The stream's sequence is
 * the ledger index plus one (`led = seq - 1`). Adapters: NATS JetStream
 * (sync/nats/evidence-stream.ts) and in-process (sync/in-process-bus.ts).
 */

/** One message of the stream: its sequence (1-based), its subject, the leaf bytes. */
export interface EvidenceMessage {
  seq: number;
  subject: string;
  leaf: Uint8Array;
}

export interface EvidenceReader {
  stop(): void;
}

export interface EvidenceStream {
  /**
   * Resolves with the stream sequence once the stream acknowledged the leaf — durably: no
   * ack, no writ. A publish repeated with the same `msgId` keeps its first sequence.
   * Rejects when no acknowledgement came (unreachable, timed out).
   */
  publish(subject: string, leaf: Uint8Array, msgId: string): Promise<number>;
  /** false while the adapter knows it cannot reach the stream (appends then fail at once) */
  connected(): boolean;
  /** the sequence of the newest message in the stream (0 if none) */
  lastSeq(): Promise<number>;
  /**
   * Reads the stream in order from `fromSeq`, a batch at a time; the next batch comes only
   * after `onBatch` resolved. Ends with `onEnd(err)` on any error (the reader then stops:
   * the caller decides where to resume), or when stopped.
   */
  read(fromSeq: number, onBatch: (batch: EvidenceMessage[]) => Promise<void>, onEnd: (err: unknown) => void): EvidenceReader;
}

/**
 * The messages of `batch` a log of `size` entries appends next, in order: those at or
 * below its size were applied before (a redelivery) and are skipped; one beyond the next
 * index is a gap and is refused — the stream is the order, nothing may be skipped.
 */
export function nextInOrder(batch: readonly EvidenceMessage[], size: number): EvidenceMessage[] {
  const out: EvidenceMessage[] = [];
  let next = size;
  for (const m of [...batch].sort((a, b) => a.seq - b.seq)) {
    const idx = m.seq - 1;
    if (idx < next) continue;
    if (idx > next) throw new Error(`evidence stream gap: expected sequence ${next + 1}, got ${m.seq}`);
    out.push(m);
    next++;
  }
  return out;
}

/**
 * A fleet node's evidence ledger: each leaf is published to the fleet's evidence stream
 * and append() resolves only when the stream acknowledged it — no ack, no writ. The stream
 * sequence is the ledger index (the sequencer builds the tree in stream order), so `led`
 * is known at ack time. Publishes carry a message id (the leaf's SHA-256), so a retried
 * publish is deduplicated and keeps its first sequence.
 *
 * Reads (lineage lookups, outcome checks) are served from a bounded in-memory mirror of
 * what this node appended; the ledger of record is the sequencer's.
 */
import { createHash } from 'node:crypto';
import type { EvidenceStream } from '../ledger/evidence-stream.ts';
import type { LeafType } from '../ledger/leaf.ts';
import { DuplicateEntryError, type AppendRequest, type Ledger, type LedgerEntry, type WritIndexRow } from '../ledger/ledger.ts';
import { WritError } from '../writ/errors.ts';

const MIRROR_LIMIT = 200_000;

/** The stream is known to be unreachable: the append fails at once, and no writ is returned. */
export class EvidenceUnavailableError extends WritError {
  override name = 'EvidenceUnavailableError';
  constructor(message: string) {
    super('ledger_append_failed', message);
  }
}

export class BusLedger implements Ledger {
  private readonly stream: EvidenceStream;
  private readonly subject: string;
  private readonly entriesByIndex = new Map<number, LedgerEntry & { jti: string | null; decisionId: string | null }>();
  private readonly writs = new Map<string, WritIndexRow>();
  private highest = -1;

  constructor(stream: EvidenceStream, subject: string) {
    this.stream = stream;
    this.subject = subject;
  }

  async append(req: AppendRequest): Promise<number> {
    if (req.oncePerJti && req.jti && this.findByJti(req.jti, req.type).length > 0) throw new DuplicateEntryError(`a ${req.type} entry for ${req.jti} already exists`);
    if (!this.stream.connected()) throw new EvidenceUnavailableError('not connected to the fleet: evidence cannot be acknowledged');
    const msgId = createHash('sha256').update(req.leaf).digest('hex');
    const index = (await this.stream.publish(this.subject, req.leaf, msgId)) - 1;
    this.entriesByIndex.set(index, { index, type: req.type, leaf: req.leaf, jti: req.jti ?? null, decisionId: req.decisionId ?? null });
    if (req.writ) this.writs.set(req.writ.jti, { ...req.writ, decisionIndex: index });
    this.highest = Math.max(this.highest, index);
    if (this.entriesByIndex.size > MIRROR_LIMIT) {
      const oldest = this.entriesByIndex.keys().next().value as number;
      const e = this.entriesByIndex.get(oldest);
      this.entriesByIndex.delete(oldest);
      if (e?.jti) this.writs.delete(e.jti);
    }
    return index;
  }

  entry(index: number): LedgerEntry | null {
    const e = this.entriesByIndex.get(index);
    return e ? { index: e.index, type: e.type, leaf: e.leaf } : null;
  }

  /** the highest index this node has seen acknowledged, plus one */
  size(): number {
    return this.highest + 1;
  }

  entries(from: number, limit: number): LedgerEntry[] {
    return [...this.entriesByIndex.values()].filter((e) => e.index >= from).sort((a, b) => a.index - b.index).slice(0, limit);
  }

  findByJti(jti: string, type?: LeafType): LedgerEntry[] {
    return [...this.entriesByIndex.values()].filter((e) => e.jti === jti && (type === undefined || e.type === type));
  }

  findByDecisionId(id: string): LedgerEntry | null {
    return [...this.entriesByIndex.values()].find((e) => e.decisionId === id && e.type === 'decision') ?? null;
  }

  writ(jti: string): WritIndexRow | null {
    return this.writs.get(jti) ?? null;
  }

  children(jti: string): WritIndexRow[] {
    return [...this.writs.values()].filter((w) => w.parent === jti);
  }
}

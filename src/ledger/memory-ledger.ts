/** A ledger held in memory: not durable. For simulations and for measuring the decision path without fsync. */
import { isRecord } from '../util.ts';
import { leafObject, type LeafType } from './leaf.ts';
import { DuplicateEntryError, type AppendRequest, type Ledger, type LedgerEntry, type WritIndexRow } from './ledger.ts';

export class MemoryLedger implements Ledger {
  private readonly items: (LedgerEntry & { jti: string | null; decisionId: string | null })[] = [];
  private readonly writs = new Map<string, WritIndexRow>();

  async append(req: AppendRequest): Promise<number> {
    if (req.oncePerJti && this.items.some((e) => e.jti === req.jti && e.type === req.type)) throw new DuplicateEntryError(`a ${req.type} entry for ${req.jti} already exists`);
    const index = this.items.length;
    this.items.push({ index, type: req.type, leaf: req.leaf, jti: req.jti ?? null, decisionId: req.decisionId ?? null });
    if (req.writ) this.writs.set(req.writ.jti, { ...req.writ, decisionIndex: index });
    return index;
  }

  entry(index: number): LedgerEntry | null {
    const e = this.items[index];
    return e ? { index: e.index, type: e.type, leaf: e.leaf } : null;
  }

  size(): number {
    return this.items.length;
  }

  entries(from: number, limit: number): LedgerEntry[] {
    return this.items.slice(from, from + limit).map((e) => ({ index: e.index, type: e.type, leaf: e.leaf }));
  }

  findByJti(jti: string, type?: LeafType): LedgerEntry[] {
    return this.items.filter((e) => e.jti === jti && (type === undefined || e.type === type));
  }

  findByDecisionId(id: string): LedgerEntry | null {
    return this.items.find((e) => e.decisionId === id && e.type === 'decision') ?? null;
  }

  writ(jti: string): WritIndexRow | null {
    return this.writs.get(jti) ?? null;
  }

  children(jti: string): WritIndexRow[] {
    return [...this.writs.values()].filter((w) => w.parent === jti);
  }

  /** A scan (approvals are rare; appends stay free of parsing): only leaves whose bytes contain the id are parsed. */
  approvalUse(id: string): number | null {
    for (const e of this.items) {
      if (e.type !== 'decision' || !Buffer.from(e.leaf.buffer, e.leaf.byteOffset, e.leaf.byteLength).includes(id)) continue;
      const l = leafObject(e.leaf);
      if (l.approval === id && isRecord(l.result) && l.result.decision === 'allow') return e.index;
    }
    return null;
  }
}

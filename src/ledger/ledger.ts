/** What the node needs of a ledger: durable, ordered appends. Storage is a parameter. */
import type { LeafType } from './leaf.ts';
import { WritError } from '../writ/errors.ts';

export interface AppendRequest {
  type: LeafType;
  /** canonical leaf bytes (encodeLeaf) */
  leaf: Uint8Array;
  /** index keys, so evidence can be found without scanning */
  jti?: string | null;
  decisionId?: string | null;
  /**
   * Nothing waits on this entry to act (an outcome: the execution is over): it may wait
   * a few milliseconds to share the next decision's commit instead of taking an fsync of
   * its own ahead of it.
   */
  deferrable?: boolean;
  /** refuse this append (only this one) if an entry of the same type already names the jti */
  oncePerJti?: boolean;
  /** for an allowed decision: the writ it produced, indexed for lineage queries */
  writ?: WritIndexRow;
}

/** Lineage index row: one per issued writ, derived from its decision leaf. */
export interface WritIndexRow {
  jti: string;
  decisionIndex: number;
  principal: string;
  action: string;
  resource: string;
  parent: string | null;
  /** jti of the lineage root (itself for a root) */
  root: string;
  depth: number;
  exp: number;
}

/** An append refused by its `oncePerJti` rule; other appends of its batch are unaffected. */
export class DuplicateEntryError extends WritError {
  override name = 'DuplicateEntryError';
  constructor(message: string, options?: ErrorOptions) {
    super('duplicate_entry', message, options);
  }
}

export interface LedgerEntry {
  index: number;
  type: LeafType;
  leaf: Uint8Array;
}

export interface Ledger {
  /**
   * Resolves with the leaf's index once it is durably stored; rejects if it is not.
   * `assigned`, where the ledger supports it, is told the index as soon as it is fixed and
   * before it is durable, so work that needs only the index (signing the writ that names
   * it) overlaps the fsync. What it learns must not leave the process unless the promise
   * resolves: a rejected append's index never existed.
   */
  append(req: AppendRequest, assigned?: (index: number) => void): Promise<number>;
  entry(index: number): LedgerEntry | null;
  size(): number;
  /** entries in index order, from `from` (inclusive) */
  entries(from: number, limit: number): LedgerEntry[];
  findByJti(jti: string, type?: LeafType): LedgerEntry[];
  findByDecisionId(id: string): LedgerEntry | null;
  writ(jti: string): WritIndexRow | null;
  children(jti: string): WritIndexRow[];
  /**
   * The index of the first allow decision whose leaf names approval `id` (its `approval`
   * field), or null if none does: the ledger's own answer to "was this approval used?",
   * which the node's `approvals.used` flag is only derived from. Absent where the ledger
   * cannot answer for the whole log (a fleet node's stream: its reads are a mirror of what
   * this process appended since it started).
   */
  approvalUse?(id: string): number | null;
}

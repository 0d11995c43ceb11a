/**
 * The ledger's derived tables, checked against the leaves they were derived from. The
 * leaves are what the tree commits to; the index columns (`jti`, `decision_id`) and the
 * lineage index (`ledger_writs`: parent, root, depth of every writ) are what queries —
 * lineage, the decision gate, outcome checks — read. A row edited in place would not
 * change a single tree hash, so each must be recomputed from its (hashed) leaf:
 *
 *   every entry:          jti and decision_id say what its leaf says
 *   every allow decision: exactly one ledger_writs row, equal to the leaf's writ claims
 *   every ledger_writs row belongs to an allow decision entry with its jti
 */
import type { DatabaseSync } from 'node:sqlite';
import { canonicalUidText } from '../canonical/uid.ts';
import { isRecord } from '../util.ts';
import type { WritIndexRow } from './ledger.ts';

export interface IndexExpectation {
  jti: string | null;
  decisionId: string | null;
  writ: Omit<WritIndexRow, 'decisionIndex'> | null;
}

const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** What the index columns of an entry must hold, from its leaf alone. */
export function expectedIndex(leaf: Record<string, unknown>): IndexExpectation {
  if (leaf.type === 'decision') {
    const w = isRecord(leaf.writ) ? leaf.writ : null;
    const req = rec(leaf.request);
    const lin = rec(w?.lin);
    return {
      jti: str(w?.jti),
      decisionId: str(leaf.id),
      writ: w
        ? {
            jti: String(w.jti),
            // the lineage index holds the writ's own claims: UIDs in canonical text
            principal: canonicalUidText(String(req.principal)),
            action: canonicalUidText(String(req.action)),
            resource: canonicalUidText(String(req.resource)),
            parent: str(lin.parent),
            root: String(lin.root),
            depth: Number(lin.depth),
            exp: Number(w.exp),
          }
        : null,
    };
  }
  if (leaf.type === 'outcome') return { jti: str(leaf.jti), decisionId: null, writ: null };
  if (leaf.type === 'revocation') return { jti: leaf.kind === 'writ' ? str(leaf.value) : null, decisionId: null, writ: null };
  return { jti: null, decisionId: null, writ: null };
}

type WritRow = Omit<WritIndexRow, 'decisionIndex'>;

export function indexAuditor(db: DatabaseSync) {
  const writAt = db.prepare('SELECT jti, principal, action, resource, parent, root, depth, exp FROM ledger_writs WHERE decision_idx = ?');
  return {
    /** A message describing the first difference for entry `idx`, or null. */
    check(idx: number, row: { jti: string | null; decision_id: string | null }, leaf: Record<string, unknown>): string | null {
      const want = expectedIndex(leaf);
      if ((row.jti ?? null) !== want.jti) return `entry ${idx}: indexed under jti ${String(row.jti)} but its leaf says ${String(want.jti)}`;
      if ((row.decision_id ?? null) !== want.decisionId) return `entry ${idx}: indexed as decision ${String(row.decision_id)} but its leaf says ${String(want.decisionId)}`;
      const stored = writAt.all(idx) as unknown as WritRow[];
      if (!want.writ) return stored.length === 0 ? null : `entry ${idx}: the lineage index holds a writ for an entry that issued none`;
      const w = stored[0];
      if (stored.length !== 1 || !w) return `entry ${idx}: its writ ${want.writ.jti} is missing from the lineage index`;
      const got = { jti: w.jti, principal: w.principal, action: w.action, resource: w.resource, parent: w.parent, root: w.root, depth: Number(w.depth), exp: Number(w.exp) };
      for (const k of Object.keys(want.writ) as (keyof WritRow)[]) {
        if (got[k] !== want.writ[k]) return `entry ${idx}: the lineage index says ${k} = ${JSON.stringify(got[k])}, the writ in the leaf says ${JSON.stringify(want.writ[k])}`;
      }
      return null;
    },
    /** After every entry was checked: a lineage index row that no allow decision accounts for. */
    orphan(): string | null {
      const r = db
        .prepare(
          "SELECT w.jti, w.decision_idx FROM ledger_writs w LEFT JOIN ledger_entries e ON e.idx = w.decision_idx WHERE e.idx IS NULL OR e.type <> 'decision' OR e.jti IS NOT w.jti ORDER BY w.decision_idx LIMIT 1",
        )
        .get() as { jti: string; decision_idx: number } | undefined;
      return r ? `the lineage index holds writ ${r.jti} at entry ${r.decision_idx}, which issued no such writ` : null;
    },
  };
}

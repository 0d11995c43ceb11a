/**
 * The node's state, checked against the ledger it was derived from (embedded mode,
 * where the ledger is local). Two tables decide what is allowed without appearing in
 * the tree: revocations (a deleted row would re-enable a revoked writ, principal or
 * node) and approvals (a row flipped to `approved` would let a call through). Every
 * revocation leaf must still be in force, and every approval's status must be the one
 * its recorded decision says, for the request it was recorded for.
 */
import { leafObject } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { canonicalUidText } from '../policy/uid.ts';
import { isRecord } from '../util.ts';
import type { NodeState, RevocationKind } from './state.ts';

export interface StateProblem {
  kind: 'revocation_missing' | 'approval_unrecorded' | 'approval_mismatch';
  /** the ledger entry concerned, if there is one */
  index: number | null;
  message: string;
}

const BATCH = 2000;
const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});


interface Recorded {
  asked: { index: number; principal: unknown; action: unknown; resource: unknown } | null;
  /** every recorded decision (two processes deciding at once can both record one; the state's compare-and-set kept one of them) */
  decided: { index: number; status: unknown; intent: unknown; policyDigest: unknown }[];
}

export async function auditState(ledger: Ledger, state: NodeState): Promise<StateProblem[]> {
  const problems: StateProblem[] = [];
  const approvals = new Map<string, Recorded>();
  const entry = (id: string) => approvals.get(id) ?? (approvals.set(id, { asked: null, decided: [] }).get(id) as Recorded);
  for (let from = 0, size = ledger.size(); from < size; from += BATCH) {
    for (const e of ledger.entries(from, BATCH)) {
      if (e.type !== 'revocation' && e.type !== 'approval' && e.type !== 'decision') continue;
      const l = leafObject(e.leaf); // an unreadable leaf reads as {}: the log audit reports it
      if (e.type === 'revocation' && typeof l.kind === 'string' && !state.isRevoked(l.kind as RevocationKind, String(l.value))) {
        problems.push({ kind: 'revocation_missing', index: e.index, message: `entry ${e.index} revoked ${String(l.kind)} ${String(l.value)}, but the node's state no longer holds that revocation` });
      } else if (e.type === 'approval') {
        entry(String(l.id)).decided.push({ index: e.index, status: l.status, intent: l.intent, policyDigest: l.policyDigest });
      } else if (e.type === 'decision' && (rec(l.result).reasons as unknown[] | undefined)?.includes('approval_required')) {
        const req = rec(l.request);
        const uid = (v: unknown) => (typeof v === 'string' ? canonicalUidText(v) : v); // the approval row holds canonical UIDs
        entry(String(l.id)).asked = { index: e.index, principal: uid(req.principal), action: uid(req.action), resource: uid(req.resource) };
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  for (const a of state.allApprovals()) {
    const r = approvals.get(a.id);
    if (!r?.asked) {
      problems.push({ kind: 'approval_unrecorded', index: null, message: `approval ${a.id} (${a.status}) has no approval_required decision in the ledger` });
      continue;
    }
    if (r.asked.principal !== a.principal || r.asked.action !== a.action || r.asked.resource !== a.resource) {
      problems.push({ kind: 'approval_mismatch', index: r.asked.index, message: `approval ${a.id} is for ${a.principal} ${a.action} ${a.resource}, but entry ${r.asked.index} asked it for another request` });
      continue;
    }
    const first = r.decided[0];
    if (a.status === 'pending') {
      if (first) problems.push({ kind: 'approval_mismatch', index: first.index, message: `approval ${a.id} is pending, but entry ${first.index} recorded it ${String(first.status)}` });
      continue;
    }
    const d = r.decided.find((x) => x.status === a.status);
    if (!d) {
      const said = r.decided.map((x) => `${String(x.status)} (entry ${x.index})`).join(', ');
      problems.push({ kind: 'approval_mismatch', index: first?.index ?? r.asked.index, message: `approval ${a.id} is ${a.status} in the node's state, but the ledger ${said ? `recorded it ${said}` : 'recorded no decision'}` });
    } else if (d.intent !== a.intent || d.policyDigest !== a.policyDigest) {
      problems.push({ kind: 'approval_mismatch', index: d.index, message: `approval ${a.id}: its intent or policy differs from what entry ${d.index} recorded` });
    }
  }
  return problems.sort((x, y) => (x.index ?? Infinity) - (y.index ?? Infinity));
}

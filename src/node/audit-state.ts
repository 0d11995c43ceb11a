/**
 * The node's state, checked against the ledger it was derived from (embedded mode,
 * where the ledger is local). Tables that decide what is allowed without appearing in
 * the tree: revocations (a deleted row would re-enable a revoked writ, principal or
 * node), approvals (a row flipped to `approved`, or a used one reset to unused, would let
 * a call through) and the active bundle with its anti-rollback floor (audit-bundles.ts).
 * Every revocation leaf must still be in force; every approval's status, intent, policy
 * and expiry must be the ones its recorded decision says, for the request it was recorded
 * for; an approval lets one allow through, before it expired, and is `used` exactly when
 * an allow names it.
 */
import { leafObject } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { canonicalUidText } from '../canonical/uid.ts';
import { isRecord } from '../util.ts';
import { BundleAudit } from './audit-bundles.ts';
import type { ApprovalStore, BundleStore, RevocationKind, RevocationReader } from './state.ts';

export interface StateProblem {
  kind: 'revocation_missing' | 'approval_unrecorded' | 'approval_mismatch' | 'approval_reused' | 'policy_superseded' | 'bundle_state_mismatch';
  /** the ledger entry concerned, if there is one */
  index: number | null;
  message: string;
}

const BATCH = 2000;
const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});

interface Recorded {
  asked: { index: number; principal: unknown; action: unknown; resource: unknown } | null;
  /** every recorded decision (two processes deciding at once can both record one; the state's compare-and-set kept one of them) */
  decided: { index: number; status: unknown; intent: unknown; policyDigest: unknown; expires: unknown }[];
  /** the allow decisions that name it, in index order */
  allows: number[];
}

/** `domain`: the home's domain, checked for a bundle pointer even if the ledger activated nothing there. */
export async function auditState(ledger: Ledger, state: BundleStore & ApprovalStore & RevocationReader, o: { domain?: string } = {}): Promise<StateProblem[]> {
  const problems: StateProblem[] = [];
  const approvals = new Map<string, Recorded>();
  const bundles = new BundleAudit();
  const entry = (id: string) => approvals.get(id) ?? (approvals.set(id, { asked: null, decided: [], allows: [] }).get(id) as Recorded);
  for (let from = 0, size = ledger.size(); from < size; from += BATCH) {
    for (const e of ledger.entries(from, BATCH)) {
      if (e.type !== 'revocation' && e.type !== 'approval' && e.type !== 'decision' && e.type !== 'bundle_activation') continue;
      const l = leafObject(e.leaf); // an unreadable leaf reads as {}: the log audit reports it
      bundles.entry(e.index, l);
      if (e.type === 'revocation' && typeof l.kind === 'string' && !state.isRevoked(l.kind as RevocationKind, String(l.value))) {
        problems.push({ kind: 'revocation_missing', index: e.index, message: `entry ${e.index} revoked ${String(l.kind)} ${String(l.value)}, but the node's state no longer holds that revocation` });
      } else if (e.type === 'approval') {
        entry(String(l.id)).decided.push({ index: e.index, status: l.status, intent: l.intent, policyDigest: l.policyDigest, expires: l.expires });
      } else if (e.type === 'decision' && rec(l.result).decision === 'allow' && typeof l.approval === 'string') {
        const p = checkUse(entry(l.approval), l.approval, e.index, String(l.time));
        if (p) problems.push(p);
      } else if (e.type === 'decision' && (rec(l.result).reasons as unknown[] | undefined)?.includes('approval_required')) {
        const req = rec(l.request);
        const uid = (v: unknown) => (typeof v === 'string' ? canonicalUidText(v) : v); // the approval row holds canonical UIDs
        entry(String(l.id)).asked = { index: e.index, principal: uid(req.principal), action: uid(req.action), resource: uid(req.resource) };
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  problems.push(...bundles.finish(state, o.domain === undefined ? [] : [o.domain]));
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
    // used ⇔ an allow names it. Reset to unused, it would let a second call through.
    const use = r.allows[0];
    if (use !== undefined && !a.used) {
      problems.push({ kind: 'approval_mismatch', index: use, message: `approval ${a.id} is unused in the node's state, but the allow at entry ${use} used it: reset, it could let a second call through` });
    } else if (use === undefined && a.used) {
      problems.push({
        kind: 'approval_mismatch',
        index: r.asked.index,
        message: `approval ${a.id} is used in the node's state, but no allow in the ledger names it (spent without a writ: the allow could not be recorded, or the state was edited)`,
      });
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
    } else if (d.expires !== a.expires) {
      problems.push({ kind: 'approval_mismatch', index: d.index, message: `approval ${a.id} expires at ${a.expires} in the node's state, but entry ${d.index} recorded ${String(d.expires)}` });
    }
  }
  return problems.sort((x, y) => (x.index ?? Infinity) - (y.index ?? Infinity));
}

/**
 * One allow naming an approval, against what the ledger recorded before it: the first allow
 * only, made after the approval was recorded approved and before the expiry recorded then.
 * Ledger-only: the state (where rows of long-expired approvals are pruned) is not consulted.
 */
function checkUse(r: Recorded, id: string, index: number, time: string): StateProblem | null {
  const first = r.allows[0];
  r.allows.push(index);
  if (first !== undefined) {
    return { kind: 'approval_reused', index, message: `entry ${index} is a second allow naming approval ${id} (entry ${first} used it): an approval lets one call through` };
  }
  const approved = r.decided.find((x) => x.status === 'approved');
  if (!approved) return { kind: 'approval_mismatch', index, message: `entry ${index} names approval ${id}, which the ledger had not recorded approved before it` };
  const expires = Date.parse(String(approved.expires));
  if (!(Date.parse(time) < expires)) {
    return { kind: 'approval_mismatch', index, message: `entry ${index} used approval ${id} at ${time}, not before it expired at ${String(approved.expires)} (entry ${approved.index})` };
  }
  return null;
}

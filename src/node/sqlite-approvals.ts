/** ApprovalStore on SQLite: approval requests, their decisions and single use. */
import type { DatabaseSync } from 'node:sqlite';
import type { ApprovalRecord, ApprovalStore } from './state.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY, intent TEXT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL,
  policy_digest TEXT NOT NULL, expires TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', decided_by TEXT, decided_at TEXT,
  used INTEGER NOT NULL DEFAULT 0, args TEXT
);
-- expired rows are pruned (SqliteNodeState.pruneExpired): this index keeps that a range delete
CREATE INDEX IF NOT EXISTS approvals_expires ON approvals (expires);
`;

/** How long an approval row is kept past its `expires` (it can no longer be used; the console lists recent ones). */
export const APPROVAL_RETAIN_MS = 24 * 3600_000;

interface ApprovalRow {
  id: string;
  intent: string;
  principal: string;
  action: string;
  resource: string;
  policy_digest: string;
  expires: string;
  status: ApprovalRecord['status'];
  decided_by: string | null;
  used: number;
  args: string | null;
}

const toApproval = (r: ApprovalRow): ApprovalRecord => ({
  id: r.id,
  intent: r.intent,
  principal: r.principal,
  action: r.action,
  resource: r.resource,
  policyDigest: r.policy_digest,
  expires: r.expires,
  args: r.args ?? null,
  status: r.status,
  decidedBy: r.decided_by,
  used: Number(r.used) === 1,
});

export class SqliteApprovalStore implements ApprovalStore {
  private readonly db: DatabaseSync;
  private readonly pruneStmt;

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec(SCHEMA);
    // a state.db from before the arguments were kept: additive, its old rows show no arguments
    const columns = db.prepare('PRAGMA table_info(approvals)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'args')) db.exec('ALTER TABLE approvals ADD COLUMN args TEXT');
    this.pruneStmt = db.prepare('DELETE FROM approvals WHERE rowid IN (SELECT rowid FROM approvals WHERE expires < ? LIMIT ?)');
  }

  createApproval(a: Omit<ApprovalRecord, 'status' | 'decidedBy' | 'used'>): void {
    this.db
      .prepare('INSERT INTO approvals (id, intent, principal, action, resource, policy_digest, expires, args) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(a.id, a.intent, a.principal, a.action, a.resource, a.policyDigest, a.expires, a.args ?? null);
  }

  approval(id: string): ApprovalRecord | null {
    const r = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as ApprovalRow | undefined;
    return r ? toApproval(r) : null;
  }

  pendingApprovals(): ApprovalRecord[] {
    return (this.db.prepare("SELECT * FROM approvals WHERE status = 'pending' ORDER BY expires").all() as unknown as ApprovalRow[]).map(toApproval);
  }

  decidedApprovalsSince(since: Date, limit: number): ApprovalRecord[] {
    return (this.db.prepare("SELECT * FROM approvals WHERE status <> 'pending' AND decided_at >= ? ORDER BY decided_at DESC LIMIT ?").all(since.toISOString(), limit) as unknown as ApprovalRow[]).map(toApproval);
  }

  allApprovals(): ApprovalRecord[] {
    return (this.db.prepare('SELECT * FROM approvals ORDER BY id').all() as unknown as ApprovalRow[]).map(toApproval);
  }

  decideApproval(id: string, status: 'approved' | 'rejected' | 'expired', by: string, at: Date): boolean {
    const r = this.db.prepare("UPDATE approvals SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'").run(status, by, at.toISOString(), id);
    return Number(r.changes) === 1;
  }

  useApproval(id: string): boolean {
    return Number(this.db.prepare("UPDATE approvals SET used = 1 WHERE id = ? AND status = 'approved' AND used = 0").run(id).changes) === 1;
  }

  /** Deletes at most `batch` approvals that expired more than APPROVAL_RETAIN_MS before `nowMs`; returns how many went. */
  prune(nowMs: number, batch: number): number {
    return Number(this.pruneStmt.run(new Date(nowMs - APPROVAL_RETAIN_MS).toISOString(), batch).changes);
  }
}

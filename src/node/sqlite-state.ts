/** NodeState on SQLite; shares the database (and its durability settings) with the ledger. */
import type { DatabaseSync } from 'node:sqlite';
import { RollbackError, type ApprovalRecord, type NodeState, type RevocationKind, type RevocationView, type StoredBundle } from './state.ts';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { canonicalUidText } from '../canonical/uid.ts';
import { sha256Hex } from '../util.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bundles (
  digest TEXT PRIMARY KEY, domain TEXT NOT NULL, version INTEGER NOT NULL, bytes BLOB NOT NULL, stored_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bundle_floor (domain TEXT PRIMARY KEY, max_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bundle_active (domain TEXT PRIMARY KEY, digest TEXT NOT NULL REFERENCES bundles(digest));
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY, intent TEXT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL,
  policy_digest TEXT NOT NULL, expires TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', decided_by TEXT, decided_at TEXT,
  used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS consumed_jti (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
-- the enforcement point that used a writ (POST /v1/verify) reports its outcome with this token
CREATE TABLE IF NOT EXISTS outcome_tokens (jti TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL, exp INTEGER NOT NULL);
-- expired rows are pruned (SqliteNodeState.pruneExpired): these indexes keep that a range delete
CREATE INDEX IF NOT EXISTS consumed_jti_exp ON consumed_jti (exp);
CREATE INDEX IF NOT EXISTS outcome_tokens_exp ON outcome_tokens (exp);
CREATE INDEX IF NOT EXISTS approvals_expires ON approvals (expires);
CREATE TABLE IF NOT EXISTS revocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL,
  UNIQUE (kind, value)
);
`;

/**
 * How long a consumed jti is kept past the writ's `exp`. Past `exp` plus the verifier's
 * clock tolerance a writ fails its time window before single use is asked, so its row
 * no longer protects anything; this margin is far above any configured tolerance
 * (default 5 s) and also covers clocks of other processes sharing the home.
 */
export const JTI_RETAIN_SECONDS = 300;
/**
 * How long an outcome token is kept past the writ's `exp`: an execution outlives its
 * writ (the writ gates the start), and its enforcement point reports when it ends.
 */
export const OUTCOME_TOKEN_RETAIN_SECONDS = 24 * 3600;
/** How long an approval row is kept past its `expires` (it can no longer be used; the console lists recent ones). */
export const APPROVAL_RETAIN_MS = 24 * 3600_000;
/** Pruning runs on the write path at most this often, and deletes at most PRUNE_BATCH rows per table per run. */
const PRUNE_INTERVAL_MS = 10_000;
const PRUNE_BATCH = 20_000;

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
}

const toApproval = (r: ApprovalRow): ApprovalRecord => ({
  id: r.id,
  intent: r.intent,
  principal: r.principal,
  action: r.action,
  resource: r.resource,
  policyDigest: r.policy_digest,
  expires: r.expires,
  status: r.status,
  decidedBy: r.decided_by,
  used: Number(r.used) === 1,
});

export class SqliteNodeState implements NodeState {
  private readonly db: DatabaseSync;
  private readonly stmt;
  // Revocations only ever grow (seq is monotonic), so a cache brought up to date by
  // reading rows past the last seen seq is exact; other processes' revocations arrive too.
  private readonly revoked = new Set<string>();
  private revokedSeq = 0;
  private readonly view: RevocationView = { has: (kind, value) => this.revoked.has(`${kind}\u0000${revocationValue(kind, value)}`) };

  private readonly now: () => number;
  private lastPrune = Number.NEGATIVE_INFINITY;

  /** the database this state lives in (the caller credentials share it: src/node/callers.ts) */
  get database(): DatabaseSync {
    return this.db;
  }

  /** `now`: the clock expiry is judged by (ms since the epoch; default Date.now), for tests */
  constructor(db: DatabaseSync, o: { now?: () => number } = {}) {
    this.db = db;
    this.now = o.now ?? Date.now;
    db.exec(SCHEMA);
    this.stmt = {
      pruneJti: db.prepare('DELETE FROM consumed_jti WHERE rowid IN (SELECT rowid FROM consumed_jti WHERE exp < ? LIMIT ?)'),
      pruneOutcomeTokens: db.prepare('DELETE FROM outcome_tokens WHERE rowid IN (SELECT rowid FROM outcome_tokens WHERE exp < ? LIMIT ?)'),
      pruneApprovals: db.prepare('DELETE FROM approvals WHERE rowid IN (SELECT rowid FROM approvals WHERE expires < ? LIMIT ?)'),
      floor: db.prepare('SELECT max_version FROM bundle_floor WHERE domain = ?'),
      consume: db.prepare('INSERT INTO consumed_jti (jti, exp) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      consumed: db.prepare('SELECT 1 FROM consumed_jti WHERE jti = ?'),
      revokedSince: db.prepare('SELECT seq, kind, value FROM revocations WHERE seq > ? ORDER BY seq'),
    };
  }

  maxActivatedVersion(domain: string): number {
    const r = this.stmt.floor.get(domain) as { max_version: number } | undefined;
    return r ? Number(r.max_version) : 0;
  }

  activateBundle(b: StoredBundle): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      // re-checked inside the transaction: another process may have activated meanwhile
      if (b.version <= this.maxActivatedVersion(b.domain)) {
        throw new RollbackError(`version ${b.version} is not above ${this.maxActivatedVersion(b.domain)}, the highest ever activated here`);
      }
      this.db
        .prepare('INSERT INTO bundles (digest, domain, version, bytes, stored_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
        .run(b.digest, b.domain, b.version, b.bytes, new Date(this.now()).toISOString());
      this.db
        .prepare('INSERT INTO bundle_floor (domain, max_version) VALUES (?, ?) ON CONFLICT(domain) DO UPDATE SET max_version = excluded.max_version')
        .run(b.domain, b.version);
      this.db
        .prepare('INSERT INTO bundle_active (domain, digest) VALUES (?, ?) ON CONFLICT(domain) DO UPDATE SET digest = excluded.digest')
        .run(b.domain, b.digest);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  activeWithFloor(domain: string): { digest: string | null; floor: number } {
    // one statement, one read snapshot
    const r = this.db
      .prepare('SELECT (SELECT digest FROM bundle_active WHERE domain = ?1) AS digest, (SELECT max_version FROM bundle_floor WHERE domain = ?1) AS floor')
      .get(domain) as { digest: string | null; floor: number | null };
    return { digest: r.digest ?? null, floor: r.floor === null ? 0 : Number(r.floor) };
  }

  activeBundleDigest(domain: string): string | null {
    const r = this.db.prepare('SELECT digest FROM bundle_active WHERE domain = ?').get(domain) as { digest: string } | undefined;
    return r?.digest ?? null;
  }

  bundle(digest: string): StoredBundle | null {
    const r = this.db.prepare('SELECT digest, domain, version, bytes FROM bundles WHERE digest = ?').get(digest) as
      | { digest: string; domain: string; version: number; bytes: Uint8Array }
      | undefined;
    return r ? { digest: r.digest, domain: r.domain, version: Number(r.version), bytes: new Uint8Array(r.bytes) } : null;
  }

  createApproval(a: Omit<ApprovalRecord, 'status' | 'decidedBy' | 'used'>): void {
    this.maybePrune();
    this.db
      .prepare('INSERT INTO approvals (id, intent, principal, action, resource, policy_digest, expires) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.id, a.intent, a.principal, a.action, a.resource, a.policyDigest, a.expires);
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

  consumeJti(jti: string, exp: number): boolean {
    this.maybePrune();
    return Number(this.stmt.consume.run(jti, exp).changes) === 1;
  }

  issueOutcomeToken(jti: string, exp: number): string {
    this.maybePrune();
    const token = randomBytes(24).toString('base64url');
    this.db.prepare('INSERT INTO outcome_tokens (jti, token_sha256, exp) VALUES (?, ?, ?) ON CONFLICT (jti) DO UPDATE SET token_sha256 = excluded.token_sha256').run(jti, sha256Hex(token), exp);
    return token;
  }

  outcomeTokenMatches(jti: string, token: string): boolean {
    const r = this.db.prepare('SELECT token_sha256 FROM outcome_tokens WHERE jti = ?').get(jti) as { token_sha256: string } | undefined;
    if (!r) return false;
    const given = Buffer.from(sha256Hex(token), 'hex');
    const want = Buffer.from(r.token_sha256, 'hex');
    return given.length === want.length && timingSafeEqual(given, want);
  }

  /**
   * Deletes rows that can no longer matter: consumed jtis and outcome tokens past their
   * retention, approvals long expired. Without it every writ ever used would stay a row.
   * Returns how many rows went, per table (at most PRUNE_BATCH each).
   */
  pruneExpired(): { jti: number; outcomeTokens: number; approvals: number } {
    const nowMs = this.now();
    const nowSec = Math.floor(nowMs / 1000);
    this.lastPrune = nowMs;
    const r = {
      jti: Number(this.stmt.pruneJti.run(nowSec - JTI_RETAIN_SECONDS, PRUNE_BATCH).changes),
      outcomeTokens: Number(this.stmt.pruneOutcomeTokens.run(nowSec - OUTCOME_TOKEN_RETAIN_SECONDS, PRUNE_BATCH).changes),
      approvals: Number(this.stmt.pruneApprovals.run(new Date(nowMs - APPROVAL_RETAIN_MS).toISOString(), PRUNE_BATCH).changes),
    };
    // a full batch means more is left: let the next write prune again rather than wait
    if (r.jti === PRUNE_BATCH || r.outcomeTokens === PRUNE_BATCH || r.approvals === PRUNE_BATCH) this.lastPrune = Number.NEGATIVE_INFINITY;
    return r;
  }

  private maybePrune(): void {
    if (this.now() - this.lastPrune < PRUNE_INTERVAL_MS) return;
    try {
      this.pruneExpired();
    } catch {
      // housekeeping only (e.g. the database is busy): the write that follows decides, and
      // the next one retries; a failed prune must not fail a verification
      this.lastPrune = this.now();
    }
  }

  isJtiConsumed(jti: string): boolean {
    return this.stmt.consumed.get(jti) !== undefined;
  }

  revoke(kind: RevocationKind, value: string, reason: string): boolean {
    const r = this.db
      .prepare('INSERT INTO revocations (kind, value, reason, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(kind, revocationValue(kind, value), reason, new Date(this.now()).toISOString());
    return Number(r.changes) === 1;
  }

  isRevoked(kind: RevocationKind, value: string): boolean {
    return this.revocations().has(kind, value);
  }

  revocations(): RevocationView {
    for (const r of this.stmt.revokedSince.all(this.revokedSeq) as unknown as { seq: number; kind: string; value: string }[]) {
      this.revoked.add(`${r.kind}\u0000${r.value}`);
      this.revokedSeq = Number(r.seq);
    }
    return this.view;
  }

  revocationsSince(since: number): { seq: number; kind: RevocationKind; value: string }[] {
    const rows = this.db.prepare('SELECT seq, kind, value FROM revocations WHERE seq > ? ORDER BY seq').all(since) as unknown as {
      seq: number;
      kind: RevocationKind;
      value: string;
    }[];
    return rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, value: r.value }));
  }
}

/**
 * Principals are kept and looked up in canonical UID text, so that `Agent::"\u0061"` or
 * ` Agent::"a"` revoke the principal every check names `Agent::"a"` — however the operator
 * or the request spelled it.
 */
function revocationValue(kind: RevocationKind, value: string): string {
  return kind === 'principal' || kind === 'quarantine' ? canonicalUidText(value) : value;
}

/**
 * NodeState on SQLite; shares the database (and its durability settings) with the ledger.
 * One store per concern (state.ts), each its own tables in the one database: bundles
 * (sqlite-bundles.ts), approvals (sqlite-approvals.ts), consumed jtis and outcome tokens
 * (sqlite-consumed.ts), revocations (sqlite-revocations.ts). SqliteNodeState composes them
 * and prunes what can no longer matter on the write path.
 */
import type { DatabaseSync } from 'node:sqlite';
import { systemClock } from '../clock.ts';
import type { ApprovalRecord, NodeState, RevocationKind, RevocationView, StoredBundle } from './state.ts';
import { SqliteBundleStore } from './sqlite-bundles.ts';
import { SqliteApprovalStore } from './sqlite-approvals.ts';
import { SqliteConsumedStore, SqliteOutcomeTokenStore } from './sqlite-consumed.ts';
import { SqliteRevocationStore } from './sqlite-revocations.ts';

export { APPROVAL_RETAIN_MS } from './sqlite-approvals.ts';
export { JTI_RETAIN_SECONDS, OUTCOME_TOKEN_RETAIN_SECONDS } from './sqlite-consumed.ts';

/** Pruning runs on the write path at most this often, and deletes at most PRUNE_BATCH rows per table per run. */
const PRUNE_INTERVAL_MS = 10_000;
const PRUNE_BATCH = 20_000;

export class SqliteNodeState implements NodeState {
  private readonly db: DatabaseSync;
  // one store per concern; writes go through here, where pruning is scheduled
  private readonly bundles: SqliteBundleStore;
  private readonly approvals: SqliteApprovalStore;
  private readonly consumed: SqliteConsumedStore;
  private readonly outcomeTokens: SqliteOutcomeTokenStore;
  private readonly revocationStore: SqliteRevocationStore;

  private readonly now: () => number;
  private lastPrune = Number.NEGATIVE_INFINITY;

  /** the database this state lives in (the caller credentials share it: src/node/callers.ts) */
  get database(): DatabaseSync {
    return this.db;
  }

  /** `now`: the clock expiry is judged by (ms since the epoch; default the system clock), for tests */
  constructor(db: DatabaseSync, o: { now?: () => number } = {}) {
    this.db = db;
    this.now = o.now ?? systemClock.now;
    this.bundles = new SqliteBundleStore(db, this.now);
    this.approvals = new SqliteApprovalStore(db);
    this.consumed = new SqliteConsumedStore(db);
    this.outcomeTokens = new SqliteOutcomeTokenStore(db);
    this.revocationStore = new SqliteRevocationStore(db, this.now);
  }

  // BundleStore
  maxActivatedVersion(domain: string): number {
    return this.bundles.maxActivatedVersion(domain);
  }
  activateBundle(b: StoredBundle): void {
    this.bundles.activateBundle(b);
  }
  activeWithFloor(domain: string): { digest: string | null; floor: number } {
    return this.bundles.activeWithFloor(domain);
  }
  activeBundleDigest(domain: string): string | null {
    return this.bundles.activeBundleDigest(domain);
  }
  bundle(digest: string): StoredBundle | null {
    return this.bundles.bundle(digest);
  }

  // ApprovalStore
  createApproval(a: Omit<ApprovalRecord, 'status' | 'decidedBy' | 'used'>): void {
    this.maybePrune();
    this.approvals.createApproval(a);
  }
  approval(id: string): ApprovalRecord | null {
    return this.approvals.approval(id);
  }
  pendingApprovals(): ApprovalRecord[] {
    return this.approvals.pendingApprovals();
  }
  decidedApprovalsSince(since: Date, limit: number): ApprovalRecord[] {
    return this.approvals.decidedApprovalsSince(since, limit);
  }
  allApprovals(): ApprovalRecord[] {
    return this.approvals.allApprovals();
  }
  decideApproval(id: string, status: 'approved' | 'rejected' | 'expired', by: string, at: Date): boolean {
    return this.approvals.decideApproval(id, status, by, at);
  }
  useApproval(id: string): boolean {
    return this.approvals.useApproval(id);
  }

  // ConsumedStore
  consumeJti(jti: string, exp: number): boolean {
    this.maybePrune();
    return this.consumed.consumeJti(jti, exp);
  }
  isJtiConsumed(jti: string): boolean {
    return this.consumed.isJtiConsumed(jti);
  }

  // OutcomeTokenStore
  issueOutcomeToken(jti: string, exp: number): string {
    this.maybePrune();
    return this.outcomeTokens.issueOutcomeToken(jti, exp);
  }
  outcomeTokenMatches(jti: string, token: string): boolean {
    return this.outcomeTokens.outcomeTokenMatches(jti, token);
  }

  // RevocationStore
  revoke(kind: RevocationKind, value: string, reason: string, o?: { fsync?: boolean }): boolean {
    return this.revocationStore.revoke(kind, value, reason, o);
  }
  isRevoked(kind: RevocationKind, value: string): boolean {
    return this.revocationStore.isRevoked(kind, value);
  }
  revocations(): RevocationView {
    return this.revocationStore.revocations();
  }
  revocationsSince(since: number): { seq: number; kind: RevocationKind; value: string }[] {
    return this.revocationStore.revocationsSince(since);
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
      jti: this.consumed.prune(nowSec, PRUNE_BATCH),
      outcomeTokens: this.outcomeTokens.prune(nowSec, PRUNE_BATCH),
      approvals: this.approvals.prune(nowMs, PRUNE_BATCH),
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
}

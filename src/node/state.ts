/** What the decision path needs of persistent node state, by concern. Storage is a parameter. */
import { WritError } from '../writ/errors.ts';

export type RevocationKind = 'writ' | 'principal' | 'node' | 'bundle' | 'quarantine';

/** activateBundle found the version not above the floor (another activation got there first). */
export class RollbackError extends WritError {
  override name = 'RollbackError';
  constructor(message: string, options?: ErrorOptions) {
    super('bundle_rollback', message, options);
  }
}

export interface RevocationView {
  has(kind: RevocationKind, value: string): boolean;
}

export interface ApprovalRecord {
  /** the id of the decision that asked for it */
  id: string;
  intent: string;
  principal: string;
  action: string;
  resource: string;
  policyDigest: string;
  expires: string;
  /**
   * The call's arguments as canonical JSON, so an approver judges what is asked and not only
   * its digest (`intent`); null when the call had none, when it exceeded MAX_APPROVAL_ARGS_CHARS
   * or when the request predates the column; absent where a view leaves them out (a fleet report).
   */
  args?: string | null;
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  decidedBy: string | null;
  used: boolean;
}

export interface StoredBundle {
  digest: string;
  domain: string;
  version: number;
  bytes: Uint8Array;
}

/** The policy bundles the node stored and activated, and the anti-rollback floor (active-policy.ts). */
export interface BundleStore {
  /** highest bundle version ever activated for the domain (anti-rollback), 0 if none */
  maxActivatedVersion(domain: string): number;
  /** stores the bundle, raises the anti-rollback floor and makes it active, atomically; refuses a version not above the floor */
  activateBundle(b: StoredBundle): void;
  activeBundleDigest(domain: string): string | null;
  /** the active bundle's digest and the anti-rollback floor, read together (one snapshot: an activation by another process never falls between them) */
  activeWithFloor(domain: string): { digest: string | null; floor: number };
  bundle(digest: string): StoredBundle | null;
}

/** Human approval requests and their decisions (approval.ts). */
export interface ApprovalStore {
  createApproval(a: Omit<ApprovalRecord, 'status' | 'decidedBy' | 'used'>): void;
  approval(id: string): ApprovalRecord | null;
  pendingApprovals(): ApprovalRecord[];
  /** every approval request, whatever its status (for the audit) */
  allApprovals(): ApprovalRecord[];
  /** approvals decided at or after `since`, newest first */
  decidedApprovalsSince(since: Date, limit: number): ApprovalRecord[];
  /** pending → approved/rejected/expired; false if it was not pending */
  decideApproval(id: string, status: 'approved' | 'rejected' | 'expired', by: string, at: Date): boolean;
  /** marks an approved approval used; false if it was used before */
  useApproval(id: string): boolean;
}

/** Single use of writs on this node's own state (single-use.ts, stateSingleUse). */
export interface ConsumedStore {
  /** marks a jti as used; false if it was used before */
  consumeJti(jti: string, exp: number): boolean;
  isJtiConsumed(jti: string): boolean;
}

/** The secrets with which the enforcement point that used a writ reports its outcome (server/outcome-route.ts). */
export interface OutcomeTokenStore {
  /** a secret for the enforcement point that just used this writ, to report its outcome with (only its digest is kept) */
  issueOutcomeToken(jti: string, exp: number): string;
  outcomeTokenMatches(jti: string, token: string): boolean;
}

/** Reading the revocations: the gate, the lineage gate, activation, the audit and the signed revocation list. */
export interface RevocationReader {
  isRevoked(kind: RevocationKind, value: string): boolean;
  /** every revocation known now, brought up to date once; for checking several things at one instant */
  revocations(): RevocationView;
  /** revocations created after `since` (a monotonic sequence number) */
  revocationsSince(since: number): { seq: number; kind: RevocationKind; value: string }[];
}

/** The revocations, read and added (evidence.ts revoke: the leaf first, then this). */
export interface RevocationStore extends RevocationReader {
  /**
   * adds a revocation; false if it was there already. `fsync: false` commits it without
   * waiting for the disk, for a copy of a record kept elsewhere (a fleet node's copy of the
   * revocations bucket, re-applied from the bucket at every start before it counts).
   */
  revoke(kind: RevocationKind, value: string, reason: string, o?: { fsync?: boolean }): boolean;
}

/** All of the node's persistent state, one concern per interface above; each consumer takes only the ones it needs. */
export interface NodeState extends BundleStore, ApprovalStore, ConsumedStore, OutcomeTokenStore, RevocationStore {}

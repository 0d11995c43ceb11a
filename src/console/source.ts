/**
 * What a console shows, independent of who serves it. `writ up` and `writ node` serve
 * one node's view (node-source.ts); `writ authority` serves the fleet's (authority-source.ts):
 * every node's health from the status bucket, the bundle of every domain, and — with
 * PostgreSQL — the fleet's ledger. routes.ts turns a source into HTTP; the pages import
 * these shapes as types only. A part a source does not have is absent, and its routes
 * answer 404 `not_available` with the reason.
 */
import type { ApprovalRecord } from '../node/state.ts';
import type { Activation, LineageGraph, NodeHealth } from './data.ts';
import type { LedgerTallySnapshot } from '../telemetry/ledger-tally.ts';
import type { StatsSnapshot } from '../telemetry/decision-stats.ts';
import type { RunningView } from '../home/running.ts';

export type { RunningView } from '../home/running.ts';

export type PageName = 'governance' | 'health' | 'lineage' | 'proof' | 'ledger' | 'running' | 'demo';

export interface ConsoleAbout {
  role: 'node' | 'authority';
  /** node id, or `authority` */
  id: string;
  domain: string;
  /** the fleet's name; null for an embedded node */
  fleet: string | null;
  software: string;
  /** the pages this console can fill */
  pages: PageName[];
  /** why pages are missing, for the user */
  notes: string[];
}

export interface BundleFile {
  name: string;
  sha256: string | null;
  size: number;
  text: string;
}

export interface BundleView {
  domain: string;
  version: number;
  digest: string;
  signers: string[];
  created: string;
  expires: string;
  expired: boolean;
  files: BundleFile[];
}

export type ApprovalView = Pick<ApprovalRecord, 'id' | 'intent' | 'principal' | 'action' | 'resource' | 'policyDigest' | 'expires' | 'status' | 'args'> & {
  /** the node that holds it, where the console is not that node's (the authority's) */
  node?: string;
  /** where that node says its console is */
  at?: string | null;
  /**
   * why the request does not show what its decision recorded (node/approval-record.ts), or
   * null when it does; absent where the console cannot check (the authority's fleet list)
   */
  recordProblem?: string | null;
};

export interface GovernanceView {
  node: { id: string; domain: string };
  bundles: BundleView[];
  activations: Activation[];
  approvals: ApprovalView[];
  /** one node's view (its active bundle, its ledger) or the fleet's (what the authority names) */
  scope: 'node' | 'fleet';
}

export interface HealthView {
  now: string;
  nodes: NodeHealth[];
  /** what this server's node decided (with latencies), since it started */
  stats: StatsSnapshot;
  /** every decision in this home's ledger, whichever process made it (a node's console) */
  ledger?: LedgerTallySnapshot;
}

export interface EntriesPage {
  size: number;
  checkpoint: { size: number; created: string } | null;
  entries: { index: number; type: string; leaf: string }[];
}

export interface StoredCheckpointView {
  size: number;
  created: string;
  note: string;
}

export interface ProofView {
  index: number;
  /** a C2SP tlog-proof@v1 file */
  proof: string;
  entry: string;
}

export interface ConsoleLedger {
  entries(from: number | undefined, limit: number): Promise<EntriesPage>;
  checkpoints(): Promise<StoredCheckpointView[]>;
  /** the proof of an entry at the latest checkpoint; a message when there is none */
  proof(index: number): Promise<ProofView | { missing: string }>;
}

export type ApprovalOutcome = { approval: ApprovalRecord } | { status: 400 | 404 | 409 | 504; error: string; message: string };

/** what the admin saw: the node holding the request and its intent (the authority requires both) */
export interface ApprovalTarget {
  node?: string;
  intent?: string;
}

/** GET /console/api/running: what runs now under this node's writs (never the writs themselves) */
export interface RunningList {
  now: string;
  running: RunningView[];
  /** whether this console can terminate (embedded: yes; a fleet node: the authority revokes) */
  terminate: boolean;
  notes: string[];
}

export type TerminateOutcome = { terminated: true; jti: string; ledgerIndex: number | null; created: boolean } | { status: 404 | 409; error: string; message: string };

export interface ConsoleSource {
  about: ConsoleAbout;
  governance(): Promise<GovernanceView>;
  health(seconds: number): Promise<HealthView>;
  ledger?: ConsoleLedger;
  lineage?(query: string, kind: 'auto' | 'writ' | 'principal' | 'session'): Promise<LineageGraph>;
  decideApproval?(id: string, decision: 'approve' | 'reject', target: ApprovalTarget): Promise<ApprovalOutcome>;
  running?(): Promise<RunningList>;
  /** ends a running execution by revoking its writ, recorded (as `writ ps --terminate`) */
  terminate?(jti: string, reason: string | undefined): Promise<TerminateOutcome>;
}

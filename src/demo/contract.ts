/**
 * The Runtime Governance Demo's wire shapes (version 1): what `writ up --demo` serves under
 * /console/api/demo and what `writ demo` prints from. The console's demo page imports these
 * as types only. Documented with examples in docs/demo.md.
 *
 *   GET  /console/api/demo                       → DemoOverview
 *   POST /console/api/demo/steps/:id/run          → DemoChain   (the approval step answers at once with `pending`)
 *   POST /console/api/demo/approvals/:approvalId  {approve: boolean} → DemoChain (the approval step, finished)
 *   POST /console/api/demo/try                    DemoTryRequest → DemoChain (anonymous: sandbox principals and
 *                                                 resources only; otherwise the admin bearer token; rate-limited)
 *
 * Errors are `{ error: { code, message } }` with 400 (bad input), 401/403 (not allowed), 404 (no such step),
 * 409 (a step already running), 429 (rate limit, with Retry-After).
 */

export const DEMO_CONTRACT_VERSION = 1;

export type DemoStepId =
  | 'read-allowed'
  | 'write-denied'
  | 'traversal-denied'
  | 'approval'
  | 'delegated-child'
  | 'exec-allowed'
  | 'exec-denied'
  | 'revocation';

export interface DemoStepInfo {
  id: DemoStepId;
  title: string;
  /** one or two sentences: what the step shows and what the visitor should expect */
  explain: string;
  /** what the step goes through: `writ mcp` in front of the filesystem server, `writ exec`, or the node directly */
  via: 'mcp' | 'exec' | 'node';
  expect: 'allow' | 'deny';
  /** the approval step waits for the visitor */
  interactive: boolean;
}

export interface DemoOverview {
  v: typeof DEMO_CONTRACT_VERSION;
  steps: DemoStepInfo[];
  /** the sandbox folder the demo created (the filesystem server's only root) */
  sandbox: string;
  /** principals an anonymous visitor may name in "try your own" */
  principals: string[];
  /** resources an anonymous visitor may name in "try your own" (Cedar uid text) */
  resources: string[];
  /** actions an anonymous visitor may name */
  actions: string[];
  /** the chains of the steps run so far in this server's life, latest per step */
  runs: DemoChain[];
}

export interface DemoTryRequest {
  principal: string;
  action: string;
  resource: string;
  args: Record<string, unknown>;
}

/** One policy that determined the decision, with its source text for the page to highlight. */
export interface DemoPolicy {
  id: string;
  effect: 'permit' | 'forbid';
  text: string;
}

export interface DemoLedgerEntry {
  index: number;
  /** 'decision' | 'outcome' | … (the leaf's kind) */
  kind: string;
  /** base64 of the RFC 6962 leaf hash */
  leafHash: string;
  /** the leaf as recorded (its JSON) */
  entry: unknown;
}

export interface DemoChain {
  step: DemoStepId | 'try';
  /** ISO time the step started */
  at: string;
  request: { principal: string; action: string; resource: string; args: unknown; parent: string | null };
  decision: {
    decisionId: string;
    decision: 'allow' | 'deny';
    reasons: string[];
    message: string;
    /** ids of the determining policies */
    policies: string[];
    bundle: { version: number; digest: string } | null;
    ledgerIndex: number | null;
  };
  determining: DemoPolicy[];
  /** null when denied (no writ) */
  writ: { compact: string; header: Record<string, unknown>; claims: Record<string, unknown> } | null;
  /** the executor's verification of the writ against the action it runs; null when there was no writ */
  verification: { ok: boolean; reason: string | null; detail: string } | null;
  outcome: {
    /** not-run: denied, nothing ran */
    status: 'ok' | 'failed' | 'terminated' | 'not-run' | 'pending';
    detail: string;
    /** a fact the visitor can check, e.g. `sandbox/notes/out.txt absent: true` */
    evidence: string | null;
    ledgerIndex: number | null;
  };
  /** the ledger entries this step wrote, in order (decision first) */
  ledger: DemoLedgerEntry[];
  /** the lineage root (jti) whose graph the page draws; null without a writ */
  lineageRoot: string | null;
  /** the approval step while it waits for the visitor */
  pending: { approvalId: string; args: unknown } | null;
}

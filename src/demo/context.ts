/** What a demo step runs with, and how its chain is put together from the evidence. */
import type { Ledger } from '../ledger/ledger.ts';
import type { GovernanceNode } from '../node/node.ts';
import type { RunningRegistry } from '../node/running.ts';
import type { NodeState } from '../node/state.ts';
import { WritError } from '../writ/errors.ts';
import { decisionEntry, decisionFromLeaf, decodedWrit, entriesOf } from './chain.ts';
import type { DemoChain, DemoStepId } from './contract.ts';
import type { DemoMcpSession } from './mcp-session.ts';
import type { Sandbox } from './sandbox.ts';

export interface StepContext {
  node: GovernanceNode;
  ledger: Ledger;
  state: NodeState;
  running?: RunningRegistry;
  sandbox: Sandbox;
  /** the agent's governed MCP session (opened on first use) */
  mcp: () => Promise<DemoMcpSession>;
  log: (line: string) => void;
  step: DemoStepId | 'try';
  /** ISO time the step started */
  at: string;
  /** the ledger's size when the step started: its entries are at or after it */
  from: number;
}

export interface ChainParts {
  /** the decision's id (for a denial) or its writ (for an allow) */
  decided: { decisionId: string; message?: string } | { writ: string; message?: string };
  verification: DemoChain['verification'];
  outcome: DemoChain['outcome'];
  /** more ids whose entries belong to the step (an approval, a revocation's writ) */
  related?: string[];
  pending?: DemoChain['pending'];
}

/** The chain of a step, read back from the ledger: a decision that is not there is an error, not a blank. */
export function chainOf(c: StepContext, p: ChainParts): DemoChain {
  const writ = 'writ' in p.decided ? decodedWrit(p.decided.writ) : null;
  const jti = writ && typeof writ.claims.jti === 'string' ? writ.claims.jti : null;
  const entry = decisionEntry(c.ledger, jti ? { jti } : { decisionId: (p.decided as { decisionId: string }).decisionId });
  if (!entry) throw new WritError('internal_error', `the demo's ${c.step} decision is not in the ledger`);
  const d = decisionFromLeaf(c.node, entry, p.decided.message ?? null);
  const lin = writ?.claims.lin as { root?: unknown } | undefined;
  const ids = [d.decision.decisionId, ...(jti ? [jti] : []), ...(p.related ?? [])];
  return {
    step: c.step,
    at: c.at,
    request: d.request,
    decision: d.decision,
    determining: d.determining,
    writ,
    verification: p.verification,
    outcome: p.outcome,
    ledger: entriesOf(c.ledger, Math.min(c.from, entry.index), ids),
    lineageRoot: jti ? (typeof lin?.root === 'string' ? lin.root : jti) : null,
    pending: p.pending ?? null,
  };
}

/** The outcome of a step Writ refused: nothing ran, and the fact that shows it. */
export function notRun(detail: string, evidence: string | null): DemoChain['outcome'] {
  return { status: 'not-run', detail, evidence, ledgerIndex: null };
}

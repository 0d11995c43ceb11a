/** The console of one node (`writ up`, `writ node`): its bundle, its ledger, its approvals. */
import type { Ledger } from '../ledger/ledger.ts';
import type { TransparencyLog } from '../ledger/log.ts';
import { formatProofFile } from '../tlog/proof-file.ts';
import { ApprovalStateError, decideApproval, recordProblem } from '../node/approval.ts';
import type { GovernanceNode } from '../node/node.ts';
import type { NodeState } from '../node/state.ts';
import type { RunningRegistry } from '../node/running.ts';
import { revoke } from '../node/evidence.ts';
import { processAlive, runningView, terminationReason } from '../home/running.ts';
import { ActivationHistory, activeBundles, nodeHealth, searchLineage } from './data.ts';
import type { ConsoleSource } from './source.ts';
import { DecisionStats } from '../telemetry/decision-stats.ts';
import { LedgerTally } from '../telemetry/ledger-tally.ts';

export interface NodeConsoleDeps {
  node: GovernanceNode;
  ledger: Ledger;
  state: NodeState;
  log: TransparencyLog;
  software: string;
  /** a fleet node's status report (beacon age, readiness); embedded nodes have none */
  nodeStatus?: () => Record<string, unknown>;
  /** the node's decision statistics, if something already observes it (a fleet node's reports) */
  stats?: DecisionStats;
  fleet?: string;
  /** the home's running executions (issue 13): the Running page; terminating there is revoking the writ, embedded only */
  running?: RunningRegistry;
  /** the Runtime Governance Demo's routes are served (`writ up --demo`, src/console/demo-routes.ts): the Demo page; default false */
  demo?: boolean;
}

const decoder = new TextDecoder();

export function nodeConsoleSource(deps: NodeConsoleDeps): ConsoleSource {
  const { node, ledger, state, log } = deps;
  const stats = deps.stats ?? DecisionStats.observe(node);
  const tally = new LedgerTally(ledger);
  const history = new ActivationHistory();
  const startedAt = new Date().toISOString();
  return {
    about: {
      role: 'node',
      id: node.identity.nodeId,
      domain: node.identity.domain,
      fleet: deps.fleet ?? null,
      software: deps.software,
      pages: ['governance', 'health', 'lineage', 'proof', 'ledger', ...(deps.running ? (['running'] as const) : []), ...(deps.demo ? (['demo'] as const) : [])],
      notes: deps.nodeStatus ? ['This is one fleet node: the ledger shown is what this node wrote; the authority’s console shows the whole fleet.'] : [],
    },
    async governance() {
      await node.policy.refresh().catch(() => undefined);
      return {
        node: { id: node.identity.nodeId, domain: node.identity.domain },
        bundles: activeBundles(node),
        activations: await history.list(ledger),
        approvals: state.pendingApprovals().map((a) => ({ ...a, recordProblem: recordProblem(ledger, a) })),
        scope: 'node',
      };
    },
    async health(seconds) {
      return {
        now: new Date().toISOString(),
        nodes: [nodeHealth(node, { software: deps.software, startedAt, ...(deps.nodeStatus && { status: deps.nodeStatus }) })],
        stats: stats.snapshot(seconds),
        ledger: tally.snapshot(seconds),
      };
    },
    ledger: {
      async entries(from, limit) {
        const size = ledger.size();
        const start = from ?? Math.max(0, size - limit);
        const cp = log.latestCheckpoint();
        const entries = ledger.entries(start, limit).map((e) => ({ index: e.index, type: e.type, leaf: decoder.decode(e.leaf) }));
        return { size, checkpoint: cp ? { size: cp.size, created: cp.created } : null, entries };
      },
      async checkpoints() {
        return log.checkpoints().slice(-50).reverse().map((c) => ({ size: c.size, created: c.created, note: c.note }));
      },
      async proof(i) {
        const cp = log.latestCheckpoint();
        const entry = log.entry(i);
        if (!entry) return { missing: `no entry ${i}` };
        if (!cp || cp.size <= i) return { missing: `no signed checkpoint covers entry ${i} yet` };
        return { index: i, proof: formatProofFile({ index: i, proof: log.inclusionProof(i, cp.size), checkpoint: cp.note }), entry: decoder.decode(entry) };
      },
    },
    lineage: (q, kind) => searchLineage(ledger, q, kind),
    ...(deps.running && runningParts(deps.running, ledger, state, deps.fleet)),
    async decideApproval(id, decision, target) {
      if (target.node !== undefined && target.node !== node.identity.nodeId) return { status: 404, error: 'unknown_approval', message: `this is node ${node.identity.nodeId}, not ${target.node}` };
      if (target.intent !== undefined && state.approval(id)?.intent !== target.intent) return { status: 409, error: 'approval_intent_mismatch', message: `approval ${id} is not for that intent` };
      try {
        const a = await decideApproval(ledger, state, id, decision === 'approve' ? 'approved' : 'rejected', 'console-admin');
        return { approval: a };
      } catch (err) {
        if (!(err instanceof ApprovalStateError)) throw err;
        const missing = state.approval(id) === null;
        return { status: missing ? 404 : 409, error: missing ? 'unknown_approval' : 'approval_not_pending', message: err.message };
      }
    },
  };
}

/**
 * The Running page's reads and its one action. Terminating revokes the writ exactly as
 * `writ ps --terminate` / `writ revoke --kind writ` do on an embedded home (recorded in the
 * ledger; the enforcement point's lease ends the execution). A fleet node signs no
 * revocations: there the page lists, and the authority terminates.
 */
function runningParts(running: RunningRegistry, ledger: Ledger, state: NodeState, fleet: string | undefined): Pick<ConsoleSource, 'running' | 'terminate'> {
  const notes = fleet ? [`This is a node of fleet ${fleet}: revocations are signed by the fleet's authority, so terminate there (writ ps --terminate <jti> --home <authority home>).`] : [];
  return {
    async running() {
      const now = Date.now();
      return { now: new Date(now).toISOString(), running: running.list(processAlive).map((r) => runningView(r, now)), terminate: fleet === undefined, notes };
    },
    ...(fleet === undefined && {
      async terminate(jti: string, reason: string | undefined) {
        if (!running.list(processAlive).some((r) => r.jti === jti)) return { status: 404 as const, error: 'not_running', message: `no running execution under writ ${jti}` };
        const r = await revoke(ledger, state, { kind: 'writ', value: jti, reason: terminationReason('console-admin', reason), by: 'console-admin' });
        return { terminated: true as const, jti, ...r };
      },
    }),
  };
}

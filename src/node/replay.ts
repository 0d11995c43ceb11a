/**
 * Replay: every recorded decision that reached Cedar is evaluated again with its
 * recorded bundle and its recorded canonical input, and must come out the same
 * (decision, reason codes and determining policies). Gate denials made before
 * evaluation (no bundle, revoked principal, …) carry no input and are counted apart.
 * Recorded usage counters (`context.usage`) are also re-derived from the entries before
 * each decision and must match (usage-replay.ts, docs/budgets.md).
 */
import type { Ledger } from '../ledger/ledger.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import { recordedPrincipalEntity } from '../policy/principal-entity.ts';
import { LEAF_VERSION_PRINCIPAL_ENTITY } from '../ledger/leaf.ts';
import type { AuthorityTrust } from '../policy/verify-bundle.ts';
import { errorMessage, isRecord } from '../util.ts';
import { loadRecordedBundle, type ActiveBundle } from './active-policy.ts';
import type { BundleStore } from './state.ts';
import { UsageRederivation } from './usage-replay.ts';

export interface ReplayDifference {
  index: number;
  decisionId: string;
  recorded: { decision: string; reasons: string[]; policies: string[] };
  replayed: { decision: string; reasons: string[]; policies: string[] } | null;
  error?: string;
}

export interface ReplayReport {
  decisions: number;
  replayed: number;
  gateDenials: number;
  differences: ReplayDifference[];
}

interface DecisionLeaf {
  id: string;
  v?: unknown;
  approval?: string | null;
  input: EvaluationRequest | null;
  policy: { digest: string } | null;
  result: { decision: string; reasons: string[]; policies: string[] };
}

/**
 * The recorded input as evaluated: a supplied principal entity (input.principalEntity) is
 * checked as the node checked it, and only in a leaf of the version that carries it.
 */
export function recordedInput(leaf: { v?: unknown; input: unknown }): EvaluationRequest {
  const input = leaf.input as EvaluationRequest;
  const pe: unknown = input.principalEntity;
  if (pe === undefined) {
    if (leaf.v === LEAF_VERSION_PRINCIPAL_ENTITY) throw new Error(`a version ${LEAF_VERSION_PRINCIPAL_ENTITY} decision leaf without input.principalEntity`);
    return input;
  }
  if (leaf.v !== LEAF_VERSION_PRINCIPAL_ENTITY) throw new Error(`input.principalEntity in a decision leaf of version ${JSON.stringify(leaf.v)} (it is recorded only at version ${LEAF_VERSION_PRINCIPAL_ENTITY})`);
  return { ...input, principalEntity: recordedPrincipalEntity(pe, input.principal) };
}

const same = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);

export async function replayDecisions(ledger: Ledger, state: Pick<BundleStore, 'bundle'>, trust: AuthorityTrust): Promise<ReplayReport> {
  const report: ReplayReport = { decisions: 0, replayed: 0, gateDenials: 0, differences: [] };
  const bundles = new Map<string, Promise<ActiveBundle>>();
  const usage = new UsageRederivation();
  try {
    for (let from = 0; ; ) {
      const page = ledger.entries(from, 1000);
      if (page.length === 0) break;
      from = (page.at(-1)?.index ?? from) + 1;
      for (const e of page) {
        // The type is read from the leaf bytes (which the tree protects), never from the index column.
        let leaf: DecisionLeaf & { type?: unknown };
        try {
          leaf = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(e.leaf)) as DecisionLeaf & { type?: unknown };
          if (!isRecord(leaf)) throw new Error('not a JSON object');
        } catch (err) {
          report.differences.push({ index: e.index, decisionId: '', recorded: { decision: '?', reasons: [], policies: [] }, replayed: null, error: `entry is not readable JSON: ${errorMessage(err)}` });
          continue;
        }
        try {
          if (leaf.type !== 'decision') continue;
          report.decisions++;
          if (!isRecord(leaf.input) || leaf.policy === null) {
            report.gateDenials++;
            continue;
          }
          const recorded = leaf.result;
          try {
            let b = bundles.get(leaf.policy.digest);
            if (!b) bundles.set(leaf.policy.digest, (b = loadRecordedBundle(state, leaf.policy.digest, trust)));
            const input = recordedInput(leaf);
            const evaluated = (await b).engine.evaluate(input);
            // the recorded usage counters, re-derived from the ledger before this entry (usage-replay.ts)
            const usageError = usage.check(leaf as unknown as Record<string, unknown>, input, (await b).engine.usage);
            // An allow that needs approval was recorded as approval_required until approved.
            const r =
              evaluated.requiresApproval && !leaf.approval ? { ...evaluated, decision: 'deny' as const, reasons: ['approval_required' as const] } : evaluated;
            if (!evaluated.requiresApproval && leaf.approval) {
              report.differences.push({ index: e.index, decisionId: leaf.id, recorded, replayed: { decision: r.decision, reasons: r.reasons, policies: r.policies }, error: 'recorded an approval the policy does not ask for' });
              continue;
            }
            report.replayed++;
            if (r.decision !== recorded.decision || !same(r.reasons, recorded.reasons) || !same(r.policies, recorded.policies) || usageError !== null) {
              report.differences.push({ index: e.index, decisionId: leaf.id, recorded, replayed: { decision: r.decision, reasons: r.reasons, policies: r.policies }, ...(usageError !== null && { error: usageError }) });
            }
          } catch (err) {
            report.differences.push({ index: e.index, decisionId: leaf.id, recorded, replayed: null, error: errorMessage(err) });
          }
        } finally {
          usage.add(e.index, leaf as unknown as Record<string, unknown>);
        }
      }
    }
  } finally {
    for (const b of bundles.values()) b.then((x) => x.engine.dispose()).catch(() => undefined);
  }
  return report;
}

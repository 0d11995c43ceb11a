/**
 * The decisions recorded in a ledger, as `policy diff` decides them again: each decision
 * leaf's canonical input (the Cedar request exactly as evaluated) with what was recorded.
 * Read as replay.ts reads them (the leaf bytes, never the index columns), with replay's
 * own reading of the recorded input (its principal entity checks included).
 */
import type { Ledger } from '../ledger/ledger.ts';
import { recordedInput } from '../node/replay.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import { errorMessage, isRecord } from '../util.ts';
import type { Outcome } from './policy-test.ts';

export type RecordedDecision =
  | { kind: 'decided'; index: number; decisionId: string; input: EvaluationRequest; recorded: Outcome; approved: boolean }
  /** denied before Cedar ran (no bundle, revoked principal, bad parent …): no input was recorded */
  | { kind: 'gate'; index: number }
  | { kind: 'error'; index: number; error: string };

function outcome(v: unknown): Outcome {
  if (!isRecord(v) || (v.decision !== 'allow' && v.decision !== 'deny') || !Array.isArray(v.reasons) || !Array.isArray(v.policies)) throw new Error('result is not {decision, reasons, policies}');
  return { decision: v.decision, reasons: v.reasons.map(String), policies: v.policies.map(String) };
}

export function* recordedDecisions(ledger: Ledger): Generator<RecordedDecision> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let from = 0; ; ) {
    const page = ledger.entries(from, 1000);
    if (page.length === 0) return;
    from = (page.at(-1)?.index ?? from) + 1;
    for (const e of page) {
      let leaf: unknown;
      try {
        leaf = JSON.parse(decoder.decode(e.leaf));
      } catch (err) {
        yield { kind: 'error', index: e.index, error: `entry is not readable JSON: ${errorMessage(err)}` };
        continue;
      }
      if (!isRecord(leaf) || leaf.type !== 'decision') continue;
      if (!isRecord(leaf.input) || leaf.policy === null) {
        yield { kind: 'gate', index: e.index };
        continue;
      }
      try {
        yield { kind: 'decided', index: e.index, decisionId: String(leaf.id), input: recordedInput({ v: leaf.v, input: leaf.input }), recorded: outcome(leaf.result), approved: typeof leaf.approval === 'string' };
      } catch (err) {
        yield { kind: 'error', index: e.index, error: errorMessage(err) };
      }
    }
  }
}

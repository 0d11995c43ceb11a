/**
 * Reading a demo step's chain back from the evidence: the decision as the ledger recorded
 * it, the determining policies' text, the writ's decoded claims, and every ledger entry the
 * step wrote. Built from what was recorded, not from what the runner meant to do, so the
 * page shows the evidence itself.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { Ledger, LedgerEntry } from '../ledger/ledger.ts';
import { leafObject } from '../ledger/leaf.ts';
import type { GovernanceNode } from '../node/node.ts';
import { encodeBase64 } from '../tlog/base64.ts';
import { leafHash } from '../tlog/merkle.ts';
import { isRecord } from '../util.ts';
import type { DemoChain, DemoLedgerEntry, DemoPolicy } from './contract.ts';

/** Entries read back per step: a step writes a handful; the rest of the log is not its. */
const MAX_SCAN = 10_000;

export function ledgerEntry(e: LedgerEntry): DemoLedgerEntry {
  return { index: e.index, kind: e.type, leafHash: encodeBase64(leafHash(e.leaf)), entry: leafObject(e.leaf) };
}

/**
 * The entries since `from` that concern the step: those whose leaf names one of its ids
 * (decision ids, writ ids, approval ids: UUIDs, so a mention is the thing itself).
 */
export function entriesOf(ledger: Ledger, from: number, ids: readonly string[]): DemoLedgerEntry[] {
  const wanted = ids.filter((id) => id.length >= 16);
  if (wanted.length === 0) return [];
  const text = new TextDecoder();
  return ledger
    .entries(from, MAX_SCAN)
    .filter((e) => {
      const s = text.decode(e.leaf);
      return wanted.some((id) => s.includes(id));
    })
    .map(ledgerEntry);
}

export function decodedWrit(compact: string): NonNullable<DemoChain['writ']> {
  return { compact, header: decodeProtectedHeader(compact) as Record<string, unknown>, claims: decodeJwt(compact) as Record<string, unknown> };
}

/** The determining policies with their source text, when the bundle that decided is the one loaded. */
export function determiningPolicies(node: GovernanceNode, ids: readonly string[], digest: string | null): DemoPolicy[] {
  const active = node.policy.active;
  const loaded = active && active.bundle.digest === digest ? active.engine.source.policies : [];
  return ids.map((id) => {
    const p = loaded.find((x) => x.id === id);
    if (!p) return { id, effect: 'permit' as const, text: `(the text of ${id} is in bundle ${digest ?? 'unknown'}, which is no longer active)` };
    return { id, effect: p.json.effect === 'forbid' ? 'forbid' : 'permit', text: p.text };
  });
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The decision part of a chain, from the decision's ledger entry (the evidence). */
export function decisionFromLeaf(node: GovernanceNode, e: LedgerEntry, message: string | null): { decision: DemoChain['decision']; determining: DemoPolicy[]; request: DemoChain['request'] } {
  const leaf = leafObject(e.leaf);
  const result = isRecord(leaf.result) ? leaf.result : {};
  const request = isRecord(leaf.request) ? leaf.request : {};
  const policy = isRecord(leaf.policy) ? leaf.policy : null;
  const decision = result.decision === 'allow' ? 'allow' : 'deny';
  const reasons = Array.isArray(result.reasons) ? result.reasons.map(String) : [];
  const policies = Array.isArray(result.policies) ? result.policies.map(String) : [];
  const digest = policy ? str(policy.digest) : null;
  return {
    decision: {
      decisionId: str(leaf.id) ?? '',
      decision,
      reasons,
      message: message ?? (decision === 'allow' ? `allowed by ${policies.join(', ') || 'policy'}` : `denied: ${reasons.join(', ')}`),
      policies,
      bundle: policy && digest ? { version: Number(policy.version), digest } : null,
      ledgerIndex: e.index,
    },
    determining: determiningPolicies(node, policies, digest),
    request: {
      principal: str(request.principal) ?? '',
      action: str(request.action) ?? '',
      resource: str(request.resource) ?? '',
      args: request.args ?? {},
      parent: str(request.parent),
    },
  };
}

/** The decision entry of writ `jti` (an allow), or of decision `id` (any). */
export function decisionEntry(ledger: Ledger, by: { jti: string } | { decisionId: string }): LedgerEntry | null {
  if ('jti' in by) return ledger.findByJti(by.jti, 'decision').find((e) => !('reevaluates' in leafObject(e.leaf))) ?? null;
  return ledger.findByDecisionId(by.decisionId);
}

/** The outcome entry of writ `jti`, if one is recorded. */
export function outcomeEntry(ledger: Ledger, jti: string): { index: number; leaf: Record<string, unknown> } | null {
  const e = ledger.findByJti(jti, 'outcome')[0];
  return e ? { index: e.index, leaf: leafObject(e.leaf) } : null;
}

/** Digests and messages of a decision: the intent, the canonical input, the text of a denial. */
import type { EvaluationRequest } from '../policy/engine.ts';
import { uidText } from '../canonical/uid.ts';
import type { ReasonCode } from '../reasons.ts';
import { sha256Base64urlSync } from '../util.ts';
import { canonicalJson, intentCanonical } from '../writ/intent.ts';

/** The intent digest of a request (see writ/intent.ts), computed synchronously. */
export function intentOf(input: EvaluationRequest, args: unknown): string {
  return sha256Base64urlSync(intentCanonical({ principal: uidText(input.principal), action: uidText(input.action), resource: uidText(input.resource), args: args ?? {} }));
}

/**
 * What an approval is bound to (its `intent`): the call's intent, and everything else that
 * shaped the decision except the time — the audience, the attested binary, the lineage
 * (depth, root principal, parent action: not the parent writ itself, which a session renews)
 * and the caller's context. Redeemed with any of these changed, an approval is invalid.
 */
export function approvalBinding(input: EvaluationRequest, req: { args?: unknown; audience?: string }): string {
  const ctx = input.context as Record<string, unknown>;
  // usage (budgets) is counted again when the approved request comes back: not part of what was approved
  const caller = Object.fromEntries(Object.entries(ctx).filter(([k]) => !['now', 'args', 'lineage', 'attestation', 'usage'].includes(k)));
  const lineage = ctx.lineage;
  const attestation = ctx.attestation;
  const lin = (lineage ?? {}) as Record<string, unknown>;
  const att = (attestation ?? {}) as Record<string, unknown>;
  return sha256Base64urlSync(
    canonicalJson({
      v: 1,
      intent: intentOf(input, req.args),
      audience: req.audience ?? uidText(input.resource),
      binaryDigest: att.binaryDigest ?? '',
      lineage: { depth: lin.depth ?? 0, rootPrincipal: lin.rootPrincipal ?? '', parentAction: lin.parentAction ?? '' },
      context: caller,
      // what the enforcement point said of the principal shaped the decision too (absent: bindings as before)
      ...(input.principalEntity !== undefined && { principalEntity: input.principalEntity }),
    }),
  );
}

/** base64url SHA-256 of the canonical decision input (the writ's `in` claim). Memoized: computed for the claim and the leaf. */
const inputDigests = new WeakMap<EvaluationRequest, string>();
export function inputDigest(input: EvaluationRequest): string {
  let d = inputDigests.get(input);
  if (d === undefined) inputDigests.set(input, (d = sha256Base64urlSync(canonicalJson(input))));
  return d;
}

export function describeDeny(reasons: ReasonCode[], policies: string[], errors: string[]): string {
  const by = policies.length > 0 ? ` by ${policies.join(', ')}` : '';
  const why = errors.length > 0 ? `: ${errors.join('; ')}` : '';
  return `denied (${reasons.join(', ')})${by}${why}`;
}


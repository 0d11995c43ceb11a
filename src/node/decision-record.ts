/**
 * The decision leaf (docs/ledger-leaf.md), written durably before anything is returned:
 * for an allow, the writ is signed only after this resolved, with `led` = the leaf's index.
 * A leaf that cannot be encoded (too large, not RFC 8785 JSON) is recorded all the same,
 * as a request_invalid denial with the arguments by digest; one that cannot be appended is
 * no allow (`ledger_append_failed`).
 */
import { canonicalJson } from '../canonical/json.ts';
import { encodeLeaf, LEAF_VERSION, LEAF_VERSION_PRINCIPAL_ENTITY } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import type { ReasonCode } from '../reasons.ts';
import { errorMessage, sha256Base64urlSync } from '../util.ts';
import type { WritClaims } from '../writ/claims.ts';
import type { PolicyRef } from './active-policy.ts';
import { describeDeny, inputDigest } from './digests.ts';
import type { AuthorizeRequest, Decision, TraceRef } from './types.ts';

export interface DecisionRecord {
  decisionId: string;
  now: Date;
  policy: PolicyRef | null;
  input: EvaluationRequest | null;
  req: AuthorizeRequest;
  parent: string | null;
  reasons: ReasonCode[];
  policies: string[];
  errors: string[];
  writ?: Omit<WritClaims, 'led'>;
  approval?: string | null;
  /** a re-evaluation of the running execution under this writ (jti): allowed or denied, it issues no writ */
  reevaluates?: string;
  allowed?: boolean;
  /** set when this is the stand-in record of a request whose own record could not be encoded */
  standIn?: boolean;
  /** inputDigest(input), when the caller computed it already (for the writ's `in`) */
  inputDigest?: string;
}

/** `assigned` learns the leaf's index before it is durable (Ledger.append); the returned decision waits for durability. */
export async function recordDecision(node: { nodeId: string; ledger: Ledger }, r: DecisionRecord, assigned?: (index: number) => void): Promise<Decision> {
  const decision = r.writ || r.allowed === true ? 'allow' : 'deny';
  const message = decision === 'allow' ? `allowed by ${r.policies.join(', ')}` : describeDeny(r.reasons, r.policies, r.errors);
  const leaf = {
    type: 'decision' as const,
    v: r.input?.principalEntity === undefined ? LEAF_VERSION : LEAF_VERSION_PRINCIPAL_ENTITY,
    time: r.now.toISOString(),
    id: r.decisionId,
    node: node.nodeId,
    request: {
      principal: String(r.req.principal),
      action: String(r.req.action),
      resource: String(r.req.resource),
      args: r.req.args ?? {},
      parent: r.parent,
    },
    input: r.input,
    inputDigest: r.input ? (r.inputDigest ?? inputDigest(r.input)) : null,
    policy: r.policy,
    result: { decision, reasons: r.reasons, policies: r.policies, errors: r.errors },
    writ: r.writ ? { jti: r.writ.jti, aud: r.writ.aud, exp: r.writ.exp, intent: r.writ.intent, lin: r.writ.lin, ...(r.writ.cons && { cons: r.writ.cons }) } : null,
    approval: r.approval ?? null,
    ...(r.reevaluates !== undefined && { reevaluates: r.reevaluates }),
    // joins the decision to its trace (docs/telemetry.md); informational, so no version bump
    ...(r.req.trace !== undefined && traceRecord(r.req.trace)),
  };
  let bytes: Uint8Array;
  try {
    bytes = encodeLeaf(leaf);
  } catch (err) {
    // Too large, or not representable as RFC 8785 JSON: recorded all the same, as a
    // request_invalid denial with the arguments by digest (or a marker if even that fails).
    if (r.standIn) return unrecordedDecision(r.decisionId, r.policy, `the decision could not be encoded (${errorMessage(err)}): no evidence, no writ`, ['request_invalid']);
    let args: Record<string, unknown>;
    try {
      args = { digest: sha256Base64urlSync(canonicalJson(r.req.args ?? {})) };
    } catch {
      args = { unrepresentable: true };
    }
    return recordDecision(node, { ...r, standIn: true, input: null, req: { ...r.req, args, context: {} }, reasons: ['request_invalid'], policies: [], errors: [errorMessage(err)], writ: undefined });
  }
  let ledgerIndex: number;
  try {
    const w = r.writ;
    ledgerIndex = await node.ledger.append({
      type: 'decision',
      leaf: bytes,
      decisionId: r.decisionId,
      jti: w?.jti ?? null,
      ...(w && {
        writ: { jti: w.jti, decisionIndex: -1, principal: w.sub, action: w.act.action, resource: w.act.resource, parent: w.lin.parent, root: w.lin.root, depth: w.lin.depth, exp: w.exp },
      }),
    }, assigned);
  } catch (err) {
    // a denial keeps its own reasons; an allow that could not be recorded is no allow
    return unrecordedDecision(r.decisionId, r.policy, `the decision could not be recorded durably (${errorMessage(err)}): no evidence, no writ`, r.writ ? [] : r.reasons);
  }
  return { decision, decisionId: r.decisionId, reasons: r.reasons, policies: r.policies, errors: r.errors, message, policy: r.policy, ledgerIndex, ...(r.input && { input: r.input }), ...(r.approval && { approval: r.approval }) };
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** Only well-formed W3C ids are recorded (the all-zero ones are invalid): a malformed one is left out, never a reason to lose the decision. */
function traceRecord(t: TraceRef): { trace: TraceRef } | undefined {
  const valid = TRACE_ID.test(t.traceId) && SPAN_ID.test(t.spanId) && !/^0+$/.test(t.traceId) && !/^0+$/.test(t.spanId);
  return valid ? { trace: { traceId: t.traceId, spanId: t.spanId } } : undefined;
}

export function unrecordedDecision(decisionId: string, policy: PolicyRef | null, message: string, reasons: ReasonCode[]): Decision {
  return { decision: 'deny', decisionId, reasons: [...reasons.filter((c) => c !== 'ledger_append_failed'), 'ledger_append_failed'], policies: [], errors: [message], message, policy, ledgerIndex: null };
}

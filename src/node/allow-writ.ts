/**
 * The end of an allowed decision (DESIGN §2): the writ's claims (docs/writ.md) built from
 * the settled input, its decision leaf appended, and the writ signed with `led` = the leaf's
 * index. No evidence, no writ: an append that fails returns its denial, and a writ signed
 * early is dropped unseen.
 */
import type { EvaluationRequest } from '../policy/engine.ts';
import { uidText } from '../canonical/uid.ts';
import type { WritClaims } from '../writ/claims.ts';
import type { PolicyRef } from './active-policy.ts';
import type { DecisionRecord } from './decision-record.ts';
import { inputDigest, intentOf } from './digests.ts';
import { newId } from './ids.ts';
import type { Lineage } from './lineage-gate.ts';
import type { AuthorizeRequest, Decision, NodeLimits } from './types.ts';

/** An allow, as the node settled it: what its writ is made of. */
export interface Allowed {
  decisionId: string;
  now: Date;
  policy: PolicyRef;
  input: EvaluationRequest;
  req: AuthorizeRequest;
  lineage: Lineage;
  window: { iat: number; exp: number };
  policies: string[];
  approval: string | null;
  /** the determining permit's @maxRunSeconds */
  maxRunSeconds: number | undefined;
}

/** What issuing a writ needs of the node. */
export interface WritIssuer {
  nodeId: string;
  limits: Pick<NodeLimits, 'maxRunSeconds'>;
  record(r: DecisionRecord, assigned?: (index: number) => void): Promise<Decision>;
  sign(claims: WritClaims): Promise<string>;
}

/** Records the allow and returns it with its signed writ, or the denial its record ended in. */
export async function allowWithWrit(node: WritIssuer, a: Allowed): Promise<Decision> {
  const { iat, exp } = a.window;
  const jti = newId();
  const principal = uidText(a.input.principal);
  const action = uidText(a.input.action);
  const resource = uidText(a.input.resource);
  const intent = intentOf(a.input, a.req.args);
  const digest = inputDigest(a.input);
  const claimsBase = {
    v: 1,
    iss: node.nodeId,
    sub: principal,
    aud: a.req.audience ?? resource,
    iat,
    nbf: iat,
    exp,
    jti,
    act: { action, resource },
    intent,
    pol: a.policy,
    in: digest,
    lin: { parent: a.lineage.parent, root: a.lineage.root ?? jti, depth: a.lineage.depth, ...(a.lineage.ancestors.length > 0 && { anc: a.lineage.ancestors }) },
    // the determining permit's @maxRunSeconds, capped by this node's limit
    ...(a.maxRunSeconds !== undefined && { cons: { maxRunSeconds: Math.min(a.maxRunSeconds, node.limits.maxRunSeconds) } }),
    // the verified bearer JWT that named the principal (checked in gate.requestShape)
    ...(a.req.identityToken !== undefined && { idt: { iss: a.req.identityToken.iss, sub: a.req.identityToken.sub } }),
  };
  // Signed as soon as the ledger fixes the leaf's index, while its fsync runs; returned
  // only once the leaf is durable. An append that fails drops the signed writ unseen.
  const early: { led?: number; writ?: Promise<string> } = {};
  const recorded = await node.record({ ...a, parent: a.lineage.parent, reasons: ['policy_permit'], errors: [], writ: claimsBase, inputDigest: digest }, (led) => {
    early.led = led;
    early.writ = node.sign({ ...claimsBase, led });
    early.writ.catch(() => undefined); // awaited below, or dropped with its failed append
  });
  if (recorded.decision !== 'allow' || recorded.ledgerIndex === null) return recorded; // no evidence, no writ
  const claims: WritClaims = { ...claimsBase, led: recorded.ledgerIndex };
  const writ = early.writ !== undefined && early.led === recorded.ledgerIndex ? await early.writ : await node.sign(claims);
  return { ...recorded, writ, claims };
}

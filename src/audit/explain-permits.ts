/**
 * Why no permit applied (`writ explain`, docs/explain.md): every permit policy of the
 * recorded bundle whose scope matches the recorded request is evaluated again *alone*
 * with Cedar, and, when it did not apply, each of its `when`/`unless` clauses (and the
 * top-level `&&` / `||` parts of a clause) alone, in Cedar's order, to name the first
 * one that was not satisfied or that errored. Per-policy evaluation rather than partial
 * evaluation: the input is fully known, so every part has a definite value.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Clause, EntityJson, Expr, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import { uidText } from '../canonical/uid.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import { Hierarchy, ScopeIndex } from '../policy/scope-index.ts';
import { schemaActionParents, type PolicyEntry, type PolicySource } from '../policy/source.ts';

/** What one policy, evaluated alone, did with the recorded request. */
export type AloneResult = { kind: 'applies' } | { kind: 'not_satisfied' } | { kind: 'error'; errors: string[] } | { kind: 'request_refused'; errors: string[] };

export interface FailedPart {
  /** 0-based position of the clause among the policy's `when`/`unless` clauses */
  clause: number;
  kind: 'when' | 'unless';
  /** the clause as Cedar prints it */
  clauseText: string;
  /** the first top-level part of the clause (a `&&` operand of a `when`, a `||` operand of an `unless`) that decided, when the clause has more than one */
  part?: string;
  /** `false`: a `when` (part) was false; `true`: an `unless` (part) was true; `error`: evaluating it errored */
  value: 'false' | 'true' | 'error';
  errors: string[];
}

export interface PermitCheck {
  id: string;
  file: string;
  text: string;
  /** `condition_false`: its scope matched and a condition did not hold; `error`: evaluating it errored (Cedar skips an erroring policy; Writ denies: policy_evaluation_error); `applies`: it permits the request now */
  outcome: 'condition_false' | 'error' | 'applies' | 'request_refused';
  errors: string[];
  failed: FailedPart | null;
}

/** The request as Cedar is given it by the engine: the recorded input, the bundle's entities and the supplied principal entity. */
function call(source: PolicySource, input: EvaluationRequest, policies: Record<string, PolicyJson | string>): cedar.AuthorizationCall {
  const entities: EntityJson[] = [...source.entities];
  if (input.principalEntity) entities.push({ uid: input.principal, attrs: input.principalEntity.attrs, parents: input.principalEntity.parents });
  return {
    principal: input.principal,
    action: input.action,
    resource: input.resource,
    context: input.context,
    policies: { staticPolicies: policies },
    entities,
    ...(source.schemaText !== null && { schema: source.schemaText, validateRequest: true }),
  };
}

export function evaluateAlone(source: PolicySource, input: EvaluationRequest, id: string, policy: PolicyJson | string): AloneResult {
  const answer = cedar.isAuthorized(call(source, input, { [id]: policy }));
  if (answer.type === 'failure') return { kind: 'request_refused', errors: answer.errors.map((e) => e.message) };
  const { decision, diagnostics } = answer.response;
  if (diagnostics.errors.length > 0) return { kind: 'error', errors: diagnostics.errors.map((e) => e.error.message) };
  return decision === 'allow' ? { kind: 'applies' } : { kind: 'not_satisfied' };
}

const ALL = { op: 'All' } as const;

/** A clause's text as Cedar prints it, without the empty scope around it. */
function clauseText(c: Clause): string {
  const r = cedar.policyToText({ effect: 'permit', principal: ALL, action: ALL, resource: ALL, conditions: [c] });
  if (r.type === 'failure') return `(${c.kind} clause: ${r.errors.map((e) => e.message).join('; ')})`;
  return r.text.replace(/^permit\s*\(\s*principal\s*,\s*action\s*,\s*resource\s*\)\s*/, '').replace(/;\s*$/, '');
}

/** The top-level operands of `op` in `e`, left to right (Cedar evaluates them in this order, short-circuiting). */
function operands(e: Expr, op: '&&' | '||'): Expr[] {
  const node = (e as Record<string, unknown>)[op] as { left: Expr; right: Expr } | undefined;
  return node === undefined ? [e] : [...operands(node.left, op), ...operands(node.right, op)];
}

/** The first clause, and within it the first part, that kept a permit whose scope matched from applying. */
function failedPart(source: PolicySource, input: EvaluationRequest, p: PolicyEntry): FailedPart | null {
  const json = p.json;
  for (const [i, clause] of json.conditions.entries()) {
    const alone = (c: Clause) => evaluateAlone(source, input, p.id, { ...json, conditions: [c] });
    const r = alone(clause);
    if (r.kind === 'applies') continue;
    const failed: FailedPart = {
      clause: i,
      kind: clause.kind,
      clauseText: clauseText(clause),
      value: r.kind === 'not_satisfied' ? (clause.kind === 'when' ? 'false' : 'true') : 'error',
      errors: 'errors' in r ? r.errors : [],
    };
    const parts = operands(clause.body, clause.kind === 'when' ? '&&' : '||');
    if (parts.length > 1) {
      for (const body of parts) {
        const pr = alone({ kind: clause.kind, body } as Clause);
        if (pr.kind === 'applies') continue;
        failed.part = clauseText({ kind: clause.kind, body } as Clause).replace(/^(when|unless)\s*\{\s*/, '').replace(/\s*\}$/, '');
        break;
      }
    }
    return failed;
  }
  return null;
}

/** The request's principal, with the ancestors its supplied entity adds, as the engine's scope index sees it. */
function scopeRequest(input: EvaluationRequest, h: Hierarchy) {
  const ancestors = new Set<string>();
  for (const parent of input.principalEntity?.parents.map(uidText) ?? []) {
    ancestors.add(parent);
    for (const a of h.ancestors(parent)) ancestors.add(a);
  }
  return {
    principal: { text: uidText(input.principal), type: input.principal.type, ...(input.principalEntity && { ancestors }) },
    action: uidText(input.action),
    resource: { text: uidText(input.resource), type: input.resource.type },
  };
}

/** The policies whose scope (principal, action, resource constraints) matches the request, as the engine selects them. */
export function scopeMatches(source: PolicySource, input: EvaluationRequest): PolicyEntry[] {
  const h = new Hierarchy(source.entities, schemaActionParents(source.schemaJson));
  const index = new ScopeIndex(source.policies.map((p) => p.json), h);
  return index.candidates(scopeRequest(input, h)).map((i) => source.policies[i] as PolicyEntry);
}

/** Each permit whose scope matches the recorded request, and what its conditions did with it. */
export function permitChecks(source: PolicySource, input: EvaluationRequest): PermitCheck[] {
  return scopeMatches(source, input)
    .filter((p) => p.json.effect === 'permit')
    .map((p) => {
      const r = evaluateAlone(source, input, p.id, p.text);
      const base = { id: p.id, file: p.file, text: p.text };
      switch (r.kind) {
        case 'applies':
          return { ...base, outcome: 'applies', errors: [], failed: null };
        case 'request_refused':
          return { ...base, outcome: 'request_refused', errors: r.errors, failed: null };
        case 'error':
          return { ...base, outcome: 'error', errors: r.errors, failed: failedPart(source, input, p) };
        case 'not_satisfied':
          return { ...base, outcome: 'condition_false', errors: [], failed: failedPart(source, input, p) };
      }
    });
}

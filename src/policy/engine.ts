/**
 * The Cedar evaluator for one active bundle, through `@cedar-policy/cedar-wasm`
 * with prepared (pre-parsed) policy sets.
 *
 * Semantics are Cedar's — default deny, forbid overrides permit — with one
 * stricter rule: if any policy errors during evaluation, the decision is deny
 * (`policy_evaluation_error`). Cedar itself skips an erroring policy, which would
 * turn a forbid that failed to evaluate into an allow.
 *
 * Speed: the ScopeIndex picks the policies whose scope matches; the set of them is
 * pre-parsed once (cached by its membership) and Cedar sees only those, plus the
 * slice of entities reachable from the request and the policies. Both are exact:
 * a policy outside its scope cannot apply, an unreachable entity cannot be read.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { CedarValueJson, EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { BundleError, type ReasonCode } from '../reasons.ts';
import { Hierarchy, literalEntities, ScopeIndex } from './scope-index.ts';
import { loadPolicySource, schemaActionParents, type PolicyEntry, type PolicySource } from './source.ts';
import { uidFromJson, uidText, type EntityUid } from '../canonical/uid.ts';
import type { PrincipalEntity } from './principal-entity.ts';
import type { UsageCounter } from './usage.ts';
import { McpPins, NO_PINS } from './mcp-pins.ts';

export interface EvaluationRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValueJson>;
  /** the principal's attributes and parents, supplied by an in-process enforcement point (principal-entity.ts); absent: the bundle's entities only */
  principalEntity?: PrincipalEntity;
}

export interface Evaluation {
  decision: 'allow' | 'deny';
  reasons: ReasonCode[];
  /** determining policies (for deny by error: the erroring ones) */
  policies: string[];
  errors: string[];
  /** an allow whose determining permit policies include one annotated @approval("required") */
  requiresApproval?: boolean;
  /** an allow: the smallest @maxRunSeconds("N") of its determining permits, if any carries one */
  maxRunSeconds?: number;
}

/** `@maxRunSeconds("N")`: a whole number of seconds, 1 to 31 days. */
const MAX_RUN_SECONDS = /^[1-9][0-9]{0,6}$/;
export const MAX_RUN_SECONDS_LIMIT = 31 * 86_400;

/** prepared policy sets kept per engine (LRU); their key is a set of policy indexes, so the bound holds whatever requests ask */
export const MAX_PREPARED_SLICES = 1024;
/** requests (principal, action, resource) whose scope lookup and entity slice are kept (LRU); requests name arbitrary uids, so bounded */
export const MAX_REQUEST_SLICES = 4096;
const NOTHING_REACHABLE: ReadonlySet<string> = new Set<string>();
let engineCounter = 0;

/** what a request without a supplied principal entity needs before its context is looked at: fixed by the bundle for these three uids */
interface RequestSlice {
  sliceKey: string;
  slice: Slice;
  /** the bundle entities reachable from principal, action, resource and the slice's literals, in the order evaluate passes them */
  entities: EntityJson[];
  uids: ReadonlySet<string>;
}

interface Slice {
  psetId: string;
  policyIds: string[];
  literals: string[];
  /** top-level context attributes the slice's policies read, or null for all */
  contextKeys: string[] | null;
}

const isContextVar = (e: unknown) => typeof e === 'object' && e !== null && (e as { Var?: unknown }).Var === 'context';

/**
 * The context attributes a policy reads: every `context.k` and `context has k`.
 * Any other use of `context` (as a whole value) means all of it.
 */
function contextKeysOf(json: unknown, out: Set<string>): boolean {
  if (Array.isArray(json)) return json.every((v) => contextKeysOf(v, out));
  if (typeof json !== 'object' || json === null) return true;
  if (isContextVar(json)) return false;
  for (const [k, v] of Object.entries(json)) {
    if ((k === '.' || k === 'has') && typeof v === 'object' && v !== null && isContextVar((v as { left?: unknown }).left)) {
      const attr = (v as { attr: string | string[] }).attr;
      out.add(Array.isArray(attr) ? (attr[0] as string) : attr);
      continue;
    }
    if (!contextKeysOf(v, out)) return false;
  }
  return true;
}

export class PolicyEngine {
  readonly source: PolicySource;
  private readonly id = `e${++engineCounter}`;
  private readonly index: ScopeIndex;
  private readonly hierarchy: Hierarchy;
  private readonly entities = new Map<string, EntityJson>();
  /** bundle entity uid -> entities reachable from it; only bundle entities are keys, so it is bounded by the bundle */
  private readonly reach = new Map<string, ReadonlySet<string>>();
  private readonly slices = new Map<string, Slice>();
  private readonly requests = new Map<string, RequestSlice>();
  private readonly schemaName: string | null;
  private nextSlot = 0;
  private readonly annotations = new Map<string, Record<string, string>>();

  constructor(source: PolicySource) {
    this.source = source;
    const hierarchy = new Hierarchy(source.entities, schemaActionParents(source.schemaJson));
    this.hierarchy = hierarchy;
    this.index = new ScopeIndex(source.policies.map((p) => p.json), hierarchy);
    for (const p of source.policies) {
      const m = p.annotations.maxRunSeconds;
      if (m !== undefined && (!MAX_RUN_SECONDS.test(m) || Number(m) > MAX_RUN_SECONDS_LIMIT)) {
        throw new BundleError('bundle_policy_invalid', `policy ${p.id}: @maxRunSeconds(${JSON.stringify(m)}) must be a whole number of seconds between 1 and ${MAX_RUN_SECONDS_LIMIT}`);
      }
      this.annotations.set(p.id, p.annotations);
    }
    for (const e of source.entities) {
      const uid = uidFromJson(e.uid);
      if (uid) this.entities.set(uidText(uid), e);
    }
    this.schemaName = source.schemaText === null ? null : `${this.id}:schema`;
    if (this.schemaName !== null && source.schemaText !== null) {
      const r = cedar.preparseSchema(this.schemaName, source.schemaText);
      if (r.type === 'failure') throw new Error(`schema: ${r.errors.map((e) => e.message).join('; ')}`);
    }
  }

  static fromFiles(files: Map<string, Uint8Array>): PolicyEngine {
    return new PolicyEngine(loadPolicySource(files));
  }

  /**
   * Sizes of the per-engine caches, for tests and diagnostics: `reach` is bounded by the
   * bundle's entities, `closure` by the uids the bundle knows (entities and schema
   * actions), `slices` by MAX_PREPARED_SLICES.
   */
  cacheSizes(): { reach: number; closure: number; slices: number; entities: number; requests: number } {
    return { reach: this.reach.size, closure: this.hierarchy.cacheSize, slices: this.slices.size, entities: this.entities.size, requests: this.requests.size };
  }

  get policies(): readonly PolicyEntry[] {
    return this.source.policies;
  }

  /** the usage counters the bundle declares (usage.json): empty for most bundles, and then nothing is counted */
  get usage(): readonly UsageCounter[] {
    return this.source.usage;
  }

  /** the MCP definitions the bundle pins (mcp-pins.json), by server and kind */
  get mcpPins(): McpPins {
    return (this.pins ??= this.source.mcpPins.length === 0 ? NO_PINS : new McpPins(this.source.mcpPins));
  }
  private pins: McpPins | undefined;

  get hasSchema(): boolean {
    return this.schemaName !== null;
  }

  private slice(indexes: number[]): Slice {
    return this.sliceByKey(indexes.join(','), indexes);
  }

  private sliceByKey(key: string, indexes: number[]): Slice {
    const hit = this.slices.get(key);
    if (hit) {
      // refresh LRU position
      this.slices.delete(key);
      this.slices.set(key, hit);
      return hit;
    }
    let psetId = `${this.id}:${this.nextSlot}`;
    if (this.slices.size >= MAX_PREPARED_SLICES) {
      const [oldKey, old] = this.slices.entries().next().value as [string, Slice];
      this.slices.delete(oldKey);
      psetId = old.psetId; // re-preparsing an id replaces its set in the wasm cache
    } else {
      this.nextSlot++;
    }
    const chosen = indexes.map((i) => this.source.policies[i] as PolicyEntry);
    const r = cedar.preparsePolicySet(psetId, { staticPolicies: Object.fromEntries(chosen.map((p) => [p.id, p.text])) });
    if (r.type === 'failure') throw new Error(`prepare policy set: ${r.errors.map((e) => e.message).join('; ')}`);
    const literals = new Set<string>();
    for (const p of chosen) literalEntities(p.json, literals);
    // With a schema the whole context is validated, so it is always passed whole.
    const keys = new Set<string>();
    const partial = this.schemaName === null && chosen.every((p) => contextKeysOf(p.json.conditions, keys));
    const s: Slice = { psetId, policyIds: chosen.map((p) => p.id), literals: [...literals], contextKeys: partial ? [...keys] : null };
    this.slices.set(key, s);
    return s;
  }

  /**
   * Entities reachable from `uid` through parents and entity-valued attributes. A uid
   * that is not a bundle entity reaches nothing (the walk starts from known entities
   * only) and is not cached: requests name arbitrary uids, and must not grow the cache.
   */
  private reachable(uid: string): ReadonlySet<string> {
    const cached = this.reach.get(uid);
    if (cached) return cached;
    if (!this.entities.has(uid)) return NOTHING_REACHABLE;
    const out = new Set<string>();
    const stack = [uid];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (out.has(next)) continue;
      const e = this.entities.get(next);
      if (!e) continue;
      out.add(next);
      stack.push(...literalEntities([e.parents, e.attrs, e.tags ?? {}]));
    }
    this.reach.set(uid, out);
    return out;
  }

  /** The supplied parents and every ancestor the bundle gives them (not cached: requests name arbitrary uids). */
  private ancestorsOf(parents: string[]): ReadonlySet<string> {
    const out = new Set<string>();
    for (const p of parents) {
      out.add(p);
      for (const a of this.hierarchy.ancestors(p)) out.add(a);
    }
    return out;
  }

  private entitySlice(roots: Iterable<string>): EntityJson[] {
    const uids = new Set<string>();
    for (const r of roots) for (const u of this.reachable(r)) uids.add(u);
    return [...uids].map((u) => this.entities.get(u) as EntityJson);
  }

  /**
   * The scope lookup and the bundle's part of the entity slice for a request that supplies no
   * principal entity: both depend only on the three uids and the bundle, so they are kept
   * (LRU, MAX_REQUEST_SLICES). An entry whose prepared set was evicted (its id may now hold
   * another set) is not used: the set is looked up again by its key.
   */
  private requestSlice(principal: EntityUid, action: string, resource: EntityUid, principalText: string, resourceText: string): RequestSlice {
    const key = `${principalText}\u0000${action}\u0000${resourceText}`;
    const hit = this.requests.get(key);
    if (hit !== undefined && this.slices.get(hit.sliceKey) === hit.slice) {
      this.requests.delete(key);
      this.requests.set(key, hit);
      this.slices.delete(hit.sliceKey);
      this.slices.set(hit.sliceKey, hit.slice);
      return hit;
    }
    const indexes = this.index.candidates({ principal: { text: principalText, type: principal.type }, action, resource: { text: resourceText, type: resource.type } });
    const sliceKey = indexes.join(',');
    const slice = this.sliceByKey(sliceKey, indexes);
    const uids = new Set<string>();
    for (const r of [principalText, action, resourceText, ...slice.literals]) for (const u of this.reachable(r)) uids.add(u);
    const entry: RequestSlice = { sliceKey, slice, entities: [...uids].map((u) => this.entities.get(u) as EntityJson), uids };
    if (hit !== undefined) this.requests.delete(key);
    else if (this.requests.size >= MAX_REQUEST_SLICES) this.requests.delete(this.requests.keys().next().value as string);
    this.requests.set(key, entry);
    return entry;
  }

  /** the request slice's entities and those reachable from the context's entity literals, in the order a fresh walk gives */
  private withContextEntities(r: RequestSlice, context: Record<string, CedarValueJson>): EntityJson[] {
    const literals = literalEntities(context);
    if (literals.size === 0) return [...r.entities];
    const extra = new Set<string>();
    for (const l of literals) for (const u of this.reachable(l)) if (!r.uids.has(u)) extra.add(u);
    return [...r.entities, ...[...extra].map((u) => this.entities.get(u) as EntityJson)];
  }

  evaluate(req: EvaluationRequest): Evaluation {
    const principal = uidText(req.principal);
    const action = uidText(req.action);
    const resource = uidText(req.resource);
    const supplied = req.principalEntity;
    // Never merged: an entity the bundle declares is the bundle's, whatever a request says.
    if (supplied !== undefined && this.entities.has(principal)) {
      return { decision: 'deny', reasons: ['principal_entity_conflict'], policies: [], errors: [`${principal} is defined by the bundle's entities: a request may not supply its attributes or parents`] };
    }
    let slice: Slice;
    let context: Record<string, CedarValueJson>;
    let entities: EntityJson[];
    if (supplied === undefined) {
      const r = this.requestSlice(req.principal, action, req.resource, principal, resource);
      slice = r.slice;
      context = slice.contextKeys === null ? req.context : pick(req.context, slice.contextKeys);
      entities = this.withContextEntities(r, context);
    } else {
      const parents = supplied.parents.map(uidText);
      const indexes = this.index.candidates({
        principal: { text: principal, type: req.principal.type, ancestors: this.ancestorsOf(parents) },
        action,
        resource: { text: resource, type: req.resource.type },
      });
      slice = this.slice(indexes);
      // Passing values into wasm costs per attribute, so Cedar gets only the context
      // attributes the slice reads; the full context is what is recorded and replayed.
      context = slice.contextKeys === null ? req.context : pick(req.context, slice.contextKeys);
      entities = this.entitySlice([principal, action, resource, ...parents, ...slice.literals, ...literalEntities(context)]);
      entities.push({ uid: req.principal, attrs: supplied.attrs, parents: supplied.parents });
    }
    const answer = cedar.statefulIsAuthorized({
      principal: req.principal,
      action: req.action,
      resource: req.resource,
      context,
      preparsedPolicySetId: slice.psetId,
      ...(this.schemaName === null ? {} : { preparsedSchemaName: this.schemaName, validateRequest: true }),
      entities,
    });
    if (answer.type === 'failure') {
      const errors = answer.errors.map((e) => e.message);
      return { decision: 'deny', reasons: [this.schemaName === null ? 'request_invalid' : 'schema_violation'], policies: [], errors };
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0) {
      return {
        decision: 'deny',
        reasons: ['policy_evaluation_error'],
        policies: diagnostics.errors.map((e) => e.policyId),
        errors: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`),
      };
    }
    if (decision === 'allow') {
      const requiresApproval = diagnostics.reason.some((id) => this.annotations.get(id)?.approval === 'required');
      const limits = diagnostics.reason.map((id) => this.annotations.get(id)?.maxRunSeconds).filter((m) => m !== undefined).map(Number);
      const maxRunSeconds = limits.length > 0 ? Math.min(...limits) : undefined;
      return { decision, reasons: ['policy_permit'], policies: diagnostics.reason, errors: [], ...(requiresApproval && { requiresApproval }), ...(maxRunSeconds !== undefined && { maxRunSeconds }) };
    }
    if (diagnostics.reason.length > 0) {
      // a forbid annotated @budget("<counter>") is a budget's denial (docs/budgets.md): its own code, beside policy_forbid if other forbids also applied
      const budget = diagnostics.reason.filter((id) => this.annotations.get(id)?.budget !== undefined).length;
      const reasons: ReasonCode[] = budget === 0 ? ['policy_forbid'] : budget === diagnostics.reason.length ? ['budget_exceeded'] : ['policy_forbid', 'budget_exceeded'];
      return { decision, reasons, policies: diagnostics.reason, errors: [] };
    }
    return { decision, reasons: ['no_permit'], policies: [], errors: [] };
  }

  /**
   * False when the request can never be allowed, whatever its arguments and context:
   * no permit policy's scope matches, or Cedar's partial evaluation with every context
   * attribute the policies read left unknown still decides deny. True when it might be
   * (used to hide tools a principal can never call; calling still goes through evaluate).
   */
  mayEverAllow(principal: EntityUid, action: EntityUid, resource: EntityUid): boolean {
    const p = uidText(principal);
    const a = uidText(action);
    const r = uidText(resource);
    const indexes = this.index.candidates({ principal: { text: p, type: principal.type }, action: a, resource: { text: r, type: resource.type } });
    if (!indexes.some((i) => this.source.policies[i]?.json.effect === 'permit')) return false;
    const slice = this.slice(indexes);
    if (slice.contextKeys === null) return true; // a policy reads the whole context: cannot bound it
    const context: Record<string, CedarValueJson> = Object.fromEntries(slice.contextKeys.map((k) => [k, { __extn: { fn: 'unknown', arg: k } }]));
    const chosen = indexes.map((i) => this.source.policies[i] as PolicyEntry);
    const answer = cedar.isAuthorizedPartial({
      principal,
      action,
      resource,
      context,
      policies: { staticPolicies: Object.fromEntries(chosen.map((x) => [x.id, x.text])) },
      entities: this.entitySlice([p, a, r, ...slice.literals]),
    });
    return !(answer.type === 'residuals' && answer.response.decision === 'deny');
  }

  /** Releases the wasm-side prepared sets of this engine (when a newer bundle replaces it). */
  dispose(): void {
    for (const s of this.slices.values()) cedar.preparsePolicySet(s.psetId, { staticPolicies: {} });
    this.slices.clear();
    this.requests.clear();
  }
}

function pick(context: Record<string, CedarValueJson>, keys: string[]): Record<string, CedarValueJson> {
  // fromEntries defines own properties, so even a key named __proto__ is passed on as data
  return Object.fromEntries(keys.filter((k) => Object.hasOwn(context, k)).map((k) => [k, context[k] as CedarValueJson]));
}

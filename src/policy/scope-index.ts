/**
 * An index of policies by their scope, so a request is evaluated only against the
 * policies whose scope can match it. Cedar's scope (`principal == / in / is`,
 * `action == / in`, `resource == / in / is`) is evaluated here exactly, using the
 * bundle's fixed entity hierarchy; conditions are left to Cedar. The cost of a
 * request thus follows the number of policies that may apply, not the total.
 */
import type { EntityJson, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import { uidFromJson, uidText } from '../canonical/uid.ts';

type Scope = PolicyJson['principal'];

const NO_ANCESTORS: ReadonlySet<string> = new Set<string>();

/**
 * uid text -> all ancestors (transitive), from entity parents and schema action groups.
 * Closures are cached only for uids the bundle knows, so the cache is bounded by the
 * bundle: a uid from a request that is not in it has no ancestors, and is not remembered.
 */
export class Hierarchy {
  private readonly parents = new Map<string, string[]>();
  private readonly closure = new Map<string, ReadonlySet<string>>();

  constructor(entities: EntityJson[], extraParents: Map<string, string[]>) {
    for (const [uid, ps] of extraParents) this.parents.set(uid, [...ps]);
    for (const e of entities) {
      const uid = uidFromJson(e.uid);
      if (!uid) continue;
      const key = uidText(uid);
      const ps = (e.parents ?? []).map(uidFromJson).filter((p) => p !== null).map(uidText);
      this.parents.set(key, [...(this.parents.get(key) ?? []), ...ps]);
    }
  }

  ancestors(uid: string): ReadonlySet<string> {
    const cached = this.closure.get(uid);
    if (cached) return cached;
    const direct = this.parents.get(uid);
    if (direct === undefined) return NO_ANCESTORS;
    const out = new Set<string>();
    const stack = [...direct];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (out.has(next)) continue;
      out.add(next);
      stack.push(...(this.parents.get(next) ?? []));
    }
    this.closure.set(uid, out);
    return out;
  }

  /** cached closures (at most the number of uids the bundle knows); for tests */
  get cacheSize(): number {
    return this.closure.size;
  }

  /** every known uid that has `uid` among its ancestors */
  descendants(uid: string): string[] {
    return [...this.parents.keys()].filter((k) => this.ancestors(k).has(uid));
  }

  isIn(uid: string, group: string): boolean {
    return uid === group || this.ancestors(uid).has(group);
  }
}

function entityOf(c: object): string | null {
  const e = 'entity' in c ? uidFromJson(c.entity) : null;
  return e ? uidText(e) : null;
}

/**
 * Exact evaluation of a principal/resource scope constraint. `extra`: ancestors the request
 * itself supplies (the parents of a request's principal entity, with their bundle ancestors).
 */
function scopeMatches(scope: Scope, uid: string, type: string, h: Hierarchy, extra?: ReadonlySet<string>): boolean {
  const isIn = (group: string) => h.isIn(uid, group) || (extra?.has(group) ?? false);
  switch (scope.op) {
    case 'All':
      return true;
    case '==':
      return entityOf(scope) === uid;
    case 'in': {
      const group = entityOf(scope);
      return group !== null && isIn(group);
    }
    case 'is': {
      if (scope.entity_type !== type) return false;
      if (!scope.in) return true;
      const group = entityOf(scope.in);
      return group !== null && isIn(group);
    }
    default:
      return false;
  }
}

/** Action uids a policy's action scope names directly, or null for "any action". */
function actionKeys(scope: PolicyJson['action'], h: Hierarchy): string[] | null {
  if (scope.op === 'All') return null;
  const named =
    scope.op === '=='
      ? [entityOf(scope)]
      : 'entities' in scope
        ? scope.entities.map((e) => uidFromJson(e)).map((u) => (u ? uidText(u) : null))
        : [entityOf(scope)];
  const keys = new Set<string>();
  for (const n of named) {
    if (n === null) continue;
    keys.add(n);
    if (scope.op === 'in') for (const d of h.descendants(n)) keys.add(d);
  }
  return [...keys];
}

interface Bucket {
  byResource: Map<string, number[]>;
  rest: number[];
}

export interface ScopeRequest {
  /** `ancestors`: what the request's own principal entity adds (its parents and theirs) */
  principal: { text: string; type: string; ancestors?: ReadonlySet<string> };
  action: string;
  resource: { text: string; type: string };
}

export class ScopeIndex {
  private readonly buckets = new Map<string, Bucket>();
  private readonly policies: PolicyJson[];
  private readonly hierarchy: Hierarchy;
  private static readonly ANY = '\u0000any';

  constructor(policies: PolicyJson[], hierarchy: Hierarchy) {
    this.policies = policies;
    this.hierarchy = hierarchy;
    policies.forEach((p, i) => {
      const resourceKey = p.resource.op === '==' ? entityOf(p.resource) : null;
      for (const a of actionKeys(p.action, hierarchy) ?? [ScopeIndex.ANY]) {
        let b = this.buckets.get(a);
        if (!b) this.buckets.set(a, (b = { byResource: new Map(), rest: [] }));
        if (resourceKey === null) b.rest.push(i);
        else b.byResource.set(resourceKey, [...(b.byResource.get(resourceKey) ?? []), i]);
      }
    });
  }

  /** indexes of the policies whose whole scope matches the request, ascending */
  candidates(r: ScopeRequest): number[] {
    const out: number[] = [];
    for (const key of [r.action, ScopeIndex.ANY]) {
      const b = this.buckets.get(key);
      if (!b) continue;
      for (const i of [...(b.byResource.get(r.resource.text) ?? []), ...b.rest]) {
        const p = this.policies[i] as PolicyJson;
        if (
          scopeMatches(p.principal, r.principal.text, r.principal.type, this.hierarchy, r.principal.ancestors) &&
          scopeMatches(p.resource, r.resource.text, r.resource.type, this.hierarchy)
        ) {
          out.push(i);
        }
      }
    }
    return [...new Set(out)].sort((a, b) => a - b);
  }
}

/** Every entity uid written literally in a policy (scope or conditions). */
export function literalEntities(json: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(json)) {
    for (const v of json) literalEntities(v, out);
  } else if (typeof json === 'object' && json !== null) {
    // Cedar JSON writes entities as {__entity:{type,id}}, scopes as {entity:{type,id}},
    // entity attributes sometimes as bare {type,id}: count all; extra entities are harmless.
    const uid = uidFromJson(json);
    if (uid) out.add(uidText(uid));
    for (const v of Object.values(json)) literalEntities(v, out);
  }
  return out;
}

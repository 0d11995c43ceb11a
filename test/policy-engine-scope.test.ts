/** Property test: the Cedar engine's scope index and entity/context slicing decide exactly as raw Cedar over ALL policies and entities (replay one seed with WRIT_TEST_SEED=<seed>, or WRIT_PROP_SEED=<seed>). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { AuthorizationAnswer, CedarValueJson, EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { PolicyEngine, type Evaluation, type EvaluationRequest } from '../src/policy/engine.ts';
import type { EntityUid } from '../src/canonical/uid.ts';
import { uid } from './policy-engine-fixture.ts';
import { Prng, seedOverride, testSeed } from './prng.ts';

const enc = new TextEncoder();

/** The shared test PRNG (test/prng.ts) with the helpers the generators use. */
class Rng {
  private readonly prng: Prng;
  constructor(seed: number) {
    this.prng = new Prng(seed);
  }
  private next(): number {
    return this.prng.float();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from empty list');
    return xs[this.int(xs.length)] as T;
  }
  /** a random selection of 0..max distinct elements */
  subset<T>(xs: readonly T[], max: number): T[] {
    return this.take(xs, this.int(max + 1));
  }
  /** n distinct elements (fewer if xs is shorter) */
  take<T>(xs: readonly T[], count: number): T[] {
    const n = Math.min(xs.length, count);
    const pool = [...xs];
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(...pool.splice(this.int(pool.length), 1));
    return out;
  }
}

/** Cedar text of an entity uid (ids may hold quotes, backslashes, `::`, spaces, non-ASCII). */
function cedarUid(u: EntityUid): string {
  return `${u.type}::"${u.id.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
const ref = (u: EntityUid): CedarValueJson => ({ __entity: { type: u.type, id: u.id } });

// Overlapping ids across types on purpose (User::"a" vs Group::"a"), and awkward characters.
const ID_POOL = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'x y', 'q"t', 'back\\slash', 'ns::x', 'é', 'f/g', 'h'];
const GROUP_TYPES = ['Group', 'Org::Team'];
const LEAF_ACTIONS = ['read', 'write', 'delete', 'share'];
const ACTION_GROUPS = ['readOnly', 'mutate', 'all'];

interface World {
  users: EntityUid[];
  groups: EntityUid[];
  folders: EntityUid[];
  docs: EntityUid[];
  actions: EntityUid[];
  entities: EntityJson[];
}

function genWorld(r: Rng): World {
  const ids = (n: number) => r.take(ID_POOL, n);
  const entities: EntityJson[] = [];
  const groups: EntityUid[] = [];
  for (const type of GROUP_TYPES) for (const id of ids(r.range(1, 3))) groups.push(uid(type, id));
  groups.forEach((g, i) => entities.push({ uid: g, attrs: {}, parents: r.subset(groups.slice(0, i), 2) }));

  const users = ids(r.range(3, 7)).map((id) => uid('User', id));
  const ghostUser = uid('User', 'nobody');
  for (const u of users) {
    const attrs: Record<string, CedarValueJson> = { dept: r.pick(['eng', 'ops']) };
    if (r.chance(0.85)) attrs.level = r.int(6);
    if (r.chance(0.4)) attrs.manager = ref(r.chance(0.9) ? r.pick(users) : ghostUser);
    entities.push({ uid: u, attrs, parents: r.subset(groups, 2) });
  }

  const folders = ids(r.range(2, 4)).map((id) => uid('Folder', id));
  folders.forEach((f, i) => entities.push({ uid: f, attrs: {}, parents: r.subset(folders.slice(0, i), 2) }));

  const docs = ids(r.range(3, 7)).map((id) => uid('Doc', id));
  for (const d of docs) {
    const attrs: Record<string, CedarValueJson> = { public: r.chance(0.3) };
    if (r.chance(0.8)) attrs.owner = ref(r.chance(0.9) ? r.pick(users) : ghostUser);
    if (r.chance(0.6)) attrs.editors = r.subset(users, 3).map(ref);
    if (r.chance(0.5)) attrs.meta = { reviewer: ref(r.pick(users)), note: 'n' };
    const e: EntityJson = { uid: d, attrs, parents: r.subset(folders, 2) };
    if (r.chance(0.4)) e.tags = { t: ref(r.pick(users)) };
    entities.push(e);
  }

  // action groups: leaves in readOnly / mutate, those maybe in all
  const act = (id: string) => uid('Action', id);
  entities.push({ uid: act('all'), attrs: {}, parents: [] });
  for (const g of ['readOnly', 'mutate']) entities.push({ uid: act(g), attrs: {}, parents: r.chance(0.7) ? [act('all')] : [] });
  for (const a of LEAF_ACTIONS) entities.push({ uid: act(a), attrs: {}, parents: r.subset(['readOnly', 'mutate'], 2).map(act) });
  const actions = [...LEAF_ACTIONS, ...ACTION_GROUPS, 'ghost'].map(act); // ghost: an action not in the data

  return { users, groups, folders, docs, actions, entities };
}

function genCondition(r: Rng, w: World): string {
  const n = r.int(5);
  const group = () => cedarUid(r.pick(w.groups));
  const folder = () => cedarUid(r.pick(w.folders));
  const options: (() => string)[] = [
    () => `principal.level > ${n}`,
    () => `principal has level && principal.level >= ${n}`,
    () => 'resource.owner == principal',
    () => 'resource has owner && resource.owner == principal',
    () => `resource.owner in ${group()}`,
    () => `resource.owner.level > ${n}`,
    () => `context.n > ${n}`,
    () => `context has n && context.n < ${n}`,
    () => 'context.flag',
    () => 'context has who',
    () => '!(context has junk)',
    () => 'context has junk.nested',
    () => `context has doc && context.doc in ${folder()}`,
    () => '({ "c": context }).c has flag',
    () => 'context.who == principal',
    () => `context.who in ${group()}`,
    () => 'context.doc.owner == principal',
    () => `context has doc && context.doc has owner && context.doc.owner.level > ${n}`,
    () => `principal in ${group()}`,
    () => `resource in ${folder()}`,
    () => `${cedarUid(r.pick(w.users))}.level > ${n}`,
    () => `principal in ${cedarUid(r.pick(w.users))}.manager`,
    () => 'resource.editors.contains(principal)',
    () => `resource has editors && resource.editors.containsAny([${cedarUid(r.pick(w.users))}, principal])`,
    () => `resource has meta && resource.meta.reviewer in ${group()}`,
    () => 'resource.hasTag("t") && resource.getTag("t") == principal',
    () => `resource.hasTag("t") && resource.getTag("t") in ${group()}`,
    () => 'action in Action::"mutate"',
    () => `principal.manager in ${group()}`,
    () => `principal has manager && principal.manager.level > ${n}`,
    () => 'resource.public',
    () => `principal.dept == "eng" || context.n == ${n}`,
  ];
  return r.pick(options)();
}

function genPolicy(r: Rng, w: World): string {
  const effect = r.chance(0.65) ? 'permit' : 'forbid';
  const ghostUser = uid('User', 'nobody');
  const principal = r.pick<() => string>([
    () => 'principal',
    () => 'principal',
    () => `principal == ${cedarUid(r.pick([...w.users, ...w.groups, ghostUser]))}`,
    () => `principal in ${cedarUid(r.pick([...w.groups, ...w.users]))}`,
    () => `principal is ${r.pick(['User', ...GROUP_TYPES])}`,
    () => `principal is User in ${cedarUid(r.pick(w.groups))}`,
  ])();
  const actionUids = w.actions.map(cedarUid);
  const action = r.pick<() => string>([
    () => 'action',
    () => `action == ${r.pick(actionUids)}`,
    () => `action in [${r.subset(actionUids, 3).join(', ') || 'Action::"read"'}]`,
    () => `action in ${cedarUid(uid('Action', r.pick(ACTION_GROUPS)))}`,
  ])();
  const resource = r.pick<() => string>([
    () => 'resource',
    () => 'resource',
    () => `resource == ${cedarUid(r.pick([...w.docs, ...w.folders]))}`,
    () => `resource in ${cedarUid(r.pick([...w.folders, ...w.docs]))}`,
    () => `resource is ${r.pick(['Doc', 'Folder'])}`,
    () => `resource is Doc in ${cedarUid(r.pick(w.folders))}`,
  ])();
  const clauses: string[] = [];
  const nClauses = r.chance(0.4) ? 0 : r.range(1, 2);
  for (let i = 0; i < nClauses; i++) clauses.push(`${r.chance(0.8) ? 'when' : 'unless'} { ${genCondition(r, w)} }`);
  return `${effect} (${principal}, ${action}, ${resource})${clauses.map((c) => `\n  ${c}`).join('')};`;
}

interface PolicyWorld {
  files: Map<string, Uint8Array>;
  /** id -> policy text, exactly as the engine should name them */
  policies: Record<string, string>;
}

function genPolicies(r: Rng, w: World): PolicyWorld {
  const texts: Record<string, string> = {};
  const out = new Map<string, Uint8Array>();
  let named = 0;
  for (const file of ['a.cedar', 'b.cedar', 'c.cedar']) {
    // at most 8 per file: the auto-id ordering for >10 policies is tested separately
    const count = r.range(file === 'a.cedar' ? 1 : 0, 8);
    if (count === 0) continue;
    const parts: string[] = [];
    for (let i = 0; i < count; i++) {
      const body = genPolicy(r, w);
      const id = r.chance(0.5) ? `p${named++}` : null;
      texts[id ?? `${file}#${i}`] = body;
      parts.push(`// policy ${i}\n${id === null ? '' : `@id("${id}")\n`}${body}`);
    }
    out.set(file, enc.encode(parts.join('\n\n') + '\n'));
  }
  out.set('entities.json', enc.encode(JSON.stringify(w.entities, null, 1)));
  return { files: out, policies: texts };
}

function genRequest(r: Rng, w: World): EvaluationRequest {
  const ghostUser = uid('User', 'nobody');
  const principal = r.chance(0.75) ? r.pick(w.users) : r.pick([...w.groups, ghostUser, ghostUser, ...w.docs.slice(0, 1)]);
  const action = r.pick(w.actions);
  const resource = r.chance(0.7) ? r.pick(w.docs) : r.chance(0.7) ? r.pick(w.folders) : uid('Doc', 'nowhere');
  const context: Record<string, CedarValueJson> = {};
  if (r.chance(0.8)) context.n = r.int(6);
  if (r.chance(0.8)) context.flag = r.chance(0.5);
  if (r.chance(0.7)) context.who = ref(r.chance(0.9) ? r.pick(w.users) : ghostUser);
  if (r.chance(0.6)) context.doc = ref(r.pick(w.docs));
  if (r.chance(0.3)) context.junk = { nested: [1, 2, ref(r.pick(w.groups))] };
  return { principal, action, resource, context };
}

function rawCedar(p: PolicyWorld, w: World, q: EvaluationRequest): AuthorizationAnswer {
  return cedar.isAuthorized({
    principal: q.principal,
    action: q.action,
    resource: q.resource,
    context: q.context,
    policies: { staticPolicies: p.policies },
    entities: w.entities,
  });
}

const sorted = (xs: readonly string[]) => [...new Set(xs)].sort();

/** Compares one request; returns a description of the mismatch, or null. */
function compare(e: Evaluation, raw: AuthorizationAnswer): string | null {
  if (raw.type === 'failure') {
    return e.decision === 'deny' ? null : `raw Cedar failed (${raw.errors.map((x) => x.message).join('; ')}) but the engine allowed`;
  }
  const { decision, diagnostics } = raw.response;
  if (diagnostics.errors.length > 0) {
    const want = { decision: 'deny', reasons: ['policy_evaluation_error'], policies: sorted(diagnostics.errors.map((x) => x.policyId)) };
    const got = { decision: e.decision, reasons: e.reasons, policies: sorted(e.policies) };
    return JSON.stringify(got) === JSON.stringify(want) ? null : `raw errors ${JSON.stringify(want)}, engine ${JSON.stringify(got)}`;
  }
  const reason = decision === 'allow' ? 'policy_permit' : diagnostics.reason.length > 0 ? 'policy_forbid' : 'no_permit';
  const want = { decision, reasons: [reason], policies: sorted(diagnostics.reason) };
  const got = { decision: e.decision, reasons: e.reasons, policies: sorted(e.policies) };
  return JSON.stringify(got) === JSON.stringify(want) ? null : `raw ${JSON.stringify(want)}, engine ${JSON.stringify(got)} ${e.errors.join('; ')}`;
}

interface SeedStats {
  allow: number;
  forbid: number;
  noPermit: number;
  error: number;
}

function runSeed(seed: number, requests: number, stats: SeedStats): void {
  const r = new Rng(seed);
  const w = genWorld(r);
  const p = genPolicies(r, w);
  let engine: PolicyEngine;
  try {
    engine = PolicyEngine.fromFiles(p.files);
  } catch (err) {
    throw new Error(`seed ${seed}: generated bundle does not compile (replay with WRIT_TEST_SEED=${seed}): ${String(err)}`, { cause: err });
  }
  try {
    assert.deepEqual(sorted(engine.policies.map((x) => x.id)), sorted(Object.keys(p.policies)), `seed ${seed}: policy ids`);
    for (let i = 0; i < requests; i++) {
      const q = genRequest(r, w);
      const e = engine.evaluate(q);
      const raw = rawCedar(p, w, q);
      const mismatch = compare(e, raw);
      if (mismatch !== null) {
        const policies = Object.entries(p.policies).map(([id, t]) => `  [${id}] ${t.replace(/\n/g, ' ')}`).join('\n');
        assert.fail(
          `seed ${seed} request ${i} (replay with WRIT_TEST_SEED=${seed}): ${mismatch}\n` +
            `request: ${JSON.stringify(q)}\npolicies:\n${policies}\nentities: ${JSON.stringify(w.entities)}`,
        );
      }
      if (raw.type === 'success' && raw.response.diagnostics.errors.length > 0) stats.error++;
      else if (e.decision === 'allow') stats.allow++;
      else if (e.reasons[0] === 'policy_forbid') stats.forbid++;
      else stats.noPermit++;
    }
  } finally {
    engine.dispose();
  }
}

describe('scope index and slicing (property: engine == raw Cedar over all policies and entities)', () => {
  it('agrees with raw Cedar on decision and determining policies for random worlds', () => {
    const replay = seedOverride() ?? (process.env.WRIT_PROP_SEED !== undefined ? Number(process.env.WRIT_PROP_SEED) : undefined);
    const seeds = replay !== undefined ? [replay] : Array.from({ length: 24 }, (_, i) => 0x5eed0000 + i * 7919);
    const stats: SeedStats = { allow: 0, forbid: 0, noPermit: 0, error: 0 };
    for (const seed of seeds) runSeed(seed, 120, stats);
    // the generator must actually exercise every outcome
    if (replay === undefined) {
      for (const [k, v] of Object.entries(stats)) assert.ok(v >= 50, `generator produced too few ${k} outcomes: ${JSON.stringify(stats)}`);
    }
  });

  it('stays exact when one engine serves many distinct slices (prepared-set cache reuse)', () => {
    // Many requests against one engine, so policy-set slices are prepared, cached and reused.
    const seed = testSeed(0xc0ffee);
    const r = new Rng(seed);
    const w = genWorld(r);
    const p = genPolicies(r, w);
    const engine = PolicyEngine.fromFiles(p.files);
    try {
      const qs = Array.from({ length: 150 }, () => genRequest(r, w));
      for (let round = 0; round < 2; round++) {
        for (const [i, q] of qs.entries()) {
          const mismatch = compare(engine.evaluate(q), rawCedar(p, w, q));
          assert.equal(mismatch, null, `seed ${seed} round ${round} request ${i}: ${mismatch ?? ''}`);
        }
      }
    } finally {
      engine.dispose();
    }
  });
});

/**
 * The principal entity an in-process enforcement point supplies with a request (the HTTP
 * gate: the verified JWT claims; Kubernetes admission: the user's groups as parents): its
 * attributes and parents, never its UID (it is always the request's principal) and never
 * another entity, so a request cannot redefine what the bundle declares. Checked strictly
 * and bounded before anything is evaluated; every failure is `principal_entity_invalid`
 * (docs/reason-codes.md). The engine refuses one whose UID the bundle defines
 * (`principal_entity_conflict`, engine.ts).
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { parseUid, uidFromJson, uidText, type EntityUid } from '../canonical/uid.ts';
import { DenyError } from '../reasons.ts';

/** As evaluated and recorded (the decision leaf's `input.principalEntity`). */
export interface PrincipalEntity {
  attrs: Record<string, CedarValueJson>;
  parents: EntityUid[];
}

/** As an enforcement point supplies it (AuthorizeRequest.principalEntity): parents as UID text. */
export interface PrincipalEntityRequest {
  attrs: Record<string, unknown>;
  /** entity UIDs, e.g. `K8sGroup::"system:masters"` */
  parents: string[];
}

export const PRINCIPAL_ENTITY_LIMITS = {
  /** members of one record (the attributes themselves, or a record inside them) */
  maxAttrs: 64,
  /** nesting of sets and records inside an attribute value (a plain string is depth 0) */
  maxDepth: 4,
  /** characters of a string, a record key, or a parent's id */
  maxStringLength: 1024,
  maxSetSize: 256,
  /** values in all, at every depth */
  maxValues: 2048,
  maxParents: 256,
} as const;

const RESERVED_KEYS = new Set(['__entity', '__extn', '__expr', '__proto__']);
const L = PRINCIPAL_ENTITY_LIMITS;

const invalid = (message: string) => new DenyError('principal_entity_invalid', `principalEntity${message}`);
const isPlainRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

function checkString(s: string, at: string): string {
  if (s.length > L.maxStringLength) throw invalid(`${at}: a string longer than ${L.maxStringLength} characters`);
  if (!s.isWellFormed()) throw invalid(`${at}: a string with a lone surrogate`);
  return s;
}

/** One Cedar value: string, long, boolean, set, record; nothing else (no null, no float, no entity or extension escape). */
function cedarValue(v: unknown, at: string, depth: number, budget: { values: number }): CedarValueJson {
  if (--budget.values < 0) throw invalid(`: more than ${L.maxValues} values in all`);
  if (typeof v === 'string') return checkString(v, at);
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw invalid(`${at}: ${v} is not a Cedar long (an integer of at most 2^53-1 here)`);
    return v;
  }
  if (Array.isArray(v)) {
    if (depth >= L.maxDepth) throw invalid(`${at}: nested deeper than ${L.maxDepth}`);
    if (v.length > L.maxSetSize) throw invalid(`${at}: a set of more than ${L.maxSetSize} elements`);
    return v.map((x, i) => cedarValue(x, `${at}[${i}]`, depth + 1, budget));
  }
  if (isPlainRecord(v)) {
    if (depth >= L.maxDepth) throw invalid(`${at}: nested deeper than ${L.maxDepth}`);
    return cedarRecord(v, at, depth + 1, budget);
  }
  throw invalid(`${at}: ${v === null ? 'null' : typeof v} is not a Cedar value (strings, longs, booleans, sets, records)`);
}

function cedarRecord(o: Record<string, unknown>, at: string, depth: number, budget: { values: number }): Record<string, CedarValueJson> {
  const keys = Object.keys(o);
  if (keys.length > L.maxAttrs) throw invalid(`${at}: more than ${L.maxAttrs} members`);
  const out: Record<string, CedarValueJson> = {};
  for (const k of keys) {
    if (RESERVED_KEYS.has(k)) throw invalid(`${at}.${k}: key is reserved (Cedar JSON escapes and __proto__ are refused: no entity references)`);
    checkString(k, `${at} key`);
    out[k] = cedarValue(o[k], `${at}.${k}`, depth, budget);
  }
  return out;
}

function checkParents(parents: EntityUid[], principal: EntityUid): EntityUid[] {
  if (parents.length > L.maxParents) throw invalid(`.parents: more than ${L.maxParents}`);
  const self = uidText(principal);
  const seen = new Set<string>();
  const out: EntityUid[] = [];
  for (const [i, p] of parents.entries()) {
    checkString(p.id, `.parents[${i}]`);
    const t = uidText(p);
    if (t === self) throw invalid(`.parents[${i}]: the principal cannot be its own parent`);
    if (!seen.has(t)) out.push({ type: p.type, id: p.id });
    seen.add(t);
  }
  return out;
}

function shape(raw: unknown): { attrs: Record<string, unknown>; parents: unknown[] } {
  if (!isPlainRecord(raw)) throw invalid(': expected an object {attrs, parents}');
  for (const k of Object.keys(raw)) if (k !== 'attrs' && k !== 'parents') throw invalid(`.${k}: unknown member (only attrs and parents: the entity is always the request's principal)`);
  const attrs = raw.attrs ?? {};
  const parents = raw.parents ?? [];
  if (!isPlainRecord(attrs)) throw invalid('.attrs: expected an object');
  if (!Array.isArray(parents)) throw invalid('.parents: expected a list of entity UIDs');
  if (parents.length > L.maxParents) throw invalid(`.parents: more than ${L.maxParents}`);
  return { attrs, parents };
}

/** The entity an enforcement point supplied, checked and bounded; throws DenyError('principal_entity_invalid'). */
export function principalEntityFromRequest(raw: unknown, principal: EntityUid): PrincipalEntity {
  const s = shape(raw);
  const parents = s.parents.map((p, i) => {
    const u = typeof p === 'string' ? parseUid(p) : null;
    if (!u) throw invalid(`.parents[${i}]: expected an entity UID such as K8sGroup::"ops", got ${JSON.stringify(p)?.slice(0, 80)}`);
    return u;
  });
  return { attrs: cedarRecord(s.attrs, '.attrs', 0, { values: L.maxValues }), parents: checkParents(parents, principal) };
}

/** A recorded entity (replay): the same checks on the leaf's form, parents as {type, id}. */
export function recordedPrincipalEntity(raw: unknown, principal: EntityUid): PrincipalEntity {
  const s = shape(raw);
  const parents = s.parents.map((p, i) => {
    const u = uidFromJson(p);
    if (!u || typeof p !== 'object' || p === null || '__entity' in p) throw invalid(`.parents[${i}]: expected {"type", "id"}`);
    return u;
  });
  const pe = { attrs: cedarRecord(s.attrs, '.attrs', 0, { values: L.maxValues }), parents: checkParents(parents, principal) };
  if (pe.parents.length !== parents.length) throw invalid('.parents: a parent is listed twice');
  return pe;
}

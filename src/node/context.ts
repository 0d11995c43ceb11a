/**
 * Building the Cedar request a node evaluates: the caller's context plus what only
 * the node may supply — args, now, lineage, attestation, and usage where a bundle counts
 * (usage.ts, docs/budgets.md) (docs/ledger-leaf.md).
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { DenyError } from '../reasons.ts';
import { isRecord } from '../util.ts';

export const NODE_CONTEXT_KEYS = ['args', 'now', 'lineage', 'attestation', 'usage'] as const;
// Cedar JSON escapes, and __proto__, which a plain object cannot hold as data.
const RESERVED_KEYS = new Set(['__entity', '__extn', '__expr', '__proto__']);

/**
 * Arguments as a Cedar value. Cedar has no null and no floating point, so: null
 * becomes an empty record (present: `has` sees it), non-integral numbers become their
 * JSON text; arrays become Cedar sets (order and duplicates are not seen by policies —
 * the intent digest still binds the exact arguments). Keys that are
 * Cedar JSON escapes are refused, so arguments can never smuggle in entity references.
 * The intent digest is computed over the original arguments, not this form.
 */
export function argsToCedar(value: unknown, path = 'args'): CedarValueJson | undefined {
  // Cedar has no null: a null member is present as an empty record, so `has` sees it (a
  // forbid on `context.args has mode` must not be stepped around with {"mode": null})
  if (value === null) return {};
  if (value === undefined) return undefined;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) {
    return value.map((v, i) => argsToCedar(v, `${path}[${i}]`)).filter((v): v is CedarValueJson => v !== undefined);
  }
  if (isRecord(value)) {
    const out: Record<string, CedarValueJson> = {};
    for (const [k, v] of Object.entries(value)) {
      if (RESERVED_KEYS.has(k)) throw new DenyError('request_invalid', `${path}.${k}: key is reserved (Cedar JSON escapes and __proto__ are refused)`);
      const c = argsToCedar(v, `${path}.${k}`);
      if (c !== undefined) out[k] = c;
    }
    return out;
  }
  throw new DenyError('request_invalid', `${path}: unsupported JSON value`);
}

export interface NodeFacts {
  now: Date;
  lineage: { depth: number; rootPrincipal: string; parentAction: string; parent: string };
  attestation: { binaryDigest: string; domain: string; node: string };
  /** usage counters' values (a policy test fixes them; the node adds them itself, usage.ts) */
  usage?: Record<string, unknown>;
}

export function buildContext(userContext: unknown, args: unknown, facts: NodeFacts): Record<string, CedarValueJson> {
  if (userContext !== undefined && !isRecord(userContext)) throw new DenyError('request_invalid', 'context must be a JSON object');
  const ctx: Record<string, CedarValueJson> = {};
  for (const [k, v] of Object.entries(userContext ?? {})) {
    if (k === '__proto__') throw new DenyError('request_invalid', 'context.__proto__ is refused');
    if ((NODE_CONTEXT_KEYS as readonly string[]).includes(k)) {
      throw new DenyError('request_invalid', `context.${k} is supplied by the node and cannot be set by the caller`);
    }
    ctx[k] = v as CedarValueJson;
  }
  ctx.args = argsToCedar(args ?? {}) ?? {};
  ctx.now = Math.floor(facts.now.getTime() / 1000);
  ctx.lineage = { ...facts.lineage };
  ctx.attestation = { ...facts.attestation };
  if (facts.usage !== undefined) ctx.usage = { ...facts.usage } as CedarValueJson;
  return ctx;
}

/**
 * RFC 8785 (JCS) canonical JSON: the one form every digest and signature in Writ is computed
 * over (intents, decision inputs, ledger leaves). Its own module, importing only the
 * `canonicalize` package, so that the writ, the ledger and the browser share it.
 *
 * Speed (docs/performance.md): most values canonicalized here are plain JSON trees (parsed
 * requests, leaves Writ builds itself). For those, a copy with its keys inserted in sorted
 * order, given to one native `JSON.stringify`, is byte for byte what `canonicalize` writes:
 * the library itself serializes every string and number with `JSON.stringify` (ECMAScript's
 * Number-to-String is RFC 8785's number form, and its string escaping is RFC 8785's), joins
 * members with `,` and `:` and no whitespace, and orders keys with the default sort (UTF-16
 * code units, as the RFC requires). The fast path only takes what it can prove is such a tree,
 * and hands everything else to the library, which then decides (and throws where it throws):
 *  - an object that is not plain (its prototype neither Object.prototype nor null: a Date, a
 *    Map, a class instance, a boxed primitive), or any value with a `toJSON`;
 *  - a key that is an array index ("0", "17": V8's JSON.stringify writes those first, in
 *    numeric order, whatever order they were inserted in) or `__proto__` (assigning it to
 *    the copy would set the copy's prototype instead);
 *  - a string with a lone surrogate (the library refuses it), a number that is not finite,
 *    a function, a symbol, a bigint, undefined in an array or an array hole (a member whose
 *    value is undefined is left out, as both leave it out);
 *  - nesting deeper than FAST_DEPTH (which also turns a cycle into the library's error).
 * test/canonical-json.test.ts compares both, byte for byte, on random values and on the RFC's
 * own examples.
 */
import canonicalize from 'canonicalize';

/** deeper values go to the library (Writ's own values are a few levels deep) */
const FAST_DEPTH = 64;
/** the fast path declines: the library decides */
const DECLINE: unique symbol = Symbol('decline');
const INDEX_KEY = /^(?:0|[1-9][0-9]*)$/;

/** RFC 8785 canonical form; throws on values JSON cannot represent. */
export function canonicalJson(value: unknown): string {
  const fast = canonicalJsonFast(value);
  if (fast !== undefined) return fast;
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return text;
}

/** The fast path alone: the canonical form, or undefined where it declines (for tests). */
export function canonicalJsonFast(value: unknown): string | undefined {
  const sorted = sortedCopy(value, 0);
  return sorted === DECLINE ? undefined : JSON.stringify(sorted);
}

/** `canonicalize` alone, without the fast path: for tests and comparisons */
export function canonicalJsonLibrary(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return text;
}

/**
 * The value with every object's keys inserted in sorted order, or DECLINE if it is not
 * provably a plain JSON tree. Primitives are returned as they are.
 */
function sortedCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed() ? value : DECLINE;
    case 'number':
      return Number.isFinite(value) ? value : DECLINE;
    case 'boolean':
      return value;
    case 'object':
      break;
    default:
      return DECLINE;
  }
  if (value === null) return null;
  if (depth >= FAST_DEPTH) return DECLINE;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const a = value as unknown[];
    if (typeof (a as { toJSON?: unknown }).toJSON === 'function') return DECLINE;
    const out = new Array<unknown>(a.length);
    for (let i = 0; i < a.length; i++) {
      const v = sortedCopy(a[i], depth + 1);
      if (v === DECLINE) return DECLINE;
      out[i] = v;
    }
    return out;
  }
  if (proto !== Object.prototype && proto !== null) return DECLINE;
  const o = value as Record<string, unknown>;
  if (typeof o.toJSON === 'function') return DECLINE;
  const keys = Object.keys(o).sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const c = k.charCodeAt(0);
    if ((c >= 48 && c <= 57 && INDEX_KEY.test(k)) || k === '__proto__' || !k.isWellFormed()) return DECLINE;
    const member = o[k];
    // omitted, as the library and JSON.stringify omit it
    if (member === undefined) continue;
    const v = sortedCopy(member, depth + 1);
    if (v === DECLINE) return DECLINE;
    out[k] = v;
  }
  return out;
}


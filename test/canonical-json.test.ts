/**
 * The canonicalization fast path (src/canonical/json.ts) against the `canonicalize` library,
 * byte for byte: random JSON values from a seeded generator (unicode, escapes, lone
 * surrogates, -0, exponents, index-like keys, deep nesting), RFC 8785's own examples, and
 * the values the fast path must hand to the library (which then throws where it throws).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, canonicalJsonFast, canonicalJsonLibrary } from '../src/canonical/json.ts';

/** mulberry32: a small seeded generator, so a failure can be replayed from its seed */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL_CHARS = ['"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', '\u0080', '\u00f6', '\u2028', '\u2029', '\u20ac', '\ufb33', '\ufeff', '\uffff', '\ud83d\ude00', 'a', 'Z', '0', ' ', '\u00e9', '\u0301'];
const LONE = ['\ud800', '\udfff', '\ud83d'];
// eslint-disable-next-line no-loss-of-precision -- RFC 8785's own example, rounded on purpose
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 1e-6, 5e-324, -5e-324, 1.7976931348623157e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 333333333.33333329, 1e30, 4.5, 2e-3, 1e-27, 9.999999999999997e22, 1e23, 295147905179352830000, 123456789012345680000];

function randomString(r: () => number, allowLone: boolean): string {
  const n = Math.floor(r() * 8);
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = r();
    if (allowLone && k < 0.02) s += LONE[Math.floor(r() * LONE.length)];
    else if (k < 0.5) s += SPECIAL_CHARS[Math.floor(r() * SPECIAL_CHARS.length)];
    else s += String.fromCharCode(Math.floor(r() * 0xd7ff)); // any BMP code unit below the surrogates
  }
  return s;
}

function randomKey(r: () => number, allowLone: boolean): string {
  const k = r();
  if (k < 0.1) return String(Math.floor(r() * 20)); // index-like: "0" … "19"
  if (k < 0.13) return ['__proto__', 'toJSON', 'constructor', '01', '-1', '4294967295', '1e3', ''][Math.floor(r() * 8)] as string;
  return randomString(r, allowLone);
}

function randomNumber(r: () => number): number {
  const k = r();
  if (k < 0.3) return NUMBERS[Math.floor(r() * NUMBERS.length)] as number;
  if (k < 0.5) return Math.floor((r() - 0.5) * 2 ** 40);
  if (k < 0.7) return (r() - 0.5) * 10 ** Math.floor(r() * 60 - 30);
  // any finite double, from random bits
  const b = new DataView(new ArrayBuffer(8));
  b.setUint32(0, Math.floor(r() * 2 ** 32));
  b.setUint32(4, Math.floor(r() * 2 ** 32));
  const d = b.getFloat64(0);
  return Number.isFinite(d) ? d : 0;
}

function randomValue(r: () => number, depth: number, allowLone: boolean): unknown {
  const k = r();
  if (depth <= 0 || k < 0.35) {
    const p = r();
    if (p < 0.1) return null;
    if (p < 0.2) return r() < 0.5;
    if (p < 0.55) return randomNumber(r);
    return randomString(r, allowLone);
  }
  if (k < 0.6) return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth - 1, allowLone));
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 6);
  // defineProperty: a key named __proto__ is data, as JSON.parse makes it
  for (let i = 0; i < n; i++) Object.defineProperty(o, randomKey(r, allowLone), { value: randomValue(r, depth - 1, allowLone), enumerable: true, writable: true, configurable: true });
  return o;
}

/** both throw, or both return the same text */
function agree(v: unknown): 'same' | 'both threw' {
  let expected: string | Error;
  try {
    expected = canonicalJsonLibrary(v);
  } catch (err) {
    expected = err as Error;
  }
  if (expected instanceof Error) {
    assert.throws(() => canonicalJson(v));
    return 'both threw';
  }
  assert.equal(canonicalJson(v), expected);
  return 'same';
}

test('the fast path writes what canonicalize writes, on 20,000 random JSON values', () => {
  const counts = { same: 0, 'both threw': 0, fast: 0 };
  for (let seed = 1; seed <= 20_000; seed++) {
    const r = rng(seed);
    const v = randomValue(r, 1 + Math.floor(r() * 6), seed % 4 === 0);
    try {
      counts[agree(v)]++;
      const fast = canonicalJsonFast(v);
      if (fast !== undefined) {
        counts.fast++;
        assert.equal(fast, canonicalJsonLibrary(v));
      }
    } catch (err) {
      assert.fail(`seed ${seed}: ${(err as Error).message}`);
    }
  }
  // the generator must exercise both outcomes
  assert.ok(counts.same > 15_000, JSON.stringify(counts));
  assert.ok(counts['both threw'] > 100, JSON.stringify(counts));
  // and the fast path itself must have been taken for most of them (not declining everything)
  assert.ok(counts.fast > 10_000, JSON.stringify(counts));
});

test('round trip: values parsed from JSON text (as requests arrive) canonicalize the same', () => {
  for (let seed = 1; seed <= 5_000; seed++) {
    const v = randomValue(rng(seed), 5, false);
    assert.equal(canonicalJson(JSON.parse(JSON.stringify(v))), canonicalJsonLibrary(JSON.parse(JSON.stringify(v))), `seed ${seed}`);
  }
});

test('RFC 8785 §3.2.2: the example with numbers, escapes and literals', () => {
  const input = JSON.parse('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}') as unknown;
  const expected = '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
  assert.equal(canonicalJson(input), expected);
  assert.equal(canonicalJsonLibrary(input), expected);
});

test('RFC 8785 §3.2.3: property sorting by UTF-16 code units (an index-like key "1": the library decides)', () => {
  const input = JSON.parse('{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}') as unknown;
  const expected = '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
  assert.equal(canonicalJson(input), expected);
  // without the index-like key, the fast path itself orders them
  const rest = { ...(input as Record<string, string>) };
  delete rest['1'];
  assert.equal(canonicalJson(rest), expected.replace('"1":"One",', ''));
  assert.equal(canonicalJson({ b: 1, a: { '10': 0, '9': 1, x: [{ z: 1, y: 2 }] } }), '{"a":{"10":0,"9":1,"x":[{"y":2,"z":1}]},"b":1}');
});

test('RFC 8785 Appendix B: number serialization', () => {
  const cases: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [hex, text] of cases) {
    const d = new DataView(new ArrayBuffer(8));
    d.setBigUint64(0, BigInt(`0x${hex}`));
    const n = d.getFloat64(0);
    assert.equal(canonicalJson([n]), `[${text}]`, hex);
    assert.equal(canonicalJsonLibrary([n]), `[${text}]`, hex);
  }
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    assert.throws(() => canonicalJson({ n: bad }));
    assert.throws(() => canonicalJson(bad));
  }
});

test('what the fast path declines is decided by the library, the same way', () => {
  class Point {
    x = 1;
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  let deep: unknown = 'leaf';
  for (let i = 0; i < 200; i++) deep = { d: [deep] };
  const values: unknown[] = [
    { d: new Date(0) },
    { p: new Point() },
    { m: new Map([[1, 2]]) },
    { n: Object(5) as unknown, s: Object('x') as unknown, b: Object(true) as unknown },
    { t: { toJSON: () => ({ z: 1, a: 2 }) } },
    { t: { toJSON: () => undefined } },
    [undefined, () => 1, Symbol('s')],
    { u: undefined, f: () => 1, s: Symbol('s'), k: 1 },
    // eslint-disable-next-line no-sparse-arrays
    [1, , 3],
    JSON.parse('{"__proto__": {"x": 1}, "a": 1}') as unknown,
    { '\ud800': 1 },
    ['\udc00x'],
    deep,
    cyclic,
    { big: 1n },
    undefined,
  ];
  values.forEach((v, i) => {
    agree(v);
    assert.equal(canonicalJsonFast(v), undefined, `value ${i} is declined`);
  });
  // a plain tree with every kind of member is taken
  assert.equal(canonicalJsonFast({ s: '\u2028"\\', n: [-0, 1e21, 5e-324], b: true, z: null, o: {} }), '{"b":true,"n":[0,1e+21,5e-324],"o":{},"s":"\u2028\\"\\\\","z":null}');
  assert.equal(canonicalJson({ u: undefined, k: 1 }), '{"k":1}');
  assert.equal(canonicalJsonFast(-0), '0');
  assert.equal(canonicalJsonFast('plain'), '"plain"');
  const bare = Object.assign(Object.create(null) as object, { b: 1, a: [2] });
  assert.equal(canonicalJsonFast(bare), canonicalJsonLibrary(bare));
  assert.throws(() => canonicalJson(cyclic));
  assert.throws(() => canonicalJson(['\ud800']));
});

/**
 * I-JSON (RFC 7493) at every boundary where a request enters (docs/json.md).
 *
 * The intent is SHA-256 over RFC 8785 JSON, and RFC 8785 — like JSON.parse — reads every
 * number as an IEEE 754 double. A literal that no double holds exactly would be decided,
 * recorded and forwarded as another number (`9007199254740993` is read as …992), and two
 * different requests would share one intent. So a request is read from its source text
 * and refused unless the value Writ decides on is exactly the value that was sent:
 *
 *   numbers  |n| ≤ 2^53−1 (§2.2: beyond it a double no longer holds every integer), and
 *            written with no more precision than a double holds: the literal must equal
 *            the shortest decimal of the double it is read as (`0.1`, `1.50`, `1e2` pass;
 *            `1e400`, `1e-400`, `0.10000000000000001`, `9007199254740993.0` do not)
 *   strings  well-formed Unicode, member names included: no lone surrogates (§2.1)
 *   objects  no duplicate member names (§2.3): JSON.parse keeps the last, another
 *            reader the first
 *
 * The source text is scanned once, after JSON.parse has accepted it, so the scanner only
 * ever sees valid JSON; it names each violation by JSON Pointer (RFC 6901). No Node APIs
 * and no source-text access needed: this runs wherever writ/verify runs.
 */
import { WritError } from './errors.ts';

/** A document that is JSON but not I-JSON. */
export class IJsonError extends WritError {
  /** where, as a JSON Pointer (RFC 6901); '' is the whole document */
  readonly pointer: string;
  /**
   * The document as JSON.parse reads it (numbers rounded, the last duplicate member kept):
   * only to name the request being refused in its record, never to act on.
   */
  readonly value: unknown;
  constructor(pointer: string, problem: string, value: unknown) {
    super('request_invalid', at(pointer, problem));
    this.name = 'IJsonError';
    this.pointer = pointer;
    this.value = value;
  }
}

/**
 * JSON.parse for requests: the value, if the text is I-JSON. Throws a SyntaxError if
 * it is not JSON, an IJsonError (carrying the value as JSON.parse reads it) if it is
 * JSON but not I-JSON.
 */
export function parseIJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  const v = scan(text);
  if (v !== null) throw new IJsonError(v.pointer, v.problem, value);
  return value;
}

/**
 * For text another JSON.parse has accepted already (a server's own body parser): why it is
 * not I-JSON (`not I-JSON at <pointer>: …`), or null. Scans only; parses nothing again.
 */
export function ijsonProblemOfParsed(text: string): string | null {
  const v = scan(text);
  return v === null ? null : at(v.pointer, v.problem);
}

/** The largest magnitude where every integer is a double (RFC 7493 §2.2). */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/**
 * For values that were parsed already (a library caller's, or one read by a plain
 * JSON.parse): why it is not I-JSON, or null. A number here is a double already, so
 * only what can still be seen is refused: |n| > 2^53−1 (it may be a larger integer,
 * rounded — indistinguishable from one sent as such) and non-finite numbers, and lone
 * surrogates. Excess precision and duplicate members are only visible in the text.
 */
export function ijsonViolation(value: unknown, pointer = ''): string | null {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && Math.abs(value) <= MAX_EXACT) return null;
    return at(pointer, Number.isFinite(value) ? `${String(value)} ${OUT_OF_RANGE}` : `${String(value)} is not a finite number (RFC 7493 §2.2)`);
  }
  if (typeof value === 'string') return value.isWellFormed() ? null : at(pointer, LONE_SURROGATE);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = ijsonViolation(value[i], `${pointer}/${i}`);
      if (v !== null) return v;
    }
    return null;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, item] of Object.entries(value)) {
      const p = `${pointer}/${pointerToken(k)}`;
      if (!k.isWellFormed()) return at(p, `the member name: ${LONE_SURROGATE}`);
      const v = ijsonViolation(item, p);
      if (v !== null) return v;
    }
  }
  return null;
}

const OUT_OF_RANGE = 'is outside ±(2^53−1), where a double no longer holds every integer (RFC 7493 §2.2)';
const LONE_SURROGATE = 'a lone surrogate is not Unicode text (RFC 7493 §2.1)';

function at(pointer: string, problem: string): string {
  return `not I-JSON at ${pointer === '' ? 'the top level' : clip(pointer, 120)}: ${problem}`;
}

// ---------------------------------------------------------------- the source-text scan

/** an object being read (its member names so far, the current one) or an array (the current index) */
type Frame = { names: Set<string>; name: string } | { index: number };

interface Violation {
  pointer: string;
  problem: string;
}

/** The first violation in `text`, which JSON.parse has accepted, or null. */
function scan(text: string): Violation | null {
  const stack: Frame[] = [];
  let expectName = false; // right after `{` or an object's `,`: the next string is a member name
  const violation = (problem: string): Violation => ({ pointer: stack.map(frameToken).join(''), problem });
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      const raw = text.slice(i + 1, end);
      const s = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
      const top = stack.at(-1);
      if (expectName && top !== undefined && 'names' in top) {
        top.name = s;
        expectName = false;
        if (!s.isWellFormed()) return violation(`the member name: ${LONE_SURROGATE}`);
        if (top.names.has(s)) return violation(`duplicate member name ${clip(JSON.stringify(s))} (RFC 7493 §2.3)`);
        top.names.add(s);
      } else if (!s.isWellFormed()) {
        return violation(LONE_SURROGATE);
      }
      i = end + 1;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      let j = i + 1;
      while (j < text.length && isNumberChar(text.charCodeAt(j))) j++;
      const problem = numberProblem(text.slice(i, j));
      if (problem !== null) return violation(problem);
      i = j;
    } else {
      if (c === OPEN_OBJECT) {
        stack.push({ names: new Set(), name: '' });
        expectName = true;
      } else if (c === OPEN_ARRAY) {
        stack.push({ index: 0 });
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        stack.pop();
        expectName = false;
      } else if (c === COMMA) {
        const top = stack.at(-1);
        if (top !== undefined && 'index' in top) top.index++;
        else expectName = true;
      }
      i++; // whitespace, `:`, and the letters of true/false/null
    }
  }
  return null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/** the index of the quote that closes the string opening at `start` */
function stringEnd(text: string, start: number): number {
  for (let j = start + 1; ; ) {
    const q = text.indexOf('"', j);
    if (q < 0) throw new SyntaxError('unterminated string'); // not reached: JSON.parse accepted the text
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return q;
    j = q + 1;
  }
}

function isNumberChar(c: number): boolean {
  return (c >= ZERO && c <= NINE) || c === 0x2e /* . */ || c === 0x65 /* e */ || c === 0x45 /* E */ || c === 0x2b /* + */ || c === MINUS;
}

/** Why this number literal is not I-JSON, or null. */
function numberProblem(literal: string): string | null {
  const n = Number(literal); // the same correctly rounded double JSON.parse reads
  const shown = clip(literal);
  if (!Number.isFinite(n)) return `${shown} is beyond the range of a double (RFC 7493 §2.2)`;
  if (Math.abs(n) > MAX_EXACT) return `${shown} ${OUT_OF_RANGE}`;
  // String(n) is the shortest decimal that reads back as n (also what RFC 8785 writes)
  if (decimalKey(literal) !== decimalKey(String(n))) return `${shown} has more precision than a double holds: it would be read as ${String(n)} (RFC 7493 §2.2)`;
  return null;
}

/**
 * A decimal literal's value as sign, significant digits and exponent, so that two
 * literals get the same key exactly when they denote the same number (`1.50`, `15e-1`).
 */
function decimalKey(literal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) return `?${literal}`; // not reached: JSON and String(n) write only such literals
  const fraction = m[3] ?? '';
  const digits = `${m[2] ?? ''}${fraction}`.replace(/^0+/, '');
  if (digits === '') return '0'; // -0 is 0 (and RFC 8785 writes it so)
  const significant = digits.replace(/0+$/, '');
  // an absurd exponent loses precision here only where the double is 0 or infinite: refused anyway
  const exponent = Number(m[4] ?? '0') - fraction.length + (digits.length - significant.length);
  return `${m[1] ?? ''}${significant}e${exponent}`;
}

function frameToken(f: Frame): string {
  return `/${'index' in f ? String(f.index) : pointerToken(f.name)}`;
}

/** RFC 6901 §3: `~` and `/` escaped */
function pointerToken(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Long literals and names are cut in messages (a literal may be a 60 KiB run of digits),
 * and a message never carries a lone surrogate: it goes into the evidence, as RFC 8785 JSON.
 */
function clip(text: string, max = 40): string {
  return (text.length > max ? `${text.slice(0, max)}…` : text).toWellFormed();
}

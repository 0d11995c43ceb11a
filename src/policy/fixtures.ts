/**
 * Policy test fixtures (docs/policy-test.md): `<policy folder>/tests/*.json`, each file one
 * test or an array of tests, every test `{"v": 1, name, request, expect}`. Parsed strictly —
 * an unknown member is an error, not ignored — so a typo (`"expected"`, `"reason"`) fails
 * loudly instead of silently testing less than its author meant.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseUid, type EntityUid } from '../canonical/uid.ts';
import { isRecord } from '../util.ts';
import { parseIJson } from '../writ/i-json.ts';
import { WritError } from '../writ/errors.ts';
import { POLICY_TESTS_DIR } from './sign.ts';

export const FIXTURE_VERSION = 1;

export interface FixtureRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  args: unknown;
  /** the caller's context, without what the node supplies */
  context: Record<string, unknown>;
  /** context.now in seconds, if the fixture fixes it */
  now?: number;
  /** members of context.lineage the fixture sets (the rest: a root request's) */
  lineage?: Record<string, unknown>;
  /** members of context.attestation the fixture sets */
  attestation?: Record<string, unknown>;
  /** context.usage, the usage counters' values the node would count (docs/budgets.md) */
  usage?: Record<string, unknown>;
  /** an in-process enforcement point's principal entity (parents as UID text) */
  principalEntity?: unknown;
  /** an approval was given: a permit annotated @approval("required") allows */
  approved: boolean;
}

export interface FixtureExpect {
  decision: 'allow' | 'deny';
  reasons?: string[];
  policies?: string[];
}

export interface PolicyTestCase {
  /** the fixture file, relative to the policy folder (tests/x.json) */
  file: string;
  name: string;
  request: FixtureRequest;
  expect: FixtureExpect;
}

/** A fixture that cannot be read; `field` is a JSON path inside the file (`[1].request.principal`). */
export class PolicyTestError extends WritError {
  readonly file: string;
  readonly field: string;
  constructor(file: string, field: string, message: string) {
    super('policy_test_invalid', `${file}${field ? `: ${field}` : ''}: ${message}`);
    this.name = 'PolicyTestError';
    this.file = file;
    this.field = field;
  }
}

/** The path of member `k` under `at` (`request.principal`, `[1].expect`; at the top level just `k`). */
const member = (at: string, k: string) => (at === '' ? k : `${at}.${k}`);

const TEST_KEYS = ['v', 'name', 'request', 'expect'];
const REQUEST_KEYS = ['principal', 'action', 'resource', 'args', 'context', 'principalEntity', 'approved'];
const EXPECT_KEYS = ['decision', 'reasons', 'policies'];

function onlyKeys(o: Record<string, unknown>, allowed: string[], file: string, at: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new PolicyTestError(file, member(at, k), `unknown member (expected ${allowed.join(', ')})`);
  }
}

function uid(v: unknown, file: string, at: string): EntityUid {
  const u = typeof v === 'string' ? parseUid(v) : null;
  if (!u) throw new PolicyTestError(file, at, `expected an entity UID such as Agent::"a1", got ${JSON.stringify(v)}`);
  return u;
}

function strings(v: unknown, file: string, at: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new PolicyTestError(file, at, 'expected a list of strings');
  return v;
}

function optionalRecord(v: unknown, file: string, at: string): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v)) throw new PolicyTestError(file, at, 'expected an object');
  return v;
}

/** `context.now`: seconds since the epoch, or an RFC 3339 time. */
function nowSeconds(v: unknown, file: string, at: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v))) return Math.floor(Date.parse(v) / 1000);
  throw new PolicyTestError(file, at, `expected whole seconds since the epoch or an RFC 3339 time, got ${JSON.stringify(v)}`);
}

function parseRequest(v: unknown, file: string, at: string): FixtureRequest {
  if (!isRecord(v)) throw new PolicyTestError(file, at, 'expected an object {principal, action, resource, args?, context?}');
  onlyKeys(v, REQUEST_KEYS, file, at);
  const context = { ...(optionalRecord(v.context, file, `${at}.context`) ?? {}) };
  // The node supplies now, lineage, attestation and usage; a fixture fixes them through the same
  // names, so a test reads as the context its policies see. args has its own member.
  if ('args' in context) throw new PolicyTestError(file, `${at}.context.args`, `the arguments go in ${at}.args (the node builds context.args from them)`);
  const r: FixtureRequest = {
    principal: uid(v.principal, file, `${at}.principal`),
    action: uid(v.action, file, `${at}.action`),
    resource: uid(v.resource, file, `${at}.resource`),
    args: v.args ?? {},
    context,
    approved: false,
  };
  if ('now' in context) r.now = nowSeconds(context.now, file, `${at}.context.now`);
  const lineage = optionalRecord(context.lineage, file, `${at}.context.lineage`);
  if (lineage) r.lineage = lineage;
  const attestation = optionalRecord(context.attestation, file, `${at}.context.attestation`);
  if (attestation) r.attestation = attestation;
  const usage = optionalRecord(context.usage, file, `${at}.context.usage`);
  if (usage) r.usage = usage;
  delete context.now;
  delete context.lineage;
  delete context.attestation;
  delete context.usage;
  if (v.principalEntity !== undefined) r.principalEntity = v.principalEntity;
  if (v.approved !== undefined) {
    if (typeof v.approved !== 'boolean') throw new PolicyTestError(file, `${at}.approved`, 'expected true or false');
    r.approved = v.approved;
  }
  return r;
}

function parseExpect(v: unknown, file: string, at: string): FixtureExpect {
  if (!isRecord(v)) throw new PolicyTestError(file, at, 'expected an object {decision, reasons?, policies?}');
  onlyKeys(v, EXPECT_KEYS, file, at);
  if (v.decision !== 'allow' && v.decision !== 'deny') throw new PolicyTestError(file, `${at}.decision`, `expected "allow" or "deny", got ${JSON.stringify(v.decision)}`);
  return {
    decision: v.decision,
    ...(v.reasons !== undefined && { reasons: strings(v.reasons, file, `${at}.reasons`) }),
    ...(v.policies !== undefined && { policies: strings(v.policies, file, `${at}.policies`) }),
  };
}

function parseTest(v: unknown, file: string, at: string): PolicyTestCase {
  if (!isRecord(v)) throw new PolicyTestError(file, at, 'expected a test object {v, name, request, expect}');
  onlyKeys(v, TEST_KEYS, file, at);
  if (v.v !== FIXTURE_VERSION) throw new PolicyTestError(file, member(at, 'v'), `expected ${FIXTURE_VERSION} (the fixture format version), got ${JSON.stringify(v.v)}`);
  if (typeof v.name !== 'string' || v.name.trim() === '') throw new PolicyTestError(file, member(at, 'name'), 'expected a non-empty string');
  const field = (k: string) => member(at, k);
  return { file, name: v.name, request: parseRequest(v.request, file, field('request')), expect: parseExpect(v.expect, file, field('expect')) };
}

/** One fixture file's text: a test object, or an array of them. */
export function parseFixtureFile(file: string, text: string): PolicyTestCase[] {
  let value: unknown;
  try {
    value = parseIJson(text);
  } catch (err) {
    throw new PolicyTestError(file, '', `not valid JSON (${(err as Error).message})`);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new PolicyTestError(file, '', 'an empty list of tests');
    return value.map((t, i) => parseTest(t, file, `[${i}]`));
  }
  return [parseTest(value, file, '')];
}

/** Whether the policy folder has a tests/ folder (lint and sign run the tests only then). */
export function hasPolicyTests(dir: string): boolean {
  const path = join(dir, POLICY_TESTS_DIR);
  return existsSync(path) && statSync(path).isDirectory();
}

/** Every test of `<dir>/tests/*.json`, files in name order; names are unique across the folder. */
export function readPolicyTests(dir: string): PolicyTestCase[] {
  const root = join(dir, POLICY_TESTS_DIR);
  const tests: PolicyTestCase[] = [];
  for (const name of readdirSync(root).sort()) {
    const file = `${POLICY_TESTS_DIR}/${name}`;
    if (name.startsWith('.') || name.toLowerCase() === 'readme.md') continue;
    if (!name.endsWith('.json') || !statSync(join(root, name)).isFile()) throw new PolicyTestError(file, '', 'not a test fixture (tests/ holds only *.json files)');
    const bytes = readFileSync(join(root, name));
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new PolicyTestError(file, '', 'not valid UTF-8');
    }
    tests.push(...parseFixtureFile(file, text));
  }
  if (tests.length === 0) throw new PolicyTestError(POLICY_TESTS_DIR, '', 'no test fixtures (*.json)');
  const seen = new Map<string, string>();
  for (const t of tests) {
    const first = seen.get(t.name);
    if (first !== undefined) throw new PolicyTestError(t.file, 'name', `duplicate test name ${JSON.stringify(t.name)} (also in ${first})`);
    seen.set(t.name, t.file);
  }
  return tests;
}

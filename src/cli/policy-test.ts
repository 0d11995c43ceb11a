/**
 * `writ policy test DIR` (docs/policy-test.md): every fixture in DIR/tests decided with the
 * same engine and the same context building as a node (buildContext: args, now, lineage,
 * attestation), and compared with what it expects. Also run by `policy lint` and `policy sign`.
 */
import type { Evaluation, PolicyEngine } from '../policy/engine.ts';
import { principalEntityFromRequest } from '../policy/principal-entity.ts';
import { readPolicyTests, type FixtureExpect, type FixtureRequest, type PolicyTestCase } from '../policy/fixtures.ts';
import { buildContext, type NodeFacts } from '../node/context.ts';
import { uidText } from '../canonical/uid.ts';
import { DenyError } from '../reasons.ts';

/** What a decision comes to, for comparing: the decision, its reason codes and its determining policies. */
export interface Outcome {
  decision: 'allow' | 'deny';
  reasons: string[];
  policies: string[];
}

/**
 * An evaluation as the node records it: an allow that needs approval is `approval_required`
 * until an approval is given (node.ts, replay.ts do the same).
 */
export function outcomeOf(e: Evaluation, approved: boolean): Outcome {
  if (e.requiresApproval && !approved) return { decision: 'deny', reasons: ['approval_required'], policies: e.policies };
  return { decision: e.decision, reasons: [...e.reasons], policies: [...e.policies] };
}

/** Facts of a root request on a node of the default domain; a fixture overrides any of them. */
export const FIXTURE_NODE = { domain: 'default', node: 'node-1' } as const;

function facts(r: FixtureRequest, now: Date): NodeFacts {
  return {
    now: r.now === undefined ? now : new Date(r.now * 1000),
    lineage: { depth: 0, rootPrincipal: uidText(r.principal), parentAction: '', parent: '', ...(r.lineage as Partial<NodeFacts['lineage']>) },
    attestation: { binaryDigest: '', domain: FIXTURE_NODE.domain, node: FIXTURE_NODE.node, ...(r.attestation as Partial<NodeFacts['attestation']>) },
    ...(r.usage !== undefined && { usage: r.usage }),
  };
}

/** Decides one fixture request; a request the node would refuse before Cedar denies with its code, as the node does. */
export function decideFixture(engine: PolicyEngine, r: FixtureRequest, now: Date): Outcome {
  try {
    const principalEntity = r.principalEntity === undefined ? undefined : principalEntityFromRequest(r.principalEntity, r.principal);
    const evaluated = engine.evaluate({
      principal: r.principal,
      action: r.action,
      resource: r.resource,
      context: buildContext(r.context, r.args, facts(r, now)),
      ...(principalEntity !== undefined && { principalEntity }),
    });
    return outcomeOf(evaluated, r.approved);
  } catch (err) {
    if (err instanceof DenyError) return { decision: 'deny', reasons: [err.code], policies: [] };
    throw err;
  }
}

export const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** Reasons and policies are compared as sets, and only when the fixture names them. */
export function meets(actual: Outcome, expect: FixtureExpect): boolean {
  return actual.decision === expect.decision && (expect.reasons === undefined || sameSet(actual.reasons, expect.reasons)) && (expect.policies === undefined || sameSet(actual.policies, expect.policies));
}

export interface TestResult {
  file: string;
  name: string;
  ok: boolean;
  expected: FixtureExpect;
  actual: Outcome;
}

export interface TestReport {
  tests: number;
  passed: number;
  failed: number;
  results: TestResult[];
}

export function runTests(engine: PolicyEngine, tests: PolicyTestCase[], now: Date): TestReport {
  const results = tests.map((t) => {
    const actual = decideFixture(engine, t.request, now);
    return { file: t.file, name: t.name, ok: meets(actual, t.expect), expected: t.expect, actual };
  });
  const passed = results.filter((r) => r.ok).length;
  return { tests: results.length, passed, failed: results.length - passed, results };
}

/** Reads DIR/tests and runs it (throws PolicyTestError for a malformed fixture). */
export function runFolderTests(dir: string, engine: PolicyEngine, now = new Date()): TestReport {
  return runTests(engine, readPolicyTests(dir), now);
}

const show = (o: { decision: string; reasons?: string[]; policies?: string[] }) =>
  `${o.decision}${o.reasons ? ` ${o.reasons.join(',') || '-'}` : ''}${o.policies ? ` [${o.policies.join(',')}]` : ''}`;

/** Test-runner text: one ok / not ok line per test (TAP-like), what differed under a failure, a summary. */
export function formatReport(r: TestReport): string {
  const lines = r.results.map((t, i) => {
    const head = `${t.ok ? 'ok' : 'not ok'} ${i + 1} - ${t.name} (${t.file})`;
    if (t.ok) return head;
    return `${head}\n  expected: ${show(t.expected)}\n  actual:   ${show(t.actual)}`;
  });
  lines.push(`${r.tests} tests: ${r.passed} passed, ${r.failed} failed`);
  return lines.join('\n') + '\n';
}

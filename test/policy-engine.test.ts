/** The Cedar engine: default deny, forbid overrides permit, fail closed on any evaluation error, policy ids, schema checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { PolicyEngine, type EvaluationRequest } from '../src/policy/engine.ts';
import { loadPolicySource, PolicySourceError } from '../src/policy/source.ts';
import type { EntityUid } from '../src/canonical/uid.ts';
import { files, uid } from './policy-engine-fixture.ts';

const ALICE = uid('User', 'alice');
const BOB = uid('User', 'bob');
const READ = uid('Action', 'read');
const DELETE = uid('Action', 'delete');
const DOC = uid('Doc', 'd1');

function req(principal: EntityUid, action: EntityUid, resource: EntityUid, context: Record<string, CedarValueJson> = {}): EvaluationRequest {
  return { principal, action, resource, context };
}

describe('PolicyEngine semantics', () => {
  const engine = PolicyEngine.fromFiles(
    files({
      'policy.cedar': `
@id("alice-all")
permit (principal == User::"alice", action, resource);

@id("no-delete")
forbid (principal, action == Action::"delete", resource);
`,
    }),
  );

  it('denies by default (no_permit)', () => {
    const e = engine.evaluate(req(BOB, READ, DOC));
    assert.deepEqual(e, { decision: 'deny', reasons: ['no_permit'], policies: [], errors: [] });
  });

  it('allows what a permit matches (policy_permit, with the permit id)', () => {
    const e = engine.evaluate(req(ALICE, READ, DOC));
    assert.deepEqual(e, { decision: 'allow', reasons: ['policy_permit'], policies: ['alice-all'], errors: [] });
  });

  it('forbid overrides permit (policy_forbid, with the forbid id)', () => {
    const e = engine.evaluate(req(ALICE, DELETE, DOC));
    assert.deepEqual(e, { decision: 'deny', reasons: ['policy_forbid'], policies: ['no-delete'], errors: [] });
  });

  it('a policy that errors while evaluating denies (policy_evaluation_error), where raw Cedar would allow', () => {
    const permit = 'permit (principal, action, resource);';
    const forbid = 'forbid (principal, action, resource) when { context.missing == 1 };';
    const e = PolicyEngine.fromFiles(files({ 'p.cedar': `@id("allow-all")\n${permit}\n@id("guard")\n${forbid}\n` })).evaluate(req(ALICE, READ, DOC));
    assert.equal(e.decision, 'deny');
    assert.deepEqual(e.reasons, ['policy_evaluation_error']);
    assert.deepEqual(e.policies, ['guard']);
    assert.equal(e.errors.length, 1);
    assert.match(e.errors[0] as string, /^guard: .*missing/);

    // Why: Cedar skips the erroring forbid and allows.
    const raw = cedar.isAuthorized({
      principal: ALICE,
      action: READ,
      resource: DOC,
      context: {},
      policies: { staticPolicies: { 'allow-all': permit, guard: forbid } },
      entities: [],
    });
    assert.equal(raw.type, 'success');
    assert.equal(raw.response.decision, 'allow');
    assert.deepEqual(raw.response.diagnostics.reason, ['allow-all']);
    assert.deepEqual(raw.response.diagnostics.errors.map((x) => x.policyId), ['guard']);
  });

  it('an erroring permit alone also denies with policy_evaluation_error (not a silent no_permit)', () => {
    const eng = PolicyEngine.fromFiles(files({ 'p.cedar': '@id("lvl")\npermit (principal, action, resource) when { principal.level > 2 };' }));
    const e = eng.evaluate(req(ALICE, READ, DOC)); // alice is not in the entity data: attribute access errors
    assert.equal(e.decision, 'deny');
    assert.deepEqual(e.reasons, ['policy_evaluation_error']);
    assert.deepEqual(e.policies, ['lvl']);
  });

  it('hands Cedar the context attributes a policy reads exactly, whatever their names (__proto__, constructor, toString)', () => {
    const wrong: string[] = [];
    for (const name of ['__proto__', 'constructor', 'toString', 'n']) {
      const permit = 'permit (principal, action, resource);';
      const forbid = `forbid (principal, action, resource) when { context has ${name} };`;
      const eng = PolicyEngine.fromFiles(files({ 'p.cedar': `@id("allow-all")\n${permit}\n@id("guard")\n${forbid}\n` }));
      for (const context of [JSON.parse(`{${JSON.stringify(name)}: 1}`) as Record<string, CedarValueJson>, {}]) {
        assert.ok(Object.keys(context).length === 0 || Object.hasOwn(context, name));
        const raw = cedar.isAuthorized({ principal: ALICE, action: READ, resource: DOC, context, policies: { staticPolicies: { 'allow-all': permit, guard: forbid } }, entities: [] });
        assert.equal(raw.type, 'success');
        const e = eng.evaluate(req(ALICE, READ, DOC, context));
        if (e.decision !== raw.response.decision || JSON.stringify(e.policies) !== JSON.stringify(raw.response.diagnostics.reason)) {
          wrong.push(`context ${JSON.stringify(context)} with "${forbid}": Cedar ${raw.response.decision} ${JSON.stringify(raw.response.diagnostics.reason)}, engine ${e.decision} ${JSON.stringify(e.policies)}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('uses @id annotations as policy ids and file#index (0-based position in the file) otherwise', () => {
    const eng = PolicyEngine.fromFiles(
      files({
        'a.cedar': `permit (principal == User::"a0", action, resource);
@id("named")
permit (principal == User::"a1", action, resource);
permit (principal == User::"a2", action, resource);
`,
        'b.cedar': 'permit (principal == User::"b0", action, resource);',
      }),
    );
    assert.deepEqual(eng.policies.map((p) => p.id).sort(), ['a.cedar#0', 'a.cedar#2', 'b.cedar#0', 'named']);
    const idFor = (principal: string) => eng.evaluate(req(uid('User', principal), READ, DOC)).policies;
    assert.deepEqual(idFor('a0'), ['a.cedar#0']);
    assert.deepEqual(idFor('a1'), ['named']);
    assert.deepEqual(idFor('a2'), ['a.cedar#2']);
    assert.deepEqual(idFor('b0'), ['b.cedar#0']);
  });

  it('file#index follows the position in the file also beyond 10 policies', () => {
    const text = Array.from({ length: 12 }, (_, i) => `permit (principal == User::"p${i}", action, resource);`).join('\n');
    const eng = PolicyEngine.fromFiles(files({ 'big.cedar': text }));
    const wrong: string[] = [];
    for (let i = 0; i < 12; i++) {
      const got = eng.evaluate(req(uid('User', `p${i}`), READ, DOC)).policies;
      if (got.length !== 1 || got[0] !== `big.cedar#${i}`) wrong.push(`p${i} (policy ${i} of the file) -> ${got.join(',')}`);
    }
    assert.deepEqual(wrong, [], 'auto ids do not match the policies\' positions in the file');
  });

  it('refuses duplicate policy ids', () => {
    assert.throws(
      () => loadPolicySource(files({ 'a.cedar': '@id("x")\npermit (principal, action, resource);', 'b.cedar': '@id("x")\nforbid (principal, action, resource);' })),
      (err: unknown) => err instanceof PolicySourceError && err.diagnostics.some((d) => /duplicate policy id "x"/.test(d.message)),
    );
  });

  it('reports parse errors with file, line and column', () => {
    assert.throws(
      () => loadPolicySource(files({ 'x.cedar': 'permit (principal, action, resource);\n\npermit (principal, action, resource) when { 1 + };\n' })),
      (err: unknown) => {
        assert.ok(err instanceof PolicySourceError);
        const d = err.diagnostics[0];
        assert.ok(d);
        assert.equal(d.file, 'x.cedar');
        assert.equal(d.line, 3);
        assert.ok(d.col > 1);
        return true;
      },
    );
  });
});

describe('PolicyEngine with a schema', () => {
  const eng = PolicyEngine.fromFiles(
    files({
      'schema.cedarschema': `
entity Group;
entity User in [Group] { level: Long };
entity Doc { owner: User };
action read appliesTo { principal: User, resource: Doc, context: { reason: String } };
`,
      'p.cedar': '@id("owner-reads")\npermit (principal, action == Action::"read", resource) when { resource.owner == principal && principal.level > 1 };',
      'entities.json': JSON.stringify([
        { uid: { type: 'User', id: 'alice' }, attrs: { level: 3 }, parents: [] },
        { uid: { type: 'Doc', id: 'd1' }, attrs: { owner: { __entity: { type: 'User', id: 'alice' } } }, parents: [] },
      ]),
    }),
  );
  const ok = req(ALICE, READ, DOC, { reason: 'audit' });

  it('allows a well-typed request', () => {
    assert.equal(eng.hasSchema, true);
    assert.deepEqual(eng.evaluate(ok).reasons, ['policy_permit']);
  });

  it('denies an unknown principal type with schema_violation', () => {
    const e = eng.evaluate({ ...ok, principal: uid('Robot', 'r2') });
    assert.equal(e.decision, 'deny');
    assert.deepEqual(e.reasons, ['schema_violation']);
    assert.ok(e.errors.length > 0);
  });

  it('denies an unknown action, an unknown resource type, a principal type the action does not apply to, and a wrong context shape', () => {
    for (const bad of [
      { ...ok, action: uid('Action', 'launch') },
      { ...ok, resource: uid('Spaceship', 's1') },
      { ...ok, principal: uid('Group', 'g') },
      { ...ok, context: {} },
      { ...ok, context: { reason: 7 } },
      { ...ok, context: { reason: 'x', extra: true } },
    ]) {
      const e = eng.evaluate(bad);
      assert.equal(e.decision, 'deny', JSON.stringify(bad));
      assert.deepEqual(e.reasons, ['schema_violation'], JSON.stringify(bad));
    }
  });
});

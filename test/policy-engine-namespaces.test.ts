/** Action groups declared in a namespaced schema: the scope index resolves a parent the way Cedar does, so no forbid on the group is dropped. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { PolicyEngine } from '../src/policy/engine.ts';
import { schemaActionParents } from '../src/policy/source.ts';
import { files, uid } from './policy-engine-fixture.ts';

const SCHEMA = `namespace Acme {
  entity Agent; entity Tool;
  action dangerous;
  action "tools/read" in [dangerous] appliesTo { principal: Agent, resource: Tool };
  action "tools/delete" in [Action::"dangerous"] appliesTo { principal: Agent, resource: Tool };
  action "tools/list" appliesTo { principal: Agent, resource: Tool };
}
action audit;
namespace Other {
  entity Agent; entity Tool;
  action "tools/peek" in [Action::"audit"] appliesTo { principal: Agent, resource: Tool };
}`;
const POLICIES = `@id("permit-all") permit (principal, action, resource);
@id("forbid-dangerous") forbid (principal, action in Acme::Action::"dangerous", resource);
@id("forbid-audit") forbid (principal, action in Action::"audit", resource);`;

describe('scope index: action groups in namespaces', () => {
  const engine = PolicyEngine.fromFiles(files({ 'schema.cedarschema': SCHEMA, 'policy.cedar': POLICIES }));

  it('resolves `Action::"x"` inside a namespace to that namespace\'s action when it declares one, else to the global one', () => {
    const schemaJson = cedar.schemaToJson(SCHEMA);
    assert.equal(schemaJson.type, 'success');
    const parents = schemaActionParents(schemaJson.type === 'success' ? (schemaJson.json as Parameters<typeof schemaActionParents>[0]) : null);
    assert.deepEqual(parents.get('Acme::Action::"tools/read"'), ['Acme::Action::"dangerous"']);
    assert.deepEqual(parents.get('Acme::Action::"tools/delete"'), ['Acme::Action::"dangerous"']);
    assert.deepEqual(parents.get('Other::Action::"tools/peek"'), ['Action::"audit"']);
  });

  it('denies every member of the group, however the membership was written — as full Cedar does', () => {
    const decide = (ns: string, action: string) =>
      engine.evaluate({ principal: uid(`${ns}::Agent`, 'a1'), action: uid(`${ns}::Action`, action), resource: uid(`${ns}::Tool`, 't'), context: {} });
    for (const [ns, action, forbid] of [['Acme', 'tools/read', 'forbid-dangerous'], ['Acme', 'tools/delete', 'forbid-dangerous'], ['Other', 'tools/peek', 'forbid-audit']] as const) {
      const d = decide(ns, action);
      assert.equal(d.decision, 'deny', `${ns} ${action}`);
      assert.deepEqual(d.policies, [forbid], `${ns} ${action}`);
    }
    assert.equal(decide('Acme', 'tools/list').decision, 'allow', 'an action outside the group is still allowed');
  });
});

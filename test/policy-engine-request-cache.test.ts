/**
 * The engine's per-request cache (src/policy/engine.ts, requestSlice): the scope lookup and
 * the bundle's part of the entity slice kept per (principal, action, resource). Bounded by
 * MAX_REQUEST_SLICES whatever uids requests name; an entry whose prepared policy set was
 * evicted (its wasm id then holds another set) is never used; entities reached only through
 * the context are still passed, on a cached request as on a fresh one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_PREPARED_SLICES, MAX_REQUEST_SLICES, PolicyEngine } from '../src/policy/engine.ts';
import { files, uid } from './policy-engine-fixture.ts';

const READ = uid('Action', 'read');

describe('policy engine: per-request cache', () => {
  it('an entry whose prepared set was evicted and its id reused is not used', () => {
    const n = MAX_PREPARED_SLICES + 50;
    const policies = Array.from({ length: n }, (_, i) => `@id("p${i}")\npermit (principal, action == Action::"read", resource == Doc::"d${i}");`).join('\n');
    const engine = PolicyEngine.fromFiles(files({ 'policies.cedar': policies }));
    const ask = (i: number) => engine.evaluate({ principal: uid('User', 'u'), action: READ, resource: uid('Doc', `d${i}`), context: {} });
    assert.deepEqual(ask(0).policies, ['p0']);
    // every other document: each its own prepared set, so the first ones are evicted and their ids reused
    for (let i = 1; i < n; i++) assert.deepEqual(ask(i).policies, [`p${i}`]);
    assert.ok(engine.cacheSizes().slices <= MAX_PREPARED_SLICES);
    for (const i of [0, 1, 2, 10]) {
      const again = ask(i);
      assert.equal(again.decision, 'allow', `d${i} after its set was evicted`);
      assert.deepEqual(again.policies, [`p${i}`]);
    }
  });

  it(`stays within MAX_REQUEST_SLICES (${MAX_REQUEST_SLICES}) whatever uids the requests name`, () => {
    const engine = PolicyEngine.fromFiles(files({ 'policies.cedar': 'permit (principal, action == Action::"read", resource);' }));
    for (let i = 0; i < MAX_REQUEST_SLICES + 500; i++) {
      assert.equal(engine.evaluate({ principal: uid('User', `ghost-${i}`), action: READ, resource: uid('Doc', `x${i}`), context: {} }).decision, 'allow');
    }
    assert.ok(engine.cacheSizes().requests <= MAX_REQUEST_SLICES, JSON.stringify(engine.cacheSizes()));
  });

  it('entities reached only through the context are passed on a cached request too', () => {
    const engine = PolicyEngine.fromFiles(
      files({
        'policies.cedar': '@id("owner-admin")\npermit (principal, action == Action::"read", resource) when { context.owner.level > 3 && context.owner in Group::"admins" };',
        'entities.json': JSON.stringify([
          { uid: { type: 'User', id: 'boss' }, attrs: { level: 5 }, parents: [{ type: 'Group', id: 'admins' }] },
          { uid: { type: 'User', id: 'intern' }, attrs: { level: 1 }, parents: [] },
          { uid: { type: 'Group', id: 'admins' }, attrs: {}, parents: [] },
        ]),
      }),
    );
    const ask = (owner: string) => engine.evaluate({ principal: uid('User', 'u'), action: READ, resource: uid('Doc', 'd'), context: { owner: { __entity: { type: 'User', id: owner } } } });
    for (let round = 0; round < 3; round++) {
      assert.equal(ask('boss').decision, 'allow', `round ${round}`);
      assert.equal(ask('intern').decision, 'deny');
      // an owner the bundle does not know: an evaluation error (no such entity), as before
      assert.deepEqual(ask('nobody').reasons, ['policy_evaluation_error']);
    }
    assert.equal(engine.cacheSizes().requests, 1);
  });
});

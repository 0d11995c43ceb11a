/**
 * The principal entity an in-process enforcement point supplies (AuthorizeRequest.principalEntity,
 * src/policy/principal-entity.ts): attributes and parents reach Cedar (`principal in G`,
 * `principal.email`), parents the bundle places higher reach further; a bundle-defined principal
 * is refused, not merged; bad or oversized input is a clear deny; the entity is recorded in the
 * leaf (version 2) and replayed, and a tampered copy replays differently; the HTTP API refuses it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Ledger, LedgerEntry } from '../src/ledger/ledger.ts';
import { replayDecisions } from '../src/node/replay.ts';
import type { AuthorizeRequest } from '../src/node/types.ts';
import { PRINCIPAL_ENTITY_LIMITS } from '../src/policy/principal-entity.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { auth, makeApp } from './server-fixture.ts';

const POLICY = {
  'policy.cedar': `
@id("deployers-deploy")
permit (principal in Group::"deployers", action == Action::"deploy", resource);

@id("staff-deploy")
permit (principal in Group::"staff", action == Action::"deploy", resource == App::"intranet");

@id("email-read")
permit (principal, action == Action::"read", resource)
when { principal has email && principal.email like "*@example.com" && principal.level >= 3 };
`,
  // the bundle places Group::"deployers" in Group::"staff", and defines User::"bundled"
  'entities.json': JSON.stringify([
    { uid: { type: 'Group', id: 'deployers' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
    { uid: { type: 'Group', id: 'staff' }, attrs: {}, parents: [] },
    { uid: { type: 'User', id: 'bundled' }, attrs: {}, parents: [{ type: 'Group', id: 'deployers' }] },
  ]),
};

interface Leaf {
  v: number;
  id: string;
  input: { principalEntity?: { attrs: Record<string, unknown>; parents: { type: string; id: string }[] } } | null;
  result: { decision: string; reasons: string[] };
}

const deploy = (who: string, parents: string[], resource = 'App::"web"'): AuthorizeRequest => ({ principal: `User::"${who}"`, action: 'Action::"deploy"', resource, principalEntity: { attrs: {}, parents } });
const read = (attrs: Record<string, unknown>): AuthorizeRequest => ({ principal: 'User::"carol"', action: 'Action::"read"', resource: 'Doc::"d1"', principalEntity: { attrs, parents: [] } });

/** A ledger that serves copies of another's entries, one of them replaced: the tampered copy replay reads. */
function tamperedCopy(ledger: Ledger, index: number, edit: (leaf: Leaf) => void): Ledger {
  const entries = ledger.entries(0, 100_000).map((e): LedgerEntry => {
    if (e.index !== index) return e;
    const leaf = JSON.parse(new TextDecoder().decode(e.leaf)) as Leaf;
    edit(leaf);
    return { ...e, leaf: new TextEncoder().encode(JSON.stringify(leaf)) };
  });
  return { entries: (from: number, limit: number) => entries.filter((e) => e.index >= from).slice(0, limit) } as unknown as Ledger;
}

describe('the principal entity of an in-process enforcement point', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture({ policyDir: policyFolder(POLICY) });
  });
  after(() => f.cleanup());

  const leafOf = (index: number | null): Leaf => JSON.parse(new TextDecoder().decode(f.ledger.entry(index as number)?.leaf)) as Leaf;

  it('parents: principal in Group::"deployers" allows a member, denies a non-member; the bundle hierarchy above a parent holds too', async () => {
    const yes = await f.node.authorize(deploy('alice', ['Group::"deployers"']));
    assert.equal(yes.decision, 'allow', yes.message);
    assert.deepEqual(yes.policies, ['deployers-deploy']);
    const no = await f.node.authorize(deploy('bob', ['Group::"sales"']));
    assert.deepEqual([no.decision, no.reasons], ['deny', ['no_permit']]);
    const none = await f.node.authorize({ principal: 'User::"bob"', action: 'Action::"deploy"', resource: 'App::"web"' });
    assert.deepEqual(none.reasons, ['no_permit']);
    // deployers ∈ staff in the bundle: alice is in staff through the parent she was given
    const up = await f.node.authorize(deploy('alice', ['Group::"deployers"'], 'App::"intranet"'));
    assert.equal(up.decision, 'allow', up.message);
    assert.deepEqual(up.policies.sort(), ['deployers-deploy', 'staff-deploy']);
  });

  it('attributes: principal.email and a numeric claim decide', async () => {
    assert.equal((await f.node.authorize(read({ email: 'carol@example.com', level: 3 }))).decision, 'allow');
    assert.deepEqual((await f.node.authorize(read({ email: 'carol@evil.test', level: 3 }))).reasons, ['no_permit']);
    assert.deepEqual((await f.node.authorize(read({ email: 'carol@example.com', level: 1 }))).reasons, ['no_permit']);
    // a policy reading an attribute the principal lacks: `has` guards it, no error
    assert.deepEqual((await f.node.authorize(read({}))).reasons, ['no_permit']);
  });

  it('a principal the bundle defines is refused (principal_entity_conflict), never merged; without an entity the bundle decides', async () => {
    const d = await f.node.authorize(deploy('bundled', []));
    assert.deepEqual([d.decision, d.reasons], ['deny', ['principal_entity_conflict']]);
    assert.match(d.message, /User::"bundled" is defined by the bundle's entities/);
    const plain = await f.node.authorize({ principal: 'User::"bundled"', action: 'Action::"deploy"', resource: 'App::"web"' });
    assert.equal(plain.decision, 'allow', 'the bundle puts it in deployers');
  });

  it('bad or oversized input is principal_entity_invalid with a clear message, never a crash', async () => {
    const L = PRINCIPAL_ENTITY_LIMITS;
    const deep: Record<string, unknown> = { x: 'leaf' };
    let cur = deep;
    for (let i = 0; i < L.maxDepth; i++) cur = cur.x = { x: 'leaf' } as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [{ attrs: {}, parents: [], uid: { type: 'User', id: 'x' } }, /\.uid: unknown member/],
      [{ attrs: { e: { __entity: { type: 'Group', id: 'deployers' } } }, parents: [] }, /__entity: key is reserved/],
      [{ attrs: { n: null }, parents: [] }, /null is not a Cedar value/],
      [{ attrs: { f: 1.5 }, parents: [] }, /1\.5 is not a Cedar long/],
      [{ attrs: { big: 2 ** 60 }, parents: [] }, /not a Cedar long/],
      [{ attrs: { s: 'x'.repeat(L.maxStringLength + 1) }, parents: [] }, /longer than 1024/],
      [{ attrs: Object.fromEntries(Array.from({ length: L.maxAttrs + 1 }, (_, i) => [`a${i}`, i])), parents: [] }, /more than 64 members/],
      [{ attrs: { set: Array.from({ length: L.maxSetSize + 1 }, (_, i) => i) }, parents: [] }, /more than 256 elements/],
      [{ attrs: { deep }, parents: [] }, /nested deeper than 4/],
      [{ attrs: {}, parents: Array.from({ length: L.maxParents + 1 }, (_, i) => `Group::"g${i}"`) }, /more than 256/],
      [{ attrs: {}, parents: ['not a uid'] }, /parents\[0\]: expected an entity UID/],
      [{ attrs: {}, parents: ['User::"alice"'] }, /cannot be its own parent/],
      [{ attrs: 'x', parents: [] }, /\.attrs: expected an object/],
      ['x', /expected an object \{attrs, parents\}/],
    ];
    for (const [pe, message] of cases) {
      const d = await f.node.authorize({ principal: 'User::"alice"', action: 'Action::"deploy"', resource: 'App::"web"', principalEntity: pe as AuthorizeRequest['principalEntity'] });
      assert.deepEqual([d.decision, d.reasons], ['deny', ['principal_entity_invalid']], JSON.stringify(pe).slice(0, 80));
      assert.match(d.message, message);
      assert.equal(leafOf(d.ledgerIndex).input, null, 'refused before Cedar: recorded, not replayed');
    }
  });

  it('recorded in the leaf (v 2, input.principalEntity) and replayed; a tampered copy replays differently', async () => {
    const d = await f.node.authorize({ ...deploy('dana', []), principalEntity: { attrs: { email: 'dana@example.com', tags: ['a', 'b'] }, parents: ['Group::"deployers"', 'Group::"deployers"'] } });
    assert.equal(d.decision, 'allow', d.message);
    const leaf = leafOf(d.ledgerIndex);
    assert.equal(leaf.v, 2);
    assert.deepEqual(leaf.input?.principalEntity, { attrs: { email: 'dana@example.com', tags: ['a', 'b'] }, parents: [{ type: 'Group', id: 'deployers' }] });
    const plain = await f.node.authorize({ principal: 'User::"bundled"', action: 'Action::"deploy"', resource: 'App::"web"' });
    assert.equal(leafOf(plain.ledgerIndex).v, 1, 'a leaf without an entity is unchanged');

    const honest = await replayDecisions(f.ledger, f.state, f.trust);
    assert.deepEqual(honest.differences, [], 'every decision replays, those allowed only by a supplied parent or attribute included');
    assert.ok(honest.replayed > 0);

    const index = d.ledgerIndex as number;
    const diffAt = async (edit: (l: Leaf) => void) => (await replayDecisions(tamperedCopy(f.ledger, index, edit), f.state, f.trust)).differences.filter((x) => x.index === index);
    // the group taken away: the recorded allow does not replay
    const noGroup = await diffAt((l) => {
      if (l.input?.principalEntity) l.input.principalEntity.parents = [{ type: 'Group', id: 'sales' }];
    });
    assert.equal(noGroup.length, 1);
    assert.deepEqual(noGroup[0]?.replayed?.reasons, ['no_permit']);
    // the entity dropped from a version 2 leaf, or smuggled into a version 1 one: an error, not a pass
    const dropped = await diffAt((l) => {
      if (l.input) delete l.input.principalEntity;
    });
    assert.match(dropped[0]?.error ?? '', /version 2 decision leaf without input.principalEntity/);
    const relabelled = await diffAt((l) => {
      l.v = 1;
    });
    assert.match(relabelled[0]?.error ?? '', /principalEntity in a decision leaf of version 1/);
    // an entity reference put into the recorded attributes: refused as the node refuses it
    const smuggled = await diffAt((l) => {
      if (l.input?.principalEntity) l.input.principalEntity.attrs.boss = { __entity: { type: 'User', id: 'bundled' } };
    });
    assert.match(smuggled[0]?.error ?? '', /__entity: key is reserved/);
  });

  it('the HTTP API refuses it: POST /v1/authorize with principalEntity is a 400, nothing evaluated', async () => {
    const app = await makeApp(f);
    try {
      const size = f.ledger.size();
      const res = await app.inject({ method: 'POST', url: '/v1/authorize', headers: auth(app), payload: { principal: 'User::"mallory"', action: 'Action::"deploy"', resource: 'App::"web"', principalEntity: { attrs: {}, parents: ['Group::"deployers"'] } } });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, /principalEntity|additional/i);
      assert.equal(f.ledger.size(), size, 'no decision made for it');
    } finally {
      await app.close();
    }
  });
});

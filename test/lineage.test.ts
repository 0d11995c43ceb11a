/**
 * Lineage: a request made on behalf of a parent writ inherits its root, one level
 * deeper, never outlives it, never crosses principals, and dies with its ancestors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { base64url } from 'jose';
import { revoke } from '../src/node/evidence.ts';
import type { AuthorizeRequest, Decision } from '../src/node/node.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import { WritVerificationError } from '../src/writ/verify.ts';
import { fixture, type Fixture } from './helpers.ts';

const A1 = 'Agent::"a1"';
const READ = { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/x' } };
const EXEC = { principal: A1, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/echo"', args: { argv: ['hi'] } };

type Allowed = Decision & { writ: string; claims: WritClaims };

async function allow(f: Fixture, req: AuthorizeRequest): Promise<Allowed> {
  const d = await f.node.authorize(req);
  assert.equal(d.decision, 'allow', d.message);
  assert.ok(d.writ && d.claims);
  return d as Allowed;
}

async function denied(f: Fixture, req: AuthorizeRequest, reason: string): Promise<Decision> {
  const d = await f.node.authorize(req);
  assert.equal(d.decision, 'deny', `expected ${reason}, got allow`);
  assert.deepEqual(d.reasons, [reason], d.message);
  assert.equal(d.writ, undefined);
  assert.ok(d.ledgerIndex !== null && f.ledger.entry(d.ledgerIndex), 'the denial is recorded');
  return d;
}

async function verifyFails(f: Fixture, d: Allowed, code: string): Promise<void> {
  await assert.rejects(f.node.verify(d.writ, { audience: d.claims.aud, args: READ.args, consume: true }), (e: unknown) => {
    assert.ok(e instanceof WritVerificationError);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('lineage', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.cleanup());

  it('a child names its parent and root, one level deeper, and never outlives the parent', async () => {
    const root = await allow(f, { ...READ, ttlSeconds: 20 });
    assert.deepEqual(root.claims.lin, { parent: null, root: root.claims.jti, depth: 0 });

    const child = await allow(f, { ...READ, parent: root.writ });
    assert.deepEqual(child.claims.lin, { parent: root.claims.jti, root: root.claims.jti, depth: 1, anc: [root.claims.jti] });
    assert.ok(child.claims.exp <= root.claims.exp, 'child exp capped at the parent exp');
    assert.equal(child.claims.exp, root.claims.exp, 'default 60 s lifetime is cut to the parent 20 s');

    const grandchild = await allow(f, { ...READ, parent: child.writ });
    assert.deepEqual(grandchild.claims.lin, { parent: child.claims.jti, root: root.claims.jti, depth: 2, anc: [child.claims.jti, root.claims.jti] });
    assert.ok(grandchild.claims.exp <= child.claims.exp);

    // the lineage index in the ledger agrees
    const row = f.ledger.writ(grandchild.claims.jti);
    assert.equal(row?.parent, child.claims.jti);
    assert.equal(row?.root, root.claims.jti);
    assert.equal(row?.depth, 2);

    // using a writ as a parent does not consume it, and the child verifies on its own
    await f.node.verify(root.writ, { audience: root.claims.aud, args: READ.args, consume: true });
    await f.node.verify(child.writ, { audience: child.claims.aud, args: READ.args, consume: true });
  });

  it('a shorter explicit lifetime is kept; a longer one than the parent is refused', async () => {
    const root = await allow(f, { ...READ, ttlSeconds: 20 });
    const short = await allow(f, { ...READ, parent: root.writ, ttlSeconds: 5 });
    assert.equal(short.claims.exp - short.claims.iat, 5);
    await denied(f, { ...READ, parent: root.writ, ttlSeconds: 120 }, 'child_wider_than_parent');
  });

  it('a revoked parent, or a revoked ancestor, denies with parent_revoked', async () => {
    const root = await allow(f, READ);
    const child = await allow(f, { ...READ, parent: root.writ });
    await allow(f, { ...READ, parent: root.writ }); // control
    await revoke(f.ledger, f.state, { kind: 'writ', value: root.claims.jti, reason: 'test', by: 'test' });
    await denied(f, { ...READ, parent: root.writ }, 'parent_revoked');
    await denied(f, { ...READ, parent: child.writ }, 'parent_revoked');
  });

  it('revoking a parent invalidates its already-issued children and grandchildren', async () => {
    const root = await allow(f, READ);
    const child = await allow(f, { ...READ, parent: root.writ });
    const grandchild = await allow(f, { ...READ, parent: child.writ });
    const sibling = await allow(f, READ);
    await f.node.verify(child.writ, { audience: child.claims.aud, args: READ.args, consume: false });
    await f.node.verify(grandchild.writ, { audience: grandchild.claims.aud, args: READ.args, consume: false });

    await revoke(f.ledger, f.state, { kind: 'writ', value: child.claims.jti, reason: 'test', by: 'test' });
    await verifyFails(f, child, 'writ_revoked');
    await verifyFails(f, grandchild, 'writ_revoked');
    // the revocation goes down the tree, not up or sideways
    await f.node.verify(root.writ, { audience: root.claims.aud, args: READ.args, consume: false });
    await f.node.verify(sibling.writ, { audience: sibling.claims.aud, args: READ.args, consume: true });

    await revoke(f.ledger, f.state, { kind: 'writ', value: root.claims.jti, reason: 'test', by: 'test' });
    await verifyFails(f, root, 'writ_revoked');
  });

  it('a tampered, garbage or foreign parent denies with parent_invalid', async () => {
    const root = await allow(f, READ);
    await allow(f, { ...READ, parent: root.writ }); // control
    const [h, p, s] = root.writ.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p))) as WritClaims;
    const forge = (c: WritClaims) => `${h}.${base64url.encode(new TextEncoder().encode(JSON.stringify(c)))}.${s}`;
    // try to reset depth, extend life or take over another principal's parent
    await denied(f, { ...READ, parent: forge({ ...claims, lin: { ...claims.lin, depth: -5 } }) }, 'parent_invalid');
    await denied(f, { ...READ, parent: forge({ ...claims, exp: claims.exp + 3600 }) }, 'parent_invalid');
    await denied(f, { ...READ, parent: `${h}.${p}.${s.slice(0, -3)}` }, 'parent_invalid');
    await denied(f, { ...READ, parent: 'not-a-writ' }, 'parent_invalid');
    await denied(f, { ...READ, parent: '' }, 'parent_invalid');

    const other = await fixture(); // another node, whose key this node does not pin
    try {
      const foreign = await allow(other, READ);
      await denied(f, { ...READ, parent: foreign.writ }, 'parent_invalid');
    } finally {
      other.cleanup();
    }
  });

  it('a parent issued to another principal denies with parent_principal_mismatch', async () => {
    const theirs = await allow(f, { ...EXEC, principal: 'User::"root"' });
    await denied(f, { ...READ, parent: theirs.writ }, 'parent_principal_mismatch');
    const mine = await allow(f, READ);
    await denied(f, { ...READ, principal: 'User::"root"', parent: mine.writ }, 'parent_principal_mismatch');
  });

  it('an expired parent denies with parent_invalid', async () => {
    let t = Date.now();
    const g = await fixture({ now: () => new Date(t) });
    try {
      const root = await allow(g, { ...READ, ttlSeconds: 5 });
      await allow(g, { ...READ, parent: root.writ }); // control, while the parent lives
      t += 4_000;
      const late = await allow(g, { ...READ, parent: root.writ });
      assert.ok(late.claims.exp <= root.claims.exp);
      t += 2_000; // past exp; no clock tolerance for parents
      await denied(g, { ...READ, parent: root.writ }, 'parent_invalid');
    } finally {
      g.cleanup();
    }
  });

  it('depth beyond maxLineageDepth denies with lineage_too_deep', async () => {
    const g = await fixture({ limits: { maxLineageDepth: 2 } });
    try {
      const d0 = await allow(g, READ);
      const d1 = await allow(g, { ...READ, parent: d0.writ });
      const d2 = await allow(g, { ...READ, parent: d1.writ });
      assert.equal(d2.claims.lin.depth, 2);
      await denied(g, { ...READ, parent: d2.writ }, 'lineage_too_deep');
      await allow(g, { ...READ, parent: d1.writ }); // the limit, not the parent, was the problem
    } finally {
      g.cleanup();
    }
  });

  it('policies see the depth: children never exec (forbid overrides permit)', async () => {
    const root = await allow(f, EXEC);
    assert.deepEqual(root.policies, ['ops-run-safe-binaries']);
    const reader = await allow(f, READ);
    for (const parent of [root.writ, reader.writ]) {
      const d = await denied(f, { ...EXEC, parent }, 'policy_forbid');
      assert.deepEqual(d.policies, ['children-never-exec']);
    }
    await allow(f, { ...READ, parent: root.writ }); // a child may still read
  });
});

/** verifyWrit, what a genuine writ is bound to: its time window, audience, single use, exact arguments and intent, and revocation, each failing closed with its exact reason code. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { openHome } from '../src/home/open.ts';
import { revoke } from '../src/node/evidence.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import { signWrit } from '../src/writ/issue.ts';
import { memoryJtiStore, verifyWrit, type VerifyWritOptions } from '../src/writ/verify.ts';
import { fixture } from './helpers.ts';
import { ARGS, AUD, control, f, kid, mint, nodeKey, opts, REQ, rejectsWith, useVerifyFixture } from './writ-verify-fixture.ts';

describe('verifyWrit', () => {
  useVerifyFixture();

  it('enforces the time window: expired, not yet valid, lifetime cap', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const at = (s: number) => new Date(s * 1000);
    await control(writ, { now: at(claims.exp + 4) }); // inside the default 5 s skew
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.exp + 5) })), 'writ_expired');
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.exp + 3600) })), 'writ_expired');
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.exp), clockToleranceSeconds: 0 })), 'writ_expired');
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.nbf - 6) })), 'writ_not_yet_valid');
    const future = { ...claims, jti: randomUUID(), nbf: claims.nbf + 120, exp: claims.exp + 120 };
    await rejectsWith(verifyWrit(await signWrit(future, nodeKey, kid), opts()), 'writ_not_yet_valid');
    // the node issued a 60 s writ; a verifier accepting at most 30 s refuses it
    await rejectsWith(verifyWrit(writ, opts({ maxLifetimeSeconds: 30 })), 'writ_lifetime_exceeded');
    const long = { ...claims, jti: randomUUID(), exp: claims.nbf + 601 };
    await rejectsWith(verifyWrit(await signWrit(long, nodeKey, kid), opts()), 'writ_lifetime_exceeded');
    const inverted = { ...claims, jti: randomUUID(), nbf: claims.exp, exp: claims.exp - 1 };
    await rejectsWith(verifyWrit(await signWrit(inverted, nodeKey, kid), opts({ now: at(claims.exp - 2) })), 'writ_lifetime_exceeded');
    // and the node applies its own clock: move it past exp
    const late = await openHome(f.home, { now: () => at(claims.exp + 60) });
    try {
      await rejectsWith(late.node.verify(writ, { audience: AUD, args: ARGS, consume: false }), 'writ_expired');
    } finally {
      late.close();
    }
  });

  it('invalid time options fail closed instead of disabling the time checks', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const late = new Date((claims.exp + 3600) * 1000);
    // e.g. a tolerance parsed from a bad environment variable: Number('5s') is NaN
    const bad: Partial<VerifyWritOptions>[] = [{ now: new Date(NaN) }, { now: late, clockToleranceSeconds: NaN }, { maxLifetimeSeconds: NaN, now: late }];
    for (const o of bad) await assert.rejects(verifyWrit(writ, opts(o)), `verified with ${JSON.stringify(o)}`);
  });

  it('rejects a wrong audience', async () => {
    const { writ } = await mint();
    await control(writ);
    for (const audience of ['Tool::"fs/write"', '', 'tool::"fs/read"', `${AUD} `]) {
      await rejectsWith(verifyWrit(writ, opts({ audience })), 'writ_audience_mismatch');
    }
    const d = await f.node.authorize({ ...REQ, args: ARGS, audience: 'mcp-proxy' });
    assert.ok(d.writ);
    await rejectsWith(verifyWrit(d.writ, opts()), 'writ_audience_mismatch');
    await control(d.writ, { audience: 'mcp-proxy' });
  });

  it('single use: a replay fails with writ_replayed (memory store)', async () => {
    const { writ } = await mint();
    const consume = memoryJtiStore();
    await verifyWrit(writ, opts({ consume }));
    await rejectsWith(verifyWrit(writ, opts({ consume })), 'writ_replayed');
    await rejectsWith(verifyWrit(` ${writ}\n`, opts({ consume })), 'writ_replayed');
  });

  it('consume:false inspects without consuming; a failed check consumes nothing', async () => {
    const { writ, claims } = await mint();
    const consume = memoryJtiStore();
    await verifyWrit(writ, opts({ consume: false }));
    await verifyWrit(writ, opts({ consume: false }));
    await f.node.verify(writ, { audience: AUD, args: ARGS, consume: false });
    assert.equal(f.state.isJtiConsumed(claims.jti), false);
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: { path: '/srv/y' }, consume: true }), 'writ_intent_mismatch');
    assert.equal(f.state.isJtiConsumed(claims.jti), false);
    await verifyWrit(writ, opts({ consume }));
    await f.node.verify(writ, { audience: AUD, args: ARGS, consume: true });
    assert.equal(f.state.isJtiConsumed(claims.jti), true);
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: ARGS, consume: true }), 'writ_replayed');
  });

  it('single use persists in SQLite, across closing and reopening the home', async () => {
    const g = await fixture();
    let reopened: Awaited<ReturnType<typeof openHome>> | null = null;
    try {
      const d = await g.node.authorize({ ...REQ, args: ARGS });
      assert.ok(d.writ);
      await g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true });
      await rejectsWith(g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true }), 'writ_replayed');
      g.close();
      reopened = await openHome(g.home);
      await rejectsWith(reopened.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true }), 'writ_replayed');
      // a fresh writ still goes through on the reopened home
      const d2 = await reopened.node.authorize({ ...REQ, args: ARGS });
      assert.ok(d2.writ);
      await reopened.node.verify(d2.writ, { audience: AUD, args: ARGS, consume: true });
    } finally {
      reopened?.close();
      rmSync(g.home, { recursive: true, force: true });
    }
  });

  it('binds the exact arguments (JCS): reordering passes, any change fails', async () => {
    const args = { path: '/srv/x', n: 1, opts: { a: true, b: [1, 2] } };
    const { writ } = await mint(args);
    await control(writ, { args });
    await control(writ, { args: { opts: { b: [1, 2], a: true }, n: 1, path: '/srv/x' } });
    await control(writ, { args: JSON.parse(JSON.stringify(args)) as unknown });
    const bad: unknown[] = [
      { ...args, extra: 1 },
      { ...args, n: '1' },
      { ...args, n: 1.5 },
      { ...args, path: '/srv/y' },
      { path: '/srv/x', n: 1 },
      { ...args, opts: { a: true, b: [2, 1] } },
      { ...args, opts: { a: 'true', b: [1, 2] } },
      [args],
      {},
      null,
      { ...args, n: 1n },
    ];
    for (const a of bad) await rejectsWith(verifyWrit(writ, opts({ args: a })), 'writ_intent_mismatch');
  });

  it('binds action, resource and principal through expect', async () => {
    const { writ } = await mint();
    await control(writ, { expect: { action: REQ.action, resource: REQ.resource, principal: REQ.principal } });
    await rejectsWith(verifyWrit(writ, opts({ expect: { action: 'Action::"exec"' } })), 'writ_intent_mismatch');
    await rejectsWith(verifyWrit(writ, opts({ expect: { resource: 'Tool::"fs/write"' } })), 'writ_intent_mismatch');
    await rejectsWith(verifyWrit(writ, opts({ expect: { principal: 'User::"root"' } })), 'writ_intent_mismatch');
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: ARGS, consume: true, expect: { resource: 'Tool::"fs/write"' } }), 'writ_intent_mismatch');
  });

  it('rejects a revoked writ (isRevoked callback and node revocation of the jti)', async () => {
    const { writ, claims } = await mint();
    await control(writ, { isRevoked: () => null });
    let seen: WritClaims | null = null;
    const isRevoked = (c: WritClaims) => {
      seen = c;
      return 'revoked by test';
    };
    await rejectsWith(verifyWrit(writ, opts({ consume: memoryJtiStore(), isRevoked })), 'writ_revoked');
    assert.deepEqual(seen, claims);
    await rejectsWith(verifyWrit(writ, opts({ isRevoked: () => Promise.resolve('async revocation') })), 'writ_revoked');

    await f.node.verify(writ, { audience: AUD, args: ARGS, consume: false });
    await revoke(f.ledger, f.state, { kind: 'writ', value: claims.jti, reason: 'test', by: 'test' });
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: ARGS, consume: true }), 'writ_revoked');
    assert.equal(f.state.isJtiConsumed(claims.jti), false);
  });

  for (const kind of ['principal', 'bundle', 'node', 'quarantine'] as const) {
    it(`rejects an issued writ once its ${kind} is revoked on the node`, async () => {
      const g = await fixture();
      try {
        const d = await g.node.authorize({ ...REQ, args: ARGS });
        assert.ok(d.writ);
        await g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: false });
        const value = { principal: REQ.principal, quarantine: REQ.principal, bundle: '1', node: g.config.nodeId }[kind];
        await revoke(g.ledger, g.state, { kind, value, reason: 'test', by: 'test' });
        await rejectsWith(g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true }), 'writ_revoked');
      } finally {
        g.cleanup();
      }
    });
  }
});

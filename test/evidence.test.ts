/** Evidence rules: one outcome per execution, honest replay over every kind of denial, activations recorded or undone. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { openHome } from '../src/home/open.ts';
import { DuplicateOutcomeError, recordOutcome, revoke } from '../src/node/evidence.ts';
import { replayDecisions } from '../src/node/replay.ts';
import { BundleError } from '../src/reasons.ts';
import { buildApp } from '../src/server/app.ts';
import { auth, withTestCaller } from './server-fixture.ts';
import { bundleBytes, CLI, DEMO_POLICY, fixture } from './helpers.ts';

const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/a' } };

describe('evidence', () => {
  it('an execution has exactly one outcome (library and HTTP)', async () => {
    const f = await fixture();
    const d = await f.node.authorize(READ);
    const jti = d.claims?.jti as string;
    const outcome = { jti, node: 'node-1', exitCode: 0, signal: null, durationMs: 3, status: 'ok' as const, reason: null };
    await recordOutcome(f.ledger, outcome);
    await assert.rejects(recordOutcome(f.ledger, { ...outcome, status: 'failed', exitCode: 1 }), DuplicateOutcomeError);
    const app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
    const outcomeToken = f.state.issueOutcomeToken(jti, d.claims?.exp as number);
    const res = await app.inject({ method: 'POST', url: '/v1/outcome', headers: auth(app), payload: { writ: d.writ, outcomeToken, status: 'failed', durationMs: 1 } });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(f.ledger.findByJti(jti, 'outcome').length, 1);
    await app.close();
    f.cleanup();
  });

  it('concurrent outcome reports for one writ: exactly one lands (checked inside the commit)', async () => {
    const f = await fixture();
    const w = await openHome(f.home, { writer: 'worker' });
    try {
      const d = await w.node.authorize(READ);
      const jti = d.claims?.jti as string;
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => recordOutcome(w.ledger, { jti, node: 'node-1', exitCode: i, signal: null, durationMs: 1, status: 'ok', reason: null })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.ok(results.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof DuplicateOutcomeError));
      assert.equal(f.ledger.findByJti(jti, 'outcome').length, 1);
    } finally {
      w.close();
      f.cleanup();
    }
  });

  it('replay agrees with a ledger holding gate denials, lifetime denials, lineage denials and allows', async () => {
    const f = await fixture({ limits: { maxWritLifetimeSeconds: 120 } });
    const parent = await f.node.authorize(READ);
    const results = [
      await f.node.authorize({ ...READ, ttlSeconds: 1000 }), // request_invalid, decided before Cedar
      await f.node.authorize({ ...READ, parent: parent.writ, ttlSeconds: 119 }), // child_wider_than_parent
      await f.node.authorize({ ...READ, parent: parent.writ }), // allow, capped
      await f.node.authorize({ ...READ, args: { path: '/srv/secret' } }), // policy_forbid
      await f.node.authorize({ ...READ, principal: 'nope' }), // request_invalid
    ];
    assert.deepEqual(
      results.map((d) => d.reasons[0]),
      ['request_invalid', 'child_wider_than_parent', 'policy_permit', 'policy_forbid', 'request_invalid'],
    );
    const report = await replayDecisions(f.ledger, f.state, f.trust);
    assert.deepEqual(report.differences, []);
    assert.equal(report.decisions, 6);
    assert.equal(report.replayed, 3);
    // a denied child still names its parent in the evidence
    const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entry(results[1]?.ledgerIndex as number)?.leaf)) as { request: { parent: string } };
    assert.equal(leaf.request.parent, parent.claims?.jti);
    f.cleanup();
  });

  it('an activation that cannot be recorded is undone: the previous bundle stays active', async () => {
    const f = await fixture();
    const before = f.node.policy.active?.bundle.digest;
    f.ledger.failNextAppends = 1;
    await assert.rejects(f.node.policy.activate(bundleBytes(await f.sign(DEMO_POLICY, { version: 2 }))), (e: unknown) => e instanceof BundleError && e.code === 'ledger_append_failed');
    assert.equal(f.node.policy.active?.bundle.digest, before);
    assert.equal(f.state.activeBundleDigest('default'), before);
    const reopened = await openHome(f.home);
    await reopened.node.policy.refresh();
    assert.equal(reopened.node.policy.active?.bundle.digest, before);
    reopened.close();
    f.cleanup();
  });

  it('a revoked bundle version is refused at activation', async () => {
    const f = await fixture();
    await revoke(f.ledger, f.state, { kind: 'bundle', value: '7', reason: 'compromised', by: 'test' });
    await assert.rejects(f.node.policy.activate(bundleBytes(await f.sign(DEMO_POLICY, { version: 7 }))), (e: unknown) => e instanceof BundleError && e.code === 'bundle_revoked');
    f.cleanup();
  });

  it('writ exec refusing a relabelled binary records the denial', async () => {
    const f = await fixture();
    const before = f.ledger.size();
    const r = spawnSync(process.execPath, [CLI, 'exec', '--home', f.home, '--principal', 'Agent::"a1"', '--resource', 'Binary::"/usr/bin/echo"', '--', '/usr/bin/true'], { encoding: 'utf8' });
    assert.equal(r.status, 126, r.stderr);
    assert.match(r.stderr, /^writ: denied: request_invalid/);
    assert.equal(f.ledger.size(), before + 1);
    const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entry(before)?.leaf)) as { type: string; result: { decision: string; reasons: string[] } };
    assert.equal(leaf.type, 'decision');
    assert.deepEqual(leaf.result.reasons, ['request_invalid']);
    f.cleanup();
  });
});

describe('HTTP admin and verify hardening', () => {
  it('admin endpoints answer 401 before reading the body; /v1/verify requires the audience', async () => {
    const f = await fixture();
    const app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
    for (const url of ['/v1/bundles', '/v1/revoke']) {
      const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{not json' });
      assert.equal(res.statusCode, 401, `${url}: ${res.body}`);
    }
    const d = await f.node.authorize(READ);
    const res = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth(app), payload: { writ: d.writ, args: READ.args } });
    assert.equal(res.statusCode, 400);
    assert.equal(f.state.isJtiConsumed(d.claims?.jti as string), false);
    await app.close();
    f.cleanup();
  });
});

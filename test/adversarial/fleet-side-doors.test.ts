/**
 * Issue 10.4: no side doors around the fleet. A fleet node's home decides only through
 * the fleet (its writ's decision is in the evidence stream), the authority's home
 * revokes fleet-wide by default, and with NATS unreachable a revocation fails loudly
 * instead of printing success having revoked only locally. Real NATS, real `writ node`s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { readConfig } from '../../src/home/config.ts';
import { openHome } from '../../src/home/open.ts';
import { leafObject } from '../../src/ledger/leaf.ts';
import { allowedRequest, CALL, decodeClaims, NATS_URL, READ, A1, TestFleet, waitFor } from '../fleet-harness.ts';

describe('no side doors around the fleet (issue 10.4)', { timeout: 120_000 }, () => {
  let f: TestFleet;
  before(async () => {
    f = await TestFleet.start({ nodes: 2 });
  });
  after(async () => {
    await f?.close();
  });

  const authorize = (home: string, i: number, more: string[] = []) =>
    f.cli(['authorize', '--home', home, '--principal', A1, '--action', CALL, '--resource', READ, '--args', JSON.stringify(allowedRequest(i).args), '--json', ...more]);

  it('records what each home is', () => {
    const n1 = readConfig(f.node('n1').home);
    assert.equal(n1.kind, 'fleet-node');
    assert.deepEqual(n1.fleet, { name: f.name, nats: NATS_URL });
    const auth = readConfig(f.authHome);
    assert.equal(auth.kind, 'fleet-authority');
    assert.equal(auth.fleet?.name, f.name);
  });

  it("`writ authorize --home <node home>` decides through the fleet: the writ's decision is in the evidence stream", async () => {
    const r = await authorize(f.node('n1').home, 1);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as { decision: string; writ: string; decisionId: string; ledgerIndex: number };
    assert.equal(d.decision, 'allow');
    const claims = decodeClaims(d.writ);
    assert.equal(claims.iss, 'n1');
    // led = stream sequence - 1: the leaf at that sequence is this very decision
    const jsm = await jetstreamManager(f.fleet.nc);
    const msg = await jsm.streams.getMessage(f.fleet.stream, { seq: claims.led + 1 });
    assert.ok(msg, 'the decision is in the stream');
    const leaf = leafObject(msg.data);
    assert.equal(leaf.type, 'decision');
    assert.equal(leaf.id, d.decisionId);
    // and it verifies at the other node
    const v = await f.verify(f.node('n2'), d.writ, READ, allowedRequest(1).args ?? {});
    assert.equal(v.body.valid, true, v.body.message);
  });

  it("on a node home with NATS unreachable, `writ authorize` fails and prints no writ", async () => {
    const r = await authorize(f.node('n1').home, 2, ['--nats', 'nats://127.0.0.1:1']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /cannot act as a node of fleet .* nothing was decided/);
  });

  it('a node home opened without the fleet stream signs nothing (ledger_append_failed)', async () => {
    const h = await openHome(f.node('n2').home);
    try {
      await h.node.policy.refresh();
      const d = await h.node.authorize(allowedRequest(3));
      assert.equal(d.decision, 'deny');
      assert.ok(d.reasons.includes('ledger_append_failed'), d.reasons.join(','));
      assert.equal(d.writ, undefined);
      assert.match(d.message, /node home of fleet/);
    } finally {
      h.close();
    }
  });

  it('`writ up` and local revocation refuse on fleet homes', async () => {
    const up = await f.cli(['up', '--home', f.node('n1').home, '--port', '0']);
    assert.equal(up.code, 2);
    assert.match(up.stderr, /node home of fleet/);
    const upAuth = await f.cli(['up', '--home', f.authHome, '--port', '0']);
    assert.equal(upAuth.code, 2);
    assert.match(upAuth.stderr, /authority home of fleet/);
    const rev = await f.cli(['revoke', 'some-jti', '--home', f.node('n1').home]);
    assert.equal(rev.code, 2);
    assert.doesNotMatch(rev.stdout, /revoked/);
    const auth = await authorize(f.authHome, 4);
    assert.equal(auth.code, 2);
    assert.equal(auth.stdout, '');
  });

  it('`writ revoke --home <authority home>` without --nats revokes fleet-wide: every node refuses the writ', async () => {
    const w = await f.authorize(f.node('n1'), allowedRequest(5));
    assert.equal(w.body.decision, 'allow');
    const writ = w.body.writ as string;
    const r = await f.cli(['revoke', decodeClaims(writ).jti, '--home', f.authHome]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /fleet-wide/);
    for (const n of f.nodes) {
      await waitFor(`${n.id} refuses the revoked writ`, async () => (await f.verify(n, writ, READ, allowedRequest(5).args ?? {})).body.reason === 'writ_revoked');
    }
  });

  it('with NATS unreachable, revoke, quarantine and isolate exit non-zero with a clear message and print no success', async () => {
    for (const args of [
      ['revoke', 'another-jti', '--home', f.authHome, '--nats', 'nats://127.0.0.1:1'],
      ['quarantine', 'Agent::"x"', '--home', f.authHome, '--nats', 'nats://127.0.0.1:1'],
      ['isolate', 'n9', '--home', f.authHome, '--nats', 'nats://127.0.0.1:1'],
    ]) {
      const r = await f.cli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      assert.match(r.stderr, /cannot reach the fleet .* nothing was revoked/, args.join(' '));
      assert.ok(r.ms < 15_000, `failed within ${Math.round(r.ms)} ms`);
    }
  });
});

/**
 * `writ quarantine` and `writ isolate` on an embedded home act on that home. Before, they
 * published to the default fleet `writ` on the local NATS server (a fleet the home is not
 * part of), printed success, and the home went on allowing the principal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, type Fixture } from '../helpers.ts';
import { runCli as run } from '../fleet-harness.ts';
import { READ } from '../server-fixture.ts';

describe('quarantine and isolate on an embedded home are local', () => {
  let f: Fixture;
  const runCli = (args: string[]) => run(args, { ...process.env, WRIT_FLEET: 'writ' });
  before(async () => {
    f = await fixture();
    // the CLI processes use the home; this test reads it only through them
  });
  after(() => f.cleanup());

  it('writ quarantine: the principal is denied principal_quarantined at this home, and the revocation is in its ledger', async () => {
    const q = await runCli(['quarantine', 'Agent::"a1"', '--home', f.home, '--reason', 'odd tool use']);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /^quarantined Agent::"a1" \(ledger \d+\)/);
    assert.doesNotMatch(q.stdout, /revocation version/, 'nothing was published to a fleet');
    const v = await runCli(['audit', 'verify', '--home', f.home]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const d = await runCli(['authorize', '--home', f.home, '--principal', READ.principal, '--action', READ.action, '--resource', READ.resource, '--json']);
    assert.deepEqual((JSON.parse(d.stdout) as { reasons: string[] }).reasons, ['principal_quarantined']);
  });

  it('writ isolate <this node>: every decision here is denied node_revoked', async () => {
    const r = await runCli(['isolate', f.config.nodeId, '--home', f.home]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^isolated ${f.config.nodeId} \\(ledger \\d+\\)`));
    const d = await runCli(['authorize', '--home', f.home, '--principal', 'Agent::"a2"', '--action', READ.action, '--resource', READ.resource, '--json']);
    assert.deepEqual((JSON.parse(d.stdout) as { reasons: string[] }).reasons, ['node_revoked']);
  });
});

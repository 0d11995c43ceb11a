/**
 * Revocation and quarantine across a fleet of five `writ node` processes (issue 5,
 * point 6) over the real NATS JetStream: `writ revoke --nats` and `writ quarantine`
 * reach every node, and the propagation latency is measured and printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newKeyPair } from '../src/authority/keys.ts';
import { signRevocation } from '../src/authority/revocation.ts';
import { kvKey } from '../src/sync/nats/connection.ts';
import { A1, allowedRequest, CALL, decodeClaims, measurePropagation, NATS_URL, percentile, READ, TestFleet, waitFor, type FleetNodeProc } from './fleet-harness.ts';

const REVOCATIONS = 10;

describe('fleet: revocation and quarantine reach every node', { timeout: 180_000 }, () => {
  let f: TestFleet;
  before(async () => {
    f = await TestFleet.start({ nodes: 5 }); // default beacons: every 1 s, valid 5 s
  });
  after(async () => {
    await f?.close();
  });

  /** Polls every node until `probe` holds for it; returns, per node, the ms from `since` until it did. */
  async function untilEveryNode(what: string, since: number, probe: (n: FleetNodeProc) => Promise<boolean>): Promise<number[]> {
    return Promise.all(
      f.nodes.map(async (n) => {
        await waitFor(`${n.id}: ${what}`, () => probe(n), 5000, 2);
        return performance.now() - since;
      }),
    );
  }

  it('writ revoke --kind writ --nats: the writ stops verifying on every node; --kind principal: every node denies principal_revoked', async () => {
    const req = allowedRequest(1);
    const a = await f.authorize(f.nodes[0] as FleetNodeProc, req);
    assert.equal(a.body.decision, 'allow');
    const writ = a.body.writ as string;
    for (const n of f.nodes) assert.equal((await f.verify(n, writ, READ, req.args ?? {})).status, 200, `${n.id} accepts the writ first`);
    // `writ revoke` has no --fleet of its own: the fleet comes from $WRIT_FLEET (set by the harness)
    const r = await f.cliOk(['revoke', decodeClaims(writ).jti, '--kind', 'writ', '--home', f.authHome, '--nats', NATS_URL, '--json']);
    assert.equal((JSON.parse(r.stdout) as { revoked: boolean }).revoked, true);
    await untilEveryNode('refuse the revoked writ', performance.now(), async (n) => (await f.verify(n, writ, READ, req.args ?? {})).body.reason === 'writ_revoked');
    // other writs of the same principal are unaffected
    assert.equal((await f.authorize(f.nodes[1] as FleetNodeProc)).body.decision, 'allow');

    const bad = 'Agent::"mallory"';
    await f.cliOk(['revoke', bad, '--kind', 'principal', '--home', f.authHome, '--nats', NATS_URL]);
    await untilEveryNode('deny principal_revoked', performance.now(), async (n) =>
      (await f.authorize(n, { principal: bad, action: CALL, resource: READ, args: { path: '/srv/x' } })).body.reasons.includes('principal_revoked'),
    );
  });

  it('writ quarantine: every node denies the principal with principal_quarantined shortly after the command returns', async () => {
    for (const n of f.nodes) assert.equal((await f.authorize(n)).body.decision, 'allow', `${n.id} allows ${A1} before`);
    const q = await f.cliOk(['quarantine', A1, '--home', f.authHome, '--fleet', f.name, '--nats', NATS_URL]);
    const returned = performance.now();
    assert.match(q.stdout, /quarantined Agent::"a1" \(revocation version \d+, ledger \d+\)/);
    const allowedAfter: string[] = [];
    const after = await untilEveryNode('deny principal_quarantined', returned, async (n) => {
      const r = await f.authorize(n);
      if (r.body.writ) allowedAfter.push(n.id);
      return r.body.reasons.includes('principal_quarantined');
    });
    assert.deepEqual(allowedAfter, [], `writs for ${A1} after the quarantine command returned`);
    console.log(`# writ quarantine (CLI, ${Math.round(q.ms)} ms incl. process start): first principal_quarantined deny per node, ms after the command returned: ${after.map((x) => x.toFixed(1)).join(', ')}`);
    for (const x of after) assert.ok(x < 2000, `denied shortly after the command returned (${x.toFixed(1)} ms)`);
  });

  it(`propagation latency to 5 nodes over ${REVOCATIONS} quarantines (p50/p99 printed; issue target p99 <= 50 ms)`, async () => {
    await measurePropagation(f, 2); // warm-up, as in the bench
    const p = await measurePropagation(f, REVOCATIONS);
    const line = `revocation propagation to ${f.nodes.length} nodes, ${p.samples.length} samples: p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms, max ${p.max.toFixed(1)} ms (from the put being sent: p50 ${percentile(p.fromSend, 0.5).toFixed(1)}, p99 ${percentile(p.fromSend, 0.99).toFixed(1)}); target p99 <= 50 ms`;
    console.log(`# ${line}`);
    assert.equal(p.samples.length, REVOCATIONS * f.nodes.length);
    // the 50 ms target is the bench's to report (npm run bench); here, with other test files competing
    // for the CPUs, the test asserts what must hold anyway: every node, every revocation, promptly
    assert.ok(p.max < 2000, line);
  });

  it('a revocation entry that does not verify (signed by an unknown key) does not stop the fleet from applying later revocations', async () => {
    const foreign = await newKeyPair();
    const forged = await signRevocation({ kind: 'quarantine', value: 'Agent::"someone"', reason: 'forged' }, { kid: foreign.kid, key: foreign.privateKey });
    await f.fleet.kv.revocations.put(kvKey('quarantine', 'Agent::"someone"'), forged);
    const target = 'Agent::"later"';
    await f.revoke('quarantine', target);
    const results = await Promise.allSettled(
      f.nodes.map((n) =>
        waitFor(`${n.id} to deny ${target} as quarantined`, async () => {
          const r = await f.authorize(n, { principal: target, action: CALL, resource: READ, args: { path: '/srv/x' } });
          return r.body.reasons.includes('principal_quarantined') ? true : undefined;
        }, 4000, 20),
      ),
    );
    const last = await f.authorize(f.nodes[0] as FleetNodeProc, { principal: target, action: CALL, resource: READ, args: { path: '/srv/x' } });
    const rz = await f.readyz(f.nodes[0] as FleetNodeProc);
    assert.deepEqual(results.map((r) => r.status), f.nodes.map(() => 'fulfilled'), `n1 says: ${last.body.reasons.join(',')} — ${last.body.message}; /readyz: ${JSON.stringify(rz.body)}`);
    // and the fleet is not left stale by the entry it cannot apply
    await f.waitReady(1, f.nodes, 8000);
  });
});

/**
 * Issue 9, points 1 and 2, against real `writ node` processes over the real NATS JetStream:
 *   1. a writ is usable once in the whole fleet — consumed at one node, it is writ_replayed at
 *      every other, also when 64 verifications of it race across two nodes (exactly one valid);
 *   2. a node cut off from NATS whose beacon expired verifies nothing (stale_policy), so a writ
 *      revoked fleet-wide meanwhile cannot verify there; and a node that cannot reach the
 *      fleet's single-use store refuses to consume (single_use_unavailable).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { allowedRequest, callerHeaders, decodeClaims, NATS_URL, READ, sleep, TestFleet, waitFor, type FleetNodeProc, type VerifyBody } from '../fleet-harness.ts';

const TTL_MS = 3000;

async function consume(n: FleetNodeProc, writ: string, args: Record<string, unknown>): Promise<{ status: number; body: VerifyBody }> {
  const res = await fetch(`${n.url}/v1/verify`, { method: 'POST', headers: callerHeaders(n), body: JSON.stringify({ writ, audience: READ, args, consume: true }) });
  return { status: res.status, body: (await res.json()) as VerifyBody };
}

describe('fleet: single use across every node, and verification only while fresh', { timeout: 180_000 }, () => {
  let f: TestFleet;
  let n1: FleetNodeProc;
  let n2: FleetNodeProc;
  let n3: FleetNodeProc;
  before(async () => {
    f = await TestFleet.start({ nodes: 3, proxied: [2], beaconInterval: '250ms', beaconTtl: `${TTL_MS / 1000}s` });
    [n1, n2, n3] = f.nodes as [FleetNodeProc, FleetNodeProc, FleetNodeProc];
  });
  after(async () => {
    await f?.close();
  });

  async function writ(i: number): Promise<{ writ: string; args: Record<string, unknown> }> {
    const req = allowedRequest(i);
    const d = await f.authorize(n1, req);
    assert.equal(d.body.decision, 'allow', d.body.message);
    return { writ: d.body.writ as string, args: req.args ?? {} };
  }

  it('sequential: consumed at one node, the writ is writ_replayed at the other — whichever node consumes first', async () => {
    for (const [first, second] of [[n1, n2], [n2, n1]] as const) {
      const w = await writ(first === n1 ? 1 : 2);
      const a = await consume(first, w.writ, w.args);
      assert.equal(a.status, 200, `${first.id}: ${a.body.message}`);
      assert.equal(a.body.valid, true);
      const b = await consume(second, w.writ, w.args);
      assert.equal(b.status, 403);
      assert.equal(b.body.reason, 'writ_replayed', `${second.id} must refuse a writ consumed at ${first.id}: ${b.body.message}`);
      // inspecting (consume: false) at the other node also reports it spent
      const inspect = await f.verify(second, w.writ, READ, w.args);
      assert.equal(inspect.body.reason, 'writ_replayed');
      // and the node that consumed it refuses it too
      assert.equal((await consume(first, w.writ, w.args)).body.reason, 'writ_replayed');
    }
  });

  it('writ verify --nats --consume verifies as a fleet node: what it consumed is spent at every node, and what a node consumed it refuses', async () => {
    const w = await writ(5);
    const cli = (more: string[]) => f.cli(['verify', w.writ, '--home', n2.home, '--nats', NATS_URL, '--audience', READ, '--args', JSON.stringify(w.args), '--json', ...more]);
    const first = await cli(['--consume']);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.equal((await consume(n1, w.writ, w.args)).body.reason, 'writ_replayed');
    const again = await cli(['--consume']);
    assert.equal(again.code, 1);
    assert.equal((JSON.parse(again.stdout) as VerifyBody).reason, 'writ_replayed');
    const w2 = await writ(6);
    assert.equal((await consume(n1, w2.writ, w2.args)).status, 200);
    const late = await f.cli(['verify', w2.writ, '--home', n2.home, '--nats', NATS_URL, '--audience', READ, '--args', JSON.stringify(w2.args), '--json', '--consume']);
    assert.equal((JSON.parse(late.stdout) as VerifyBody).reason, 'writ_replayed', late.stderr);
  });

  it('concurrent: 64 verifications of one writ, split across two nodes, are valid exactly once', async () => {
    for (let round = 0; round < 3; round++) {
      const w = await writ(10 + round);
      const results = await Promise.all(Array.from({ length: 64 }, (_, i) => consume(i % 2 === 0 ? n1 : n2, w.writ, w.args)));
      const valid = results.filter((r) => r.status === 200 && r.body.valid === true);
      assert.equal(valid.length, 1, `round ${round}: ${valid.length} of 64 were valid`);
      for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.body.reason, 'writ_replayed', r.body.message);
    }
  });

  it('a node cut off from NATS refuses to consume (single_use_unavailable) before its beacon expires, and verifies nothing after (stale_policy), so a writ revoked meanwhile never verifies there', async () => {
    const spare = await writ(30);
    const revoked = await writ(31);
    // before the partition n3 accepts both (inspection only)
    for (const w of [spare, revoked]) assert.equal((await f.verify(n3, w.writ, READ, w.args)).status, 200);
    n3.proxy?.partition();
    // while its beacon is still valid, n3 cannot prove the writ unused: no consumption
    const early = await consume(n3, spare.writ, spare.args);
    assert.equal(early.status, 403, JSON.stringify(early.body));
    assert.equal(early.body.reason, 'single_use_unavailable', early.body.message);
    await f.revoke('writ', decodeClaims(revoked.writ).jti);
    await waitFor('n1 to refuse the revoked writ', async () => (await f.verify(n1, revoked.writ, READ, revoked.args)).body.reason === 'writ_revoked');
    await sleep(TTL_MS + 500); // past the beacon TTL: n3 is stale
    const inspect = await f.verify(n3, revoked.writ, READ, revoked.args);
    assert.equal(inspect.status, 403);
    assert.equal(inspect.body.reason, 'stale_policy', inspect.body.message);
    const used = await consume(n3, revoked.writ, revoked.args);
    assert.equal(used.body.reason, 'stale_policy', used.body.message);
    // a writ nobody revoked fails there too: a stale node vouches for nothing
    const other = await f.verify(n3, spare.writ, READ, spare.args);
    assert.equal(other.body.reason, 'stale_policy');
    n3.proxy?.heal();
    // once fresh again, it knows of the revocation
    await waitFor('n3 to refuse the revoked writ after the partition healed', async () => (await f.verify(n3, revoked.writ, READ, revoked.args)).body.reason === 'writ_revoked', 20_000);
  });
});

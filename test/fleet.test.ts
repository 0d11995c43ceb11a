/**
 * The fleet as separate processes on loopback (issue 5, DESIGN §4): `writ authority`,
 * four `writ node`s (n4 behind a TCP proxy to NATS that the test can cut) over the real
 * NATS JetStream and PostgreSQL servers. Distribution, freshness (authority killed; one
 * node partitioned from NATS), synchronize-before-authorize and node identity.
 * Revocation and quarantine: fleet-revocation.test.ts; evidence and crashes:
 * fleet-evidence.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { allowedRequest, decodeClaims, NATS_URL, READ, TestFleet, waitFor, type DecisionBody, type FleetNodeProc } from './fleet-harness.ts';

const TTL_MS = 3000;

function assertAllowed(r: { status: number; body: DecisionBody }, what: string): void {
  assert.equal(r.body.decision, 'allow', `${what}: ${r.body.reasons.join(',')} ${r.body.message ?? ''}`);
  assert.equal(r.status, 200);
  assert.ok(r.body.writ, `${what}: an allow carries a writ`);
}

function assertDeniedWithoutWrit(r: { status: number; body: DecisionBody }, what: string): void {
  assert.equal(r.body.decision, 'deny', `${what}: must deny, got ${r.body.decision}`);
  assert.notEqual(r.status, 200);
  assert.equal(r.body.writ, undefined, `${what}: a denial carries no writ`);
}

describe('fleet: distribution, freshness, synchronize-before-authorize, node identity', { timeout: 180_000 }, () => {
  let f: TestFleet;
  let connected: FleetNodeProc[];
  let n4: FleetNodeProc;
  before(async () => {
    // default beacon interval (1 s), a short TTL so that expiry is quick to observe
    f = await TestFleet.start({ nodes: 4, proxied: [3], beaconInterval: '1s', beaconTtl: `${TTL_MS / 1000}s`, initialVersion: 0 });
    connected = f.nodes.slice(0, 3);
    n4 = f.node('n4');
  });
  after(async () => {
    await f?.close();
  });

  it('distribution: policy push reaches every node — /readyz, decisions and the status bucket name the version and digest', async () => {
    const file = await f.sign(1);
    const text = await f.cliOk(['policy', 'push', file, '--home', f.authHome, '--fleet', f.name, '--nats', NATS_URL]);
    assert.match(text.stdout, /version 1; consistency token: --min-version 1/);
    // pushing the same version again is harmless: nodes refuse it as a rollback and stay at it
    const pushed = await f.pushFile(file);
    assert.equal(pushed.version, 1);
    assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
    await f.waitReady(1);
    for (const n of f.nodes) {
      const r = await f.readyz(n);
      assert.equal(r.status, 200, `${n.id} ready`);
      assert.equal(r.body.version, 1);
      assert.equal(r.body.digest, pushed.digest, `${n.id} runs the pushed bundle`);
      const d = await f.authorize(n);
      assertAllowed(d, n.id);
      assert.equal(d.body.claims?.iss, n.id);
      assert.deepEqual({ version: d.body.claims?.pol.version, digest: d.body.claims?.pol.digest }, { version: 1, digest: pushed.digest });
    }
    const statuses = await waitFor('every node to report version 1 in the status bucket', async () => {
      const s = await f.statuses();
      return f.nodes.every((n) => s.get(n.id)?.version === 1 && s.get(n.id)?.ready) ? s : undefined;
    });
    for (const n of f.nodes) assert.equal(statuses.get(n.id)?.digest, pushed.digest, `${n.id} reports the digest`);
  });

  it('freshness: with the authority killed every request on every node is denied stale_policy after the beacon TTL; decisions resume when it returns, nodes not restarted', async () => {
    const pids = f.nodes.map((n) => n.child?.pid);
    await f.authority.kill('SIGKILL');
    const killedAt = Date.now();
    await Promise.all(f.nodes.map((n) => waitFor(`${n.id} to report stale_policy`, async () => (await f.readyz(n)).body.reason === 'stale_policy', TTL_MS + 3000)));
    const staleAfter = Date.now() - killedAt;
    assert.ok(staleAfter <= TTL_MS + 2000, `stale within the TTL (${staleAfter} ms)`);
    for (const n of f.nodes) {
      for (let i = 0; i < 3; i++) {
        const r = await f.authorize(n, allowedRequest(i));
        assertDeniedWithoutWrit(r, `${n.id} without beacons`);
        assert.deepEqual(r.body.reasons, ['stale_policy']);
        assert.equal(r.status, 403);
      }
      const rz = await f.readyz(n);
      assert.equal(rz.status, 503);
      assert.equal(rz.body.reason, 'stale_policy');
    }
    await f.authority.start();
    await f.waitReady(1, f.nodes, 10_000);
    for (const n of f.nodes) assertAllowed(await f.authorize(n), `${n.id} after the authority returned`);
    assert.deepEqual(f.nodes.map((n) => n.child?.pid), pids, 'no node was restarted');
  });

  it('synchronize before authorize: right after policy push, a request carrying the consistency token is allowed on every node', async () => {
    const pushed = await f.push(2);
    assert.equal(pushed.minVersion, 2);
    try {
      const rs = await Promise.all(f.nodes.map((n) => f.authorize(n, { ...allowedRequest(), minVersion: pushed.minVersion })));
      rs.forEach((r, i) => {
        assertAllowed(r, `${f.nodes[i]?.id} with minVersion ${pushed.minVersion}`);
        assert.equal(r.body.claims?.pol.version, 2);
      });
    } finally {
      await f.waitReady(2);
    }
  });

  describe('a node cut off from NATS (n4 behind a proxy)', () => {
    const denials: { status: number; body: DecisionBody; ms: number }[] = [];

    it('fails closed after the beacon TTL while the other nodes keep deciding', async () => {
      assertAllowed(await f.authorize(n4), 'n4 before the partition');
      n4.proxy?.partition();
      const cutAt = Date.now();
      await waitFor('n4 to report stale_policy', async () => (await f.readyz(n4)).body.reason === 'stale_policy', TTL_MS + 3000);
      assert.equal((await f.readyz(n4)).status, 503);
      assert.ok(Date.now() - cutAt <= TTL_MS + 2000);
      const [others, own] = await Promise.all([
        Promise.all(connected.map((n) => f.authorize(n))),
        Promise.all([0, 1, 2].map((i) => f.authorize(n4, allowedRequest(i)))),
      ]);
      others.forEach((r, i) => assertAllowed(r, `${connected[i]?.id} during n4's partition`));
      for (const r of own) assertDeniedWithoutWrit(r, 'n4 partitioned');
      denials.push(...own);
    });

    it('and its denials say why: stale_policy', () => {
      assert.ok(denials.length > 0);
      for (const r of denials) assert.ok(r.body.reasons.includes('stale_policy'), `reasons ${JSON.stringify(r.body.reasons)} (${r.body.message}), in ${Math.round(r.ms)} ms`);
    });

    it('synchronize before authorize: behind the requested version it denies behind_min_version within the bounded wait (500 ms)', async () => {
      const pushed = await f.push(3);
      await f.waitReady(3, connected);
      for (const n of connected) assertAllowed(await f.authorize(n, { ...allowedRequest(), minVersion: pushed.minVersion }), `${n.id} at version 3`);
      const r = await f.authorize(n4, { ...allowedRequest(), minVersion: pushed.minVersion });
      assertDeniedWithoutWrit(r, 'n4 behind version 3');
      assert.ok(r.body.reasons.includes('behind_min_version'), `reasons ${JSON.stringify(r.body.reasons)} (${r.body.message}), in ${Math.round(r.ms)} ms`);
      assert.ok(r.ms < 1000, `denied within the bounded wait: ${Math.round(r.ms)} ms`);
    });

    it('recovers when the partition heals, without a restart', async () => {
      const pid = n4.child?.pid;
      n4.proxy?.heal();
      await f.waitReady(3, [n4], 15_000);
      const r = await f.authorize(n4, { ...allowedRequest(), minVersion: 3 });
      assertAllowed(r, 'n4 after the partition');
      assert.equal(r.body.claims?.pol.version, 3);
      assert.equal(n4.child?.pid, pid);
      assert.equal(n4.starts, 1);
    });
  });

  it('node identity: a writ of n1 verifies at the other nodes; writ isolate n1 makes its writs fail everywhere (writ_revoked; writ_unknown_key where its key was withdrawn) and its decisions deny node_revoked', async () => {
    const [n1, n2, n3] = f.nodes as [FleetNodeProc, FleetNodeProc, FleetNodeProc];
    const req = allowedRequest(42);
    const a = await f.authorize(n1, req);
    assertAllowed(a, 'n1');
    const writ = a.body.writ as string;
    const claims = decodeClaims(writ);
    assert.equal(claims.iss, 'n1');
    assert.equal(claims.aud, READ);
    for (const n of f.nodes.filter((x) => x !== n1)) {
      const v = await f.verify(n, writ, READ, req.args ?? {});
      assert.equal(v.status, 200, `${n.id} accepts n1's writ: ${JSON.stringify(v.body)}`);
      assert.equal(v.body.valid, true);
    }
    // the signature is accepted, the binding still holds: other arguments are refused
    const other = await f.verify(n2, writ, READ, { path: '/srv/other' });
    assert.equal(other.body.reason, 'writ_intent_mismatch');

    const iso = await f.cliOk(['isolate', 'n1', '--home', f.authHome, '--fleet', f.name, '--nats', NATS_URL]);
    assert.match(iso.stdout, /isolated n1/);
    await Promise.all(
      f.nodes.map((n) =>
        waitFor(`${n.id} to refuse n1's writ`, async () => {
          const v = await f.verify(n, writ, READ, req.args ?? {});
          // the isolated node itself refuses it as revoked; the others have also withdrawn its key
          return v.status === 403 && (n === n1 ? v.body.reason === 'writ_revoked' : v.body.reason === 'writ_unknown_key');
        }, 3000, 10),
      ),
    );
    const own = await waitFor('n1 to deny node_revoked', async () => {
      const r = await f.authorize(n1);
      return r.body.reasons.includes('node_revoked') ? r : undefined;
    }, 3000, 10);
    assertDeniedWithoutWrit(own, 'isolated n1');
    // the others are unaffected, and their writs still verify across the fleet
    const b = await f.authorize(n2, req);
    assertAllowed(b, 'n2 after n1 was isolated');
    const v = await f.verify(n3, b.body.writ as string, READ, req.args ?? {});
    assert.equal(v.status, 200);
  });
});

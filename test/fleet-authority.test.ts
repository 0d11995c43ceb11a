/**
 * The authority's PostgreSQL history: once it named a bundle version current, it never
 * names an older one — not after a restart, not if the bundle bucket is rolled back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { jetstreamManager } from '@nats-io/jetstream';
import type { BeaconClaims } from '../src/authority/beacon.ts';
import { BUNDLE_KEY, connectFleet, kvKey } from '../src/sync/nats/connection.ts';
import { startAuthority } from '../src/sync/authority.ts';
import { NATS_URL, PG_URL, waitFor } from './fleet-harness.ts';
import { bundleBytes, DEMO_POLICY, fixture } from './helpers.ts';

describe('fleet authority', { timeout: 60_000 }, () => {
  it('never names a bundle older than one it named before (history in PostgreSQL)', async () => {
    const f = await fixture({ policyDir: null });
    const fleetName = `t_${randomBytes(5).toString('hex')}`;
    const bus = await connectFleet(NATS_URL, { fleet: fleetName, client: 'test' });
    const bucket = await bus.bundles(f.config.domain);
    const named = async () => {
      const e = await bus.kv.beacons.get(kvKey(f.config.domain));
      return e ? (JSON.parse(Buffer.from(e.string().split('.')[1] ?? '', 'base64url').toString()) as BeaconClaims).bundle?.version : undefined;
    };
    const start = () => startAuthority({ home: f.home, nats: NATS_URL, pg: PG_URL, fleet: fleetName, beaconIntervalMs: 200, log: () => undefined });
    try {
      let a = await start();
      const v2 = bundleBytes(await f.sign(DEMO_POLICY, { version: 2 }));
      await bucket.put(BUNDLE_KEY, v2);
      await waitFor('the beacon to name version 2', async () => (await named()) === 2);
      await a.close();
      // the bucket is rolled back to an older, validly signed bundle; the authority restarts
      await bucket.put(BUNDLE_KEY, bundleBytes(await f.sign(DEMO_POLICY, { version: 1 })));
      a = await start();
      // the witness that it processed the rollback: the same v2 put again after it (the bucket
      // keeps both, its watch takes them in order) is verified, and only then held as verified
      assert.equal(a.bundles().get(f.config.domain), undefined, 'nothing verified yet since the restart');
      await bucket.put(BUNDLE_KEY, v2);
      const held = a;
      await waitFor('the restarted authority to process the bucket', () => held.bundles().get(f.config.domain)?.manifest.version === 2);
      assert.equal(await named(), 2, 'still version 2: the authority refuses to name a rollback');
      assert.deepEqual((await a.named()).filter((n) => n.version === 1), [], 'version 1 was never named (nor recorded) after the restart');
      await a.close();
    } finally {
      const jsm = await jetstreamManager(bus.nc);
      for await (const name of jsm.streams.names()) if (name.startsWith(`KV_${fleetName}_`) || name === `${fleetName.toUpperCase()}_EVIDENCE`) await jsm.streams.delete(name);
      await bus.close();
      const db = new pg.Pool({ connectionString: PG_URL });
      await db.query(`DROP SCHEMA IF EXISTS ${fleetName} CASCADE`);
      await db.end();
      f.cleanup();
    }
  });
});

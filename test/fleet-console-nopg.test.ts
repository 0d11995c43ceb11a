/** The authority's console without PostgreSQL: governance and health from NATS; ledger and lineage say why they are missing. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import type { GovernanceView, HealthView } from '../src/console/source.ts';
import { buildAuthorityApp } from '../src/server/authority-app.ts';
import { startAuthority } from '../src/sync/authority.ts';
import { connectFleet } from '../src/sync/nats/connection.ts';
import { NATS_URL } from './fleet-harness.ts';
import { fixture } from './helpers.ts';

describe('fleet console without PostgreSQL', { timeout: 60_000 }, () => {
  it('serves governance and health, and says why ledger and lineage are not available', async () => {
    const fx = await fixture({ policyDir: null });
    const fleetName = `t_${randomBytes(5).toString('hex')}`;
    const a = await startAuthority({ home: fx.home, nats: NATS_URL, fleet: fleetName, beaconIntervalMs: 200, log: () => undefined });
    const app = await buildAuthorityApp(a);
    try {
      const about = (await app.inject({ method: 'GET', url: '/console/api/about' })).json<{ pages: string[]; notes: string[] }>();
      assert.deepEqual(about.pages, ['governance', 'health', 'proof']);
      for (const url of ['/console/api/entries', '/console/api/checkpoints', '/console/api/lineage?q=x', '/console/api/proof?index=0']) {
        const r = await app.inject({ method: 'GET', url });
        assert.equal(r.statusCode, 404, url);
        assert.equal(r.json<{ error: string }>().error, 'not_available', url);
        assert.match(r.json<{ message: string }>().message, /--pg/, url);
      }
      const g = (await app.inject({ method: 'GET', url: '/console/api/governance' })).json<GovernanceView>();
      assert.deepEqual([g.bundles, g.approvals, g.scope], [[], [], 'fleet']);
      const h = (await app.inject({ method: 'GET', url: '/console/api/health' })).json<HealthView>();
      assert.deepEqual(h.nodes, []);
      assert.equal((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: unknown[] }>().keys.length, 0);
      assert.equal((await app.inject({ method: 'GET', url: '/v1/log/checkpoint' })).statusCode, 404);
    } finally {
      await app.close();
      await a.close();
      const bus = await connectFleet(NATS_URL, { fleet: fleetName, client: 'test-cleanup' });
      const m = await jetstreamManager(bus.nc);
      for await (const name of m.streams.names()) if (name.startsWith(`KV_${fleetName}_`) || name === `${fleetName.toUpperCase()}_EVIDENCE`) await m.streams.delete(name);
      await bus.close();
      fx.cleanup();
    }
  });
});

/**
 * The authority's HTTP server (`writ authority --port`): the fleet console, the fleet's
 * JWKS (every certified node's writ key), health, and — with PostgreSQL — the fleet
 * ledger's read endpoints. It decides nothing and signs nothing over HTTP: beacons go to
 * NATS; the only mutating console route answers that approvals are decided at their node.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { authorityConsoleSource } from '../console/authority-source.ts';
import { pgLineageSearch } from '../console/pg-lineage.ts';
import { registerConsole } from '../console/routes.ts';
import { fleetLogKey } from '../ledger/log-identity.ts';
import { PgLog } from '../ledger/pg-log.ts';
import type { AuthorityHandle } from '../sync/authority.ts';
import { SOFTWARE_VERSION } from '../version.ts';
import { StoredCosignatures } from '../witness/stored-cosignatures.ts';
import { installJsonErrors } from './errors.ts';
import { FASTIFY_LIMITS } from './http-limits.ts';
import { registerLogRoutes } from './log-routes.ts';

export async function buildAuthorityApp(a: AuthorityHandle, o: { pg?: string; consoleAssets?: string; logger?: boolean } = {}): Promise<FastifyInstance> {
  // slow or unfinished requests are cut off like the node's (docs/bounds.md)
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: 16 * 1024, ...FASTIFY_LIMITS });
  app.removeContentTypeParser('text/plain');
  installJsonErrors(app);

  let ledger: PgLog | undefined;
  let lineage: ReturnType<typeof pgLineageSearch> | undefined;
  let cosigned: StoredCosignatures | undefined;
  if (o.pg) {
    const pool = new pg.Pool({ connectionString: o.pg, max: 4 });
    pool.on('error', () => undefined); // idle-connection errors: the next query reports
    app.addHook('onClose', async () => pool.end());
    // read-only: the sequencer alone appends and signs checkpoints
    // the fleet log's own identity (not this home's local log's): src/ledger/log-identity.ts
    const id = fleetLogKey(a.home, a.bus.name, a.config.domain);
    ledger = new PgLog(pool, { schema: a.bus.name, origin: id.origin, verifier: id.verifier });
    await ledger.init();
    lineage = pgLineageSearch(pool, a.bus.name);
    // the checkpoint with the witnesses' cosignatures the sequencer stored beside it (docs/witness.md)
    cosigned = new StoredCosignatures(ledger, { log: (s) => app.log.warn(s) });
    registerLogRoutes(app, { log: ledger, witnesses: cosigned });
  }

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    if (!a.bus.evidence.connected()) return reply.code(503).send({ ready: false, reason: 'nats_closed' });
    const named = Object.fromEntries([...a.current()].map(([domain, b]) => [domain, b]));
    return { ready: true, fleet: a.bus.name, named };
  });
  app.get('/.well-known/jwks.json', async () => ({ keys: a.view.keys() }));

  const source = authorityConsoleSource(a, { software: SOFTWARE_VERSION, ...(ledger && { ledger }), ...(lineage && { lineage }), ...(cosigned && { cosigned }) });
  await registerConsole(app, { source, adminTokenSha256: a.config.admin.tokenSha256, ...(o.consoleAssets && { consoleAssets: o.consoleAssets }) });
  return app;
}

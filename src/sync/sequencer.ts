/**
 * `writ sequencer`: turns the fleet's evidence stream into the one Merkle ledger in
 * PostgreSQL. PostgreSQL is the only record of progress: an ordered consumer reads the
 * stream from the sequence after the last entry applied; each batch is applied in one
 * PostgreSQL transaction (entries, tree hashes, lineage index). After a crash, or any
 * error (a gap, a lost connection), reading restarts from PostgreSQL's size — nothing
 * waits for acknowledgement timeouts, and nothing is applied twice. Every second, if the log grew, it signs a
 * checkpoint with the one checkpoint signer (ledger/checkpoint-signer.ts: a C2SP signed note
 * with the fleet log's own key, origin writ.fleet/<fleet>/<domain>, after proving the tree
 * extends the last one). It serves the log with the one set of log routes
 * (server/log-routes.ts): the checkpoint, entries, proofs and the C2SP tiles.
 */
import { DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { readConfig } from '../home/config.ts';
import { fleetLogKey } from '../ledger/log-identity.ts';
import { PgLog } from '../ledger/pg-log.ts';
import { installJsonErrors } from '../server/errors.ts';
import { registerLogRoutes } from '../server/log-routes.ts';
import { errorMessage } from '../util.ts';
import { connectFleet, type Fleet } from './nats.ts';

export interface SequencerHandle {
  log: PgLog;
  fleet: Fleet;
  app: FastifyInstance;
  /** resolves once everything published so far is in PostgreSQL */
  caughtUp(): Promise<void>;
  close(): Promise<void>;
}

export async function startSequencer(o: { home: string; nats: string; pg: string; fleet?: string; port?: number; host?: string; log?: (s: string) => void }): Promise<SequencerHandle> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const config = readConfig(o.home);
  const fleet = await connectFleet(o.nats, { client: 'writ-sequencer', ...(o.fleet && { fleet: o.fleet }) });
  const pool = new pg.Pool({ connectionString: o.pg, max: 4 });
  pool.on('error', (err) => log(`writ sequencer: postgres: ${err.message}`));
  // The fleet log has its own identity (origin writ.fleet/<fleet>/<domain>, its own key),
  // never the authority home's local log's: two logs under one name would be a fork.
  const id = fleetLogKey(o.home, fleet.name, config.domain);
  const plog = new PgLog(pool, { schema: fleet.name, origin: id.origin, verifier: id.verifier, verifierKey: id.verifierKey, signer: id.signer });
  try {
    await plog.init();
  } catch (err) {
    await fleet.close().catch(() => undefined);
    await pool.end();
    throw err;
  }
  const jsm = await jetstreamManager(fleet.nc);
  let running = true;
  let applied = await plog.size();
  const loop = (async () => {
    while (running) {
      try {
        applied = await plog.size();
        const consumer = await fleet.js.consumers.get(fleet.stream, { opt_start_seq: applied + 1, deliver_policy: DeliverPolicy.StartSequence });
        while (running) {
          const batch = [];
          const msgs = await consumer.fetch({ max_messages: 500, expires: 1000 });
          for await (const m of msgs) batch.push(m);
          if (batch.length === 0) continue;
          applied = await plog.append(batch.map((m) => ({ seq: m.seq, subject: m.subject, leaf: m.data })));
        }
      } catch (err) {
        if (running) log(`writ sequencer: ${errorMessage(err)}; resuming from PostgreSQL`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  const timer = setInterval(() => void plog.checkpoint().catch((err: unknown) => log(`writ sequencer: checkpoint: ${errorMessage(err)}`)), 1000);

  const app = Fastify({ logger: false });
  installJsonErrors(app);
  registerLogRoutes(app, { log: plog });
  if (o.port !== undefined) await app.listen({ port: o.port, host: o.host ?? '127.0.0.1' });

  return {
    log: plog,
    fleet,
    app,
    async caughtUp() {
      const info = await jsm.streams.info(fleet.stream);
      const last = info.state.last_seq;
      while (applied < last) await new Promise((r) => setTimeout(r, 50));
    },
    async close() {
      running = false;
      clearInterval(timer);
      await loop;
      await app.close();
      await fleet.close().catch(() => undefined);
      await pool.end();
    },
  };
}

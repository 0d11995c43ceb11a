/**
 * `writ sequencer` on NATS JetStream and PostgreSQL: the wiring only — the bus's evidence
 * stream (sync/nats/bus.ts), the fleet log in PostgreSQL (ledger/pg-log.ts) with its own
 * identity (origin writ.fleet/<fleet>/<domain>, its own key — never the authority home's
 * local log's: two logs under one name would be a fork), the sequencer itself
 * (ledger/sequencer.ts) on the system clock, and its HTTP API (server/sequencer-app.ts).
 * With witnesses (`--witness`, docs/witness.md), each checkpoint is submitted to them, their
 * cosignatures are stored with the checkpoint in PostgreSQL and served with it.
 */
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { systemClock } from '../clock.ts';
import { readConfig } from '../home/config.ts';
import { fleetLogKey } from '../ledger/log-identity.ts';
import { PgLog } from '../ledger/pg-log.ts';
import { runSequencer } from '../ledger/sequencer.ts';
import type { FleetBus } from '../node/fleet-bus.ts';
import { buildSequencerApp } from '../server/sequencer-app.ts';
import { connectNatsBus } from './nats/bus.ts';
import type { WitnessEndpoint } from '../witness/client.ts';
import { LogWitnessing } from '../witness/log-witnessing.ts';

export interface SequencerHandle {
  log: PgLog;
  bus: FleetBus;
  /** the fleet log's witnesses, if any */
  witnesses: LogWitnessing | null;
  app: FastifyInstance;
  /** resolves once everything published so far is in PostgreSQL */
  caughtUp(): Promise<void>;
  close(): Promise<void>;
}

export async function startSequencer(o: { home: string; nats: string; pg: string; fleet?: string; port?: number; host?: string; log?: (s: string) => void; witnesses?: WitnessEndpoint[]; witnessOptions?: { timeoutMs?: number; retryMs?: number } }): Promise<SequencerHandle> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const config = readConfig(o.home);
  const { bus } = await connectNatsBus(o.nats, { client: 'writ-sequencer', log, ...(o.fleet && { fleet: o.fleet }) });
  const pool = new pg.Pool({ connectionString: o.pg, max: 4 });
  pool.on('error', (err) => log(`writ sequencer: postgres: ${err.message}`));
  const id = fleetLogKey(o.home, bus.name, config.domain);
  const plog = new PgLog(pool, { schema: bus.name, origin: id.origin, verifier: id.verifier, verifierKey: id.verifierKey, signer: id.signer });
  try {
    await plog.init();
  } catch (err) {
    await bus.close().catch(() => undefined);
    await pool.end();
    throw err;
  }
  const signer = plog.signer;
  if (!signer) throw new Error('the fleet log has no signing key');
  const witnesses = o.witnesses && o.witnesses.length > 0 ? new LogWitnessing(o.witnesses, { ...o.witnessOptions, store: plog, log: (s) => log(`writ sequencer: ${s}`) }) : null;
  const sequencer = runSequencer({ stream: bus.evidence, store: plog, signer, clock: systemClock, log, ...(witnesses && { witnesses }) });
  const app = buildSequencerApp(plog, witnesses ?? undefined);
  if (o.port !== undefined) await app.listen({ port: o.port, host: o.host ?? '127.0.0.1' });

  return {
    log: plog,
    bus,
    witnesses,
    app,
    caughtUp: () => sequencer.caughtUp(),
    async close() {
      sequencer.stop();
      await app.close();
      await bus.close().catch(() => undefined);
      await pool.end();
    },
  };
}

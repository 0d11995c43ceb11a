/** The sequencer's HTTP API: the fleet log, with the one set of log routes (checkpoint, entries, proofs, C2SP tiles). */
import Fastify, { type FastifyInstance } from 'fastify';
import type { LogStore } from '../ledger/log-store.ts';
import { installJsonErrors } from './errors.ts';
import { registerLogRoutes, type CosignedNotes } from './log-routes.ts';

/** `witnesses`: the checkpoint is served with their cosignatures (`writ sequencer --witness`). */
export function buildSequencerApp(log: LogStore, witnesses?: CosignedNotes): FastifyInstance {
  const app = Fastify({ logger: false });
  installJsonErrors(app);
  registerLogRoutes(app, { log, ...(witnesses && { witnesses }) });
  return app;
}

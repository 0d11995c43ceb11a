/**
 * The witness's HTTP interface (c2sp.org/tlog-witness): `POST <prefix>/add-checkpoint`, the
 * body read as bytes whatever its content type (the spec names none), answered by the
 * Witness (./witness.ts) with its status, content type and body. Nothing else is served.
 * Requests are bounded like every Writ server's (src/server/http-limits.ts); a request is
 * at most 64 KiB (63 proof lines and a checkpoint with 100 signatures fit in 16).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { FASTIFY_LIMITS } from '../server/http-limits.ts';
import { installJsonErrors } from '../server/errors.ts';
import type { Witness } from './witness.ts';

export const MAX_ADD_CHECKPOINT_BYTES = 64 * 1024;

export interface WitnessAppOptions {
  /** the submission prefix, '' or a path starting with '/' and not ending with one */
  prefix?: string;
  logger?: boolean;
}

export function buildWitnessApp(witness: Witness, o: WitnessAppOptions = {}): FastifyInstance {
  const prefix = o.prefix ?? '';
  if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/'))) throw new Error(`witness prefix ${JSON.stringify(prefix)} must start and not end with "/"`);
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: MAX_ADD_CHECKPOINT_BYTES, ...FASTIFY_LIMITS });
  installJsonErrors(app);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post(`${prefix}/add-checkpoint`, async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array(0);
    const r = witness.addCheckpoint(body);
    return reply.code(r.status).header('content-type', r.contentType).header('cache-control', 'no-store').send(r.body);
  });
  return app;
}

/**
 * Read endpoints of the fleet's ledger in PostgreSQL, served by the sequencer and by the
 * authority (with --pg): the latest checkpoint, entries, inclusion and consistency proofs —
 * the same paths and shapes as a node's embedded log (log-routes.ts).
 */
import type { FastifyInstance } from 'fastify';
import { encodeBase64 } from '../tlog/note.ts';
import type { PgLog } from '../ledger/pg-log.ts';

export function registerPgLogRoutes(app: FastifyInstance, plog: PgLog): void {
  app.get('/v1/log/checkpoint', async (_req, reply) => {
    const cp = await plog.latestCheckpoint();
    if (!cp) return reply.code(404).send({ error: 'not_found', message: 'no checkpoint yet' });
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(cp.note);
  });
  app.get('/v1/log/entries/:index', async (req, reply) => {
    const i = Number((req.params as { index: string }).index);
    const leaf = Number.isSafeInteger(i) && i >= 0 ? await plog.entry(i) : null;
    if (!leaf) return reply.code(404).send({ error: 'not_found', message: 'no such entry' });
    return reply.type('application/json').send(Buffer.from(leaf));
  });
  app.get('/v1/log/proof/inclusion', async (req, reply) => {
    const q = req.query as { index?: string; size?: string };
    const cp = await plog.latestCheckpoint();
    const size = q.size === undefined ? (cp?.size ?? 0) : Number(q.size);
    const index = Number(q.index);
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size || size > (await plog.size())) {
      return reply.code(400).send({ error: 'bad_proof_request', message: `index ${q.index} is not in a tree of size ${size}` });
    }
    return { index, size, root: encodeBase64(await plog.treeHash(size)), proof: (await plog.inclusionProof(index, size)).map(encodeBase64) };
  });
  app.get('/v1/log/proof/consistency', async (req, reply) => {
    const q = req.query as { from?: string; to?: string };
    const from = Number(q.from);
    const to = Number(q.to);
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > (await plog.size())) {
      return reply.code(400).send({ error: 'bad_proof_request', message: 'need 0 <= from <= to <= size' });
    }
    return { from, to, proof: (await plog.consistencyProof(from, to)).map(encodeBase64) };
  });
}

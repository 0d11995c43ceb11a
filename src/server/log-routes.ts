/**
 * Read endpoints of the transparency log: the latest checkpoint, C2SP tlog-tiles
 * (hash tiles and entry bundles), inclusion and consistency proofs, raw entries,
 * and lineage. All read-only and cacheable where the spec says so.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Ledger } from '../ledger/ledger.ts';
import { LogError, type TransparencyLog } from '../ledger/log.ts';
import { encodeBase64 } from '../tlog/note.ts';
import { parseTilePath } from '../tlog/tiles.ts';
import { lineageOf } from '../lineage/lineage.ts';
import { errorMessage } from '../util.ts';

const index = { type: 'string', pattern: '^[0-9]{1,16}$' } as const;

function notFound(reply: FastifyReply, message: string) {
  return reply.code(404).send({ error: 'not_found', message });
}

export function registerLogRoutes(app: FastifyInstance, deps: { log: TransparencyLog; ledger: Ledger }): void {
  const { log, ledger } = deps;

  app.get('/v1/log/checkpoint', { schema: { tags: ['log'] } }, async (_req, reply) => {
    const cp = log.latestCheckpoint();
    if (!cp) return notFound(reply, 'no checkpoint has been signed yet');
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(cp.note);
  });

  // C2SP tlog-tiles: /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]
  app.get('/tile/*', { schema: { tags: ['log'] } }, async (req, reply) => {
    const path = `tile/${(req.params as { '*': string })['*']}`;
    let ref;
    try {
      ref = parseTilePath(path);
    } catch (err) {
      return reply.code(400).send({ error: 'bad_tile_path', message: errorMessage(err) });
    }
    try {
      const body = ref.level === 'entries' ? log.entryBundle(ref.n, ref.width) : log.hashTile(ref.level, ref.n, ref.width);
      // full tiles never change; partial ones are superseded as the log grows
      const immutable = ref.width === 256;
      return reply
        .type('application/octet-stream')
        .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-store')
        .send(Buffer.from(body));
    } catch (err) {
      return notFound(reply, errorMessage(err));
    }
  });

  app.get(
    '/v1/log/proof/inclusion',
    { schema: { tags: ['log'], querystring: { type: 'object', required: ['index'], additionalProperties: false, properties: { index, size: index } } } },
    async (req, reply) => {
      const q = req.query as { index: string; size?: string };
      const size = q.size === undefined ? (log.latestCheckpoint()?.size ?? 0) : Number(q.size);
      try {
        const proof = log.inclusionProof(Number(q.index), size);
        return { index: Number(q.index), size, root: encodeBase64(log.treeHash(size)), proof: proof.map(encodeBase64) };
      } catch (err) {
        if (err instanceof LogError) return reply.code(400).send({ error: 'bad_proof_request', message: err.message });
        throw err;
      }
    },
  );

  app.get(
    '/v1/log/proof/consistency',
    { schema: { tags: ['log'], querystring: { type: 'object', required: ['from', 'to'], additionalProperties: false, properties: { from: index, to: index } } } },
    async (req, reply) => {
      const q = req.query as { from: string; to: string };
      try {
        const proof = log.consistencyProof(Number(q.from), Number(q.to));
        return { from: Number(q.from), to: Number(q.to), proof: proof.map(encodeBase64) };
      } catch (err) {
        if (err instanceof LogError) return reply.code(400).send({ error: 'bad_proof_request', message: err.message });
        throw err;
      }
    },
  );

  app.get('/v1/log/entries/:index', { schema: { tags: ['log'], params: { type: 'object', properties: { index } } } }, async (req, reply) => {
    const leaf = log.entry(Number((req.params as { index: string }).index));
    if (!leaf) return notFound(reply, 'no such entry');
    return reply.type('application/json').send(Buffer.from(leaf));
  });

  app.get('/v1/lineage/:jti', { schema: { tags: ['lineage'], params: { type: 'object', properties: { jti: { type: 'string', maxLength: 128 } } } } }, async (req, reply) => {
    const l = lineageOf(ledger, (req.params as { jti: string }).jti);
    if (!l) return notFound(reply, 'no such writ');
    return l;
  });
}

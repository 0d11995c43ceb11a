/**
 * Read endpoints of a transparency log, over any log store (ledger/log-store.ts): a home's
 * SQLite log (`writ up`, `writ node`) and the fleet's PostgreSQL log (the sequencer, the
 * authority with --pg) serve the same paths, checked the same way: the latest checkpoint,
 * C2SP tlog-tiles (hash tiles and entry bundles), inclusion and consistency proofs, raw
 * entries, and — where the lineage index is at hand — lineage. All read-only and
 * cacheable where the spec says so.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Ledger } from '../ledger/ledger.ts';
import { LogError, logReads, type LogStore, type StoredCheckpoint } from '../ledger/log-store.ts';
import { encodeBase64 } from '../tlog/note.ts';
import { parseTilePath } from '../tlog/tiles.ts';
import { lineageOf } from '../lineage/lineage.ts';
import { errorMessage } from '../util.ts';

const index = { type: 'string', pattern: '^[0-9]{1,16}$' } as const;

function notFound(reply: FastifyReply, message: string) {
  return reply.code(404).send({ error: 'not_found', message });
}

/** A log store, or a log that has one (TransparencyLog). */
export type LogSource = LogStore | { readonly store: LogStore };

const storeOf = (log: LogSource): LogStore => ('store' in log ? log.store : log);

/** What the routes need of the log's witnesses (ledger/checkpoint-signer.ts CheckpointWitnesses): the note with its cosignatures. */
export interface CosignedNotes {
  cosignedNote(cp: StoredCheckpoint): Promise<string>;
}

export function registerLogRoutes(app: FastifyInstance, deps: { log: LogSource; ledger?: Ledger; witnesses?: CosignedNotes }): void {
  const store = storeOf(deps.log);
  const { ledger, witnesses } = deps;

  // with witnesses, the checkpoint carries the cosignature lines obtained so far (C2SP tlog-cosignature)
  const checkpoint = async (_req: unknown, reply: FastifyReply) => {
    const cp = await store.latestCheckpoint();
    if (!cp) return notFound(reply, 'no checkpoint has been signed yet');
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(witnesses ? await witnesses.cosignedNote(cp) : cp.note);
  };
  app.get('/v1/log/checkpoint', { schema: { tags: ['log'] } }, checkpoint);
  // C2SP tlog-tiles: the checkpoint beside the tiles, at <prefix>/checkpoint (the prefix is the root here, as for /tile/)
  app.get('/checkpoint', { schema: { tags: ['log'] } }, checkpoint);

  // C2SP tlog-tiles: /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]
  app.get('/tile/*', { schema: { tags: ['log'] } }, async (req, reply) => {
    const path = `tile/${(req.params as { '*': string })['*']}`;
    let ref;
    try {
      ref = parseTilePath(path);
    } catch (err) {
      return reply.code(400).send({ error: 'bad_tile_path', message: errorMessage(err) });
    }
    let body: Uint8Array;
    try {
      body = ref.level === 'entries' ? await logReads.entryBundle(store, ref.n, ref.width) : await logReads.hashTile(store, ref.level, ref.n, ref.width);
    } catch (err) {
      // not in the tree of the latest checkpoint; anything else (a damaged store) is a 500
      if (err instanceof LogError || err instanceof RangeError) return notFound(reply, errorMessage(err));
      throw err;
    }
    // full tiles never change; partial ones are superseded as the log grows
    const immutable = ref.width === 256;
    return reply
      .type('application/octet-stream')
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-store')
      .send(Buffer.from(body));
  });

  app.get(
    '/v1/log/proof/inclusion',
    { schema: { tags: ['log'], querystring: { type: 'object', required: ['index'], additionalProperties: false, properties: { index, size: index } } } },
    async (req, reply) => {
      const q = req.query as { index: string; size?: string };
      try {
        const p = await logReads.inclusion(store, Number(q.index), q.size === undefined ? undefined : Number(q.size));
        return { index: p.index, size: p.size, root: encodeBase64(p.root), proof: p.proof.map(encodeBase64) };
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
        const proof = await logReads.consistency(store, Number(q.from), Number(q.to));
        return { from: Number(q.from), to: Number(q.to), proof: proof.map(encodeBase64) };
      } catch (err) {
        if (err instanceof LogError) return reply.code(400).send({ error: 'bad_proof_request', message: err.message });
        throw err;
      }
    },
  );

  app.get('/v1/log/entries/:index', { schema: { tags: ['log'], params: { type: 'object', properties: { index } } } }, async (req, reply) => {
    const leaf = await store.entry(Number((req.params as { index: string }).index));
    if (!leaf) return notFound(reply, 'no such entry');
    return reply.type('application/json').send(Buffer.from(leaf));
  });

  if (ledger) {
    app.get('/v1/lineage/:jti', { schema: { tags: ['lineage'], params: { type: 'object', properties: { jti: { type: 'string', maxLength: 128 } } } } }, async (req, reply) => {
      const l = lineageOf(ledger, (req.params as { jti: string }).jti);
      if (!l) return notFound(reply, 'no such writ');
      return l;
    });
  }
}

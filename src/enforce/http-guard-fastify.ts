/**
 * writ/http-guard for Fastify: the writ is verified in a `preParsing` hook, not in preHandler,
 * because the body digest must be taken over the exact bytes on the wire, and by preHandler
 * Fastify has parsed them (a parsed body has no digest: JSON re-serialised is not the same
 * bytes). The hook reads the raw body up to a limit, verifies (writ/http-guard.ts), and hands
 * the same bytes on to Fastify's parser; a request that does not verify is answered 403
 * `{error: {code, message}}` there, before validation and the handler.
 *
 *   await app.register(httpGuardPlugin, { keys, audience: 'orders' });   // applies to the whole app
 *   app.get('/orders', (req) => guardedOfFastify(req)?.claims.sub);
 *
 * Here in enforce/, not writ/: it needs node:stream and Fastify, which writ/ may not import.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { guardRefusal, guardRequest, writHeader, type GuardedRequest, type HttpGuardOptions } from '../writ/http-guard.ts';
import { parseRequestTarget } from '../writ/http-request.ts';

export interface FastifyGuardOptions extends HttpGuardOptions {
  /** the largest body read (default 1 MiB); a larger one is refused with 403 body_too_large */
  maxBodyBytes?: number;
}

export interface GuardedFastifyRequest extends GuardedRequest {
  /** the exact body bytes the writ was verified against (empty when there was none) */
  body: Uint8Array;
}

const guarded = new WeakMap<FastifyRequest, GuardedFastifyRequest>();

/** The verified writ of a request that passed the guard; undefined for any other. */
export function guardedOfFastify(request: FastifyRequest): GuardedFastifyRequest | undefined {
  return guarded.get(request);
}

function refuse(reply: FastifyReply, status: number, code: string, message: string, close: boolean): FastifyReply {
  if (close) reply.header('connection', 'close');
  return reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send({ error: { code, message } });
}

/** Reads at most `max` bytes; null when the body is larger (the rest is left unread). */
async function readAtMost(payload: NodeJS.ReadableStream, max: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // next() by hand, never break: leaving a for-await destroys the stream, and with it the socket the 403 goes out on
  const it = (payload as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done === true) break;
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    total += chunk.length;
    if (total > max) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** Adds the guard to `app` itself (every route of it and of the plugins registered on it later). */
export function installHttpGuard(app: FastifyInstance, o: FastifyGuardOptions): void {
  const max = o.maxBodyBytes ?? 1024 * 1024;
  app.addHook('preParsing', async (request, reply, payload) => {
    const headers = request.raw.headersDistinct ?? request.headers;
    try {
      // no writ, or two: refused before a byte of the body is buffered for it
      writHeader(headers);
    } catch (err) {
      const r = guardRefusal(err);
      return refuse(reply, r.status, r.body.error.code, r.body.error.message, true);
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    if (Number.isFinite(declared) && declared > max) {
      return refuse(reply, 403, 'body_too_large', `the body of ${declared} bytes is over the guard's limit of ${max}`, true);
    }
    const body = await readAtMost(payload, max);
    if (body === null) return refuse(reply, 403, 'body_too_large', `the body is over the guard's limit of ${max} bytes`, true);
    let g: GuardedRequest;
    try {
      const { path, query } = parseRequestTarget(request.originalUrl);
      g = await guardRequest({ method: request.method.toUpperCase(), path, query, body, headers }, o);
    } catch (err) {
      const r = guardRefusal(err);
      return refuse(reply, r.status, r.body.error.code, r.body.error.message, false);
    }
    guarded.set(request, { ...g, body });
    // the parser gets exactly the bytes that were verified
    const replay = Readable.from(body.length > 0 ? [Buffer.from(body.buffer, body.byteOffset, body.length)] : []);
    return Object.assign(replay, { receivedEncodedLength: body.length });
  });
}

/**
 * The same as a plugin. Marked `skip-override` (what fastify-plugin does): its hook applies to
 * the instance it is registered on, not only to an encapsulated child context with no routes.
 */
export const httpGuardPlugin: FastifyPluginAsync<FastifyGuardOptions> = Object.assign(
  async (app: FastifyInstance, o: FastifyGuardOptions) => {
    installHttpGuard(app, o);
  },
  { [Symbol.for('skip-override')]: true },
);

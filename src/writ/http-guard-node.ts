/**
 * writ/http-guard for node:http and connect-style frameworks (Express, connect, polka): reads
 * the body up to a limit, verifies the writ header against method, path, query and the body's
 * digest (http-guard.ts), and answers 403 `{error: {code, message}}` itself when it does not
 * verify — the handler never runs. A verified request reaches the handler with the exact bytes
 * that were verified (`guardedOf(req).body`): the stream is consumed, and the handler must not
 * act on any other body.
 *
 *   http.createServer(guardNodeHandler((req, res, g) => { ... }, { keys, audience: 'orders' }))
 *   app.use(httpGuardMiddleware({ keys, audience: 'orders' }))   // Express: before any body parser
 *
 * Structural types only, no node:http import: writ/ stays free of Node modules (docs/architecture.md).
 */
import { guardRefusal, guardRequest, writHeader, type GuardedRequest, type HttpGuardOptions } from './http-guard.ts';
import { parseRequestTarget } from './http-request.ts';
import { reportOutcome } from './report-outcome.ts';

/** The parts of an IncomingMessage (or Express Request) the guard reads. */
export interface NodeRequestLike extends AsyncIterable<Uint8Array | string> {
  method?: string | undefined;
  url?: string | undefined;
  /** Express keeps the unmounted URL here: the writ binds the path the gateway saw */
  originalUrl?: string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** node ≥ 18.3: every header as an array, so a repeated x-writ is seen as two */
  headersDistinct?: Readonly<Record<string, string[] | undefined>>;
  readableEnded?: boolean;
}

/** The parts of a ServerResponse the guard writes. */
export interface NodeResponseLike {
  statusCode: number;
  headersSent?: boolean;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
  once?(event: 'finish', listener: () => void): unknown;
}

export interface NodeGuardOptions extends HttpGuardOptions {
  /** the largest body read (default 1 MiB); a larger one is refused with 403 body_too_large */
  maxBodyBytes?: number;
  /**
   * report each guarded request's outcome to the node (POST /v1/outcome, as a verify caller
   * whose --audiences cover this audience): it is then on the record and the writ marked used
   * fleet-wide. Sent when the response finished: `ok` below 500, else `failed`.
   */
  report?: { url: string; token: string; onError?: (err: Error) => void };
}

export interface GuardedNodeRequest extends GuardedRequest {
  /** the exact body bytes the writ was verified against (empty when there was none) */
  body: Uint8Array;
}

/** A refusal the adapter decides before the writ is checked: the body could not be bound. */
class BodyRefusal extends Error {
  readonly code: 'body_too_large' | 'body_unavailable';
  constructor(code: 'body_too_large' | 'body_unavailable', message: string) {
    super(message);
    this.code = code;
  }
}

const guarded = new WeakMap<object, GuardedNodeRequest>();

/** The verified writ and body of a request that passed the guard; undefined for any other. */
export function guardedOf(req: object): GuardedNodeRequest | undefined {
  return guarded.get(req);
}

function declaresBody(req: NodeRequestLike): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (typeof len === 'string' && len.trim() !== '0');
}

async function readBody(req: NodeRequestLike, max: number): Promise<Uint8Array> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (Number.isFinite(len) && len > max) throw new BodyRefusal('body_too_large', `the body of ${len} bytes is over the guard's limit of ${max}`);
  // a body parser that ran first took the bytes: what is left is not the body the handler acts on
  if (req.readableEnded === true && declaresBody(req)) {
    throw new BodyRefusal('body_unavailable', 'the request body was read before the guard: install the guard before any body parser');
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  // next() by hand, never break: leaving a for-await destroys the request, and with it the
  // socket the 403 is to be written on
  const it = req[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done === true) break;
    const chunk = typeof r.value === 'string' ? new TextEncoder().encode(r.value) : r.value;
    total += chunk.length;
    if (total > max) throw new BodyRefusal('body_too_large', `the body is over the guard's limit of ${max} bytes`);
    chunks.push(chunk);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  return body;
}

function refuse(res: NodeResponseLike, status: number, body: { error: { code: string; message: string } }, close: boolean): void {
  if (res.headersSent === true) return;
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  // an unread body is not drained: the connection goes with the answer
  if (close) res.setHeader('connection', 'close');
  res.end(JSON.stringify(body));
}

/**
 * Guards one request: resolves to the verified request, or answers the refusal on `res` and
 * resolves to null. Never rejects.
 */
export async function guardNodeRequest(req: NodeRequestLike, res: NodeResponseLike, o: NodeGuardOptions): Promise<GuardedNodeRequest | null> {
  const headers = req.headersDistinct ?? req.headers;
  try {
    // no writ, or two: refused before a byte of the body is buffered for it
    writHeader(headers);
  } catch (err) {
    const r = guardRefusal(err);
    refuse(res, r.status, r.body, true);
    return null;
  }
  let body: Uint8Array;
  try {
    body = await readBody(req, o.maxBodyBytes ?? 1024 * 1024);
  } catch (err) {
    const e = err instanceof BodyRefusal ? err : new BodyRefusal('body_unavailable', `the request body could not be read: ${String(err)}`);
    refuse(res, 403, { error: { code: e.code, message: e.message } }, true);
    return null;
  }
  let g: GuardedRequest;
  try {
    const { path, query } = parseRequestTarget(req.originalUrl ?? req.url ?? '/');
    g = await guardRequest({ method: (req.method ?? 'GET').toUpperCase(), path, query, body, headers }, o);
  } catch (err) {
    const r = guardRefusal(err);
    refuse(res, r.status, r.body, false);
    return null;
  }
  const verified: GuardedNodeRequest = { ...g, body };
  guarded.set(req, verified);
  if (o.report) reportWhenDone(res, verified, o.report);
  return verified;
}

function reportWhenDone(res: NodeResponseLike, g: GuardedRequest, report: NonNullable<NodeGuardOptions['report']>): void {
  const started = performance.now();
  res.once?.('finish', () => {
    reportOutcome({ url: report.url, token: report.token, writ: g.writ, status: res.statusCode < 500 ? 'ok' : 'failed', durationMs: Math.round(performance.now() - started) }).catch((err: unknown) =>
      report.onError?.(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

/** A node:http request listener that runs `handler` only for requests whose writ verified. */
export function guardNodeHandler<Req extends NodeRequestLike, Res extends NodeResponseLike>(
  handler: (req: Req, res: Res, guarded: GuardedNodeRequest) => unknown,
  o: NodeGuardOptions,
): (req: Req, res: Res) => Promise<void> {
  return async (req, res) => {
    const g = await guardNodeRequest(req, res, o);
    if (g !== null) await handler(req, res, g);
  };
}

/** Connect/Express middleware: `next()` only for a request whose writ verified; the refusal is answered here. */
export function httpGuardMiddleware<Req extends NodeRequestLike, Res extends NodeResponseLike>(o: NodeGuardOptions): (req: Req, res: Res, next: (err?: unknown) => void) => void {
  return (req, res, next) => {
    guardNodeRequest(req, res, o).then(
      (g) => {
        if (g !== null) next();
      },
      (err: unknown) => next(err),
    );
  };
}

/**
 * The Kubernetes admission webhook server (`writ k8s admission`; docs/kubernetes.md):
 * HTTPS only, `POST /validate` (and, in mutating mode, `POST /mutate`), AdmissionReview
 * v1 in and out (src/enforce/k8s/admission.ts).
 *
 * On node:https rather than Fastify: every answer to a review — malformed, oversized, of the
 * wrong content type, or one whose handling threw — must itself be an AdmissionReview with
 * `allowed: false` (the API server reads nothing else), and a plain handler keeps that in
 * one place instead of in a framework's error hooks. The time and size limits are the
 * ones every Writ server has (http-limits.ts).
 *
 * Every review that reaches a route is a recorded decision: node.authorize for a
 * well-formed one, node.deny (request_invalid) for one that is not. The writ is not
 * verified or consumed here ('carried' in enforcement-points.md terms): in mutating mode
 * it travels with the object to the in-cluster executor, which verifies it.
 */
import { createServer, type Server, type ServerOptions as HttpsServerOptions } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Decision, GovernanceNode } from '../node/node.ts';
import { errorMessage } from '../util.ts';
import { WritError } from '../writ/errors.ts';
import { parseIJson } from '../writ/i-json.ts';
import {
  bestEffortRequest,
  failedResponse,
  parseReview,
  reviewUid,
  toAuthorizeRequest,
  toReviewResponse,
  type AdmissionRequest,
  type AdmissionReviewResponse,
  type Mapped,
} from '../enforce/k8s/admission.ts';
import { HTTP_SERVER_LIMITS } from './http-limits.ts';

/**
 * The largest review read. The API server accepts request bodies up to 3 MiB and an UPDATE
 * review carries the object and the old object: 8 MiB holds both with room to spare.
 */
export const MAX_REVIEW_BYTES = 8 * 1024 * 1024;

export interface AdmissionServerOptions {
  node: GovernanceNode;
  /** the certificate and key (src/cli/tls-options.ts); with `ca`, API server client certificates are required */
  https: HttpsServerOptions;
  /** serve POST /mutate too: an allowed CREATE/UPDATE gets the writ as an annotation (JSONPatch) */
  mutating?: boolean;
  /** the writ's lifetime (default: the node's) */
  ttlSeconds?: number;
  maxBodyBytes?: number;
  /** an unexpected error in a handler (it was answered with allowed: false) */
  onError?: (err: unknown) => void;
}

type Mode = 'validate' | 'mutate';

/** Why a body could not be read as a review, with the code its answer carries. */
export class BodyRefused extends WritError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('request_invalid', message);
    this.name = 'BodyRefused';
    this.status = status;
  }
}

/** Reads the body up to `max` bytes; beyond it, the rest is drained (the request timeout bounds how long) and refused. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max) chunks.push(c);
    });
    req.on('end', () => (size > max ? reject(new BodyRefused(413, `the review is larger than ${max} bytes`)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function parseBody(bytes: Buffer, contentType: string | undefined): unknown {
  if (!/^application\/json\s*(;|$)/i.test(contentType ?? '')) throw new BodyRefused(415, `expected Content-Type application/json, got ${JSON.stringify(contentType ?? '').slice(0, 80)}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BodyRefused(400, 'the review is not UTF-8');
  }
  try {
    return parseIJson(text);
  } catch (err) {
    throw new BodyRefused(400, `the review is not I-JSON: ${errorMessage(err).slice(0, 200)}`);
  }
}

/**
 * Decides one review and answers it. Never throws: anything that goes wrong is an
 * `allowed: false` answer (recorded when the node can record it).
 */
export async function answerReview(o: AdmissionServerOptions, mode: Mode, body: unknown, refused: BodyRefused | null): Promise<AdmissionReviewResponse> {
  const uid = reviewUid(body);
  const denyInvalid = async (status: number, message: string): Promise<AdmissionReviewResponse> => {
    const d = await o.node.deny(bestEffortRequest(body), 'request_invalid', message);
    const r = toReviewResponse(uid, d);
    // the cause's own code (413, 415, 400), unless the denial could not even be recorded (503)
    if (r.response.status && !d.reasons.includes('ledger_append_failed')) r.response.status.code = status;
    return r;
  };
  try {
    if (refused) return await denyInvalid(refused.status, refused.message);
    let review: AdmissionRequest;
    let mapped: Mapped;
    try {
      review = parseReview(body);
      mapped = toAuthorizeRequest(review, o.ttlSeconds === undefined ? {} : { ttlSeconds: o.ttlSeconds });
    } catch (err) {
      // both refuse with request_invalid (AdmissionReviewError, ProjectionError); anything else is a bug, answered below
      if (err instanceof WritError && err.code === 'request_invalid') return await denyInvalid(400, `malformed AdmissionReview: ${err.message}`);
      throw err;
    }
    const d: Decision = await o.node.authorize(mapped.request);
    // a patch only where there is an object to patch: DELETE and CONNECT objects are not persisted
    const patch = mode === 'mutate' && (review.operation === 'CREATE' || review.operation === 'UPDATE') && review.object !== null;
    return toReviewResponse(review.uid, d, { dryRun: review.dryRun, ...(patch && { patchObject: review.object }) });
  } catch (err) {
    o.onError?.(err);
    return failedResponse(uid, 500, `internal error: ${errorMessage(err)}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(o: AdmissionServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) {
    const r = o.node.readiness();
    send(res, r.ready ? 200 : 503, r);
    return;
  }
  const mode: Mode | null = path === '/validate' ? 'validate' : path === '/mutate' && o.mutating ? 'mutate' : null;
  if (mode === null || req.method !== 'POST') {
    req.resume();
    send(res, mode === null ? 404 : 405, { error: mode === null ? `no such route: ${req.method ?? ''} ${path ?? ''}`.slice(0, 200) : 'reviews are POSTed' });
    return;
  }
  let body: unknown = undefined;
  let refused: BodyRefused | null = null;
  try {
    body = parseBody(await readBody(req, o.maxBodyBytes ?? MAX_REVIEW_BYTES), req.headers['content-type']);
  } catch (err) {
    if (!(err instanceof BodyRefused)) throw err;
    refused = err;
  }
  // the API server reads the answer from a 200: a denial is `allowed: false`, not an HTTP error
  send(res, 200, await answerReview(o, mode, body, refused));
}

/** An HTTPS server for the webhook (not listening yet). */
export function createAdmissionServer(o: AdmissionServerOptions): Server {
  const server = createServer({ ...HTTP_SERVER_LIMITS, ...o.https }, (req, res) => {
    handle(o, req, res).catch((err: unknown) => {
      o.onError?.(err);
      // a connection already gone (the client hung up) has nobody to answer
      if (!res.headersSent && !res.destroyed) send(res, 200, failedResponse('', 500, `internal error: ${errorMessage(err)}`));
    });
  });
  // a client that does not speak TLS (plain HTTP to this port) is dropped at the handshake; nothing else to do
  server.on('tlsClientError', () => undefined);
  return server;
}

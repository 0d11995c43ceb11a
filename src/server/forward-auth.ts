/**
 * The HTTP gate's HTTP endpoints (docs/http-gateway.md), registered by buildApp when the
 * server is given a gate (`writ up --gate <file>`):
 *
 *   /v1/gate/http/forward-auth     nginx auth_request, Traefik ForwardAuth, Caddy forward_auth:
 *                                  a (usually GET) subrequest describing the original request in
 *                                  headers — X-Original-Method / X-Original-URI (nginx, set by
 *                                  the operator's proxy_set_header), X-Forwarded-Method /
 *                                  X-Forwarded-Uri / X-Forwarded-Host (Traefik, Caddy). No body:
 *                                  the writ's bodyDigest is null.
 *   /v1/gate/http/ext-authz/<path> Envoy's ext_authz HTTP service: the original method, the
 *                                  original path (and query) after the configured path_prefix
 *                                  `/v1/gate/http/ext-authz`, the original Host, the allowed
 *                                  headers, and with `with_request_body` the body, marked by
 *                                  `x-envoy-auth-partial-body` (a partial body is not bound).
 *
 * Answers: 200 with the writ in `x-writ` (the gateway copies it onto the upstream request)
 * and no body (nginx keeps an auth_request connection alive only then);
 * 403 with the reasons and decision id; 401 with WWW-Authenticate; 400 when the description
 * cannot be read; 5xx on an internal failure — all of which a gateway treats as "deny".
 * Every one is a recorded decision.
 */
import type { Span, Tracer } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GateAnswer, GateRequest, HttpGate } from '../enforce/http-gate/gate.ts';
import { bodyDigest, parseRequestTarget, WRIT_HEADER, type HttpFacts } from '../writ/http-request.ts';
import { DECIDE_SPAN, tracedRoute, traceRef } from '../telemetry/spans.ts';

export const FORWARD_AUTH_PATH = '/v1/gate/http/forward-auth';
export const EXT_AUTHZ_PREFIX = '/v1/gate/http/ext-authz';
/** Response headers that carry the decision id and reasons, for gateways that pass them to the client or logs. */
export const DECISION_ID_HEADER = 'x-writ-decision-id';
export const REASONS_HEADER = 'x-writ-reasons';
/** An allow's ledger index (its leaf), in a header: an allow has no body. */
export const LEDGER_INDEX_HEADER = 'x-writ-ledger-index';
/** The most body Envoy may forward (its with_request_body.max_request_bytes must not exceed it). */
export const MAX_GATE_BODY_BYTES = 1024 * 1024;
/** Envoy's mark on a check request that carries the client's body: "true" when it was cut short. */
export const ENVOY_PARTIAL_BODY = 'x-envoy-auth-partial-body';

const METHOD = /^[A-Za-z][A-Za-z0-9-]{0,31}$/;

function headerOf(req: FastifyRequest): (name: string) => string | undefined {
  return (name) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
}

/** One of two header spellings (nginx's or Traefik/Caddy's); both present and different is a contradiction, not a choice. */
function eitherHeader(header: (n: string) => string | undefined, a: string, b: string): { value: string | undefined } | { problem: string } {
  const x = header(a);
  const y = header(b);
  if (x !== undefined && y !== undefined && x !== y) return { problem: `${a} and ${b} disagree (${JSON.stringify(x)} vs ${JSON.stringify(y)})` };
  return { value: x ?? y };
}

/** The original request as an nginx / Traefik / Caddy subrequest describes it. */
export function forwardedRequest(header: (n: string) => string | undefined): GateRequest {
  const method = eitherHeader(header, 'x-original-method', 'x-forwarded-method');
  if ('problem' in method) return { problem: method.problem, header };
  const uri = eitherHeader(header, 'x-original-uri', 'x-forwarded-uri');
  if ('problem' in uri) return { problem: uri.problem, header, ...(method.value && { method: method.value }) };
  if (method.value === undefined || !METHOD.test(method.value)) {
    return { problem: 'the original method is missing or malformed: the gateway must send X-Original-Method (nginx) or X-Forwarded-Method (Traefik, Caddy)', header };
  }
  if (uri.value === undefined || uri.value === '') {
    return { problem: 'the original URI is missing: the gateway must send X-Original-URI (nginx: $request_uri) or X-Forwarded-Uri (Traefik, Caddy)', header, method: method.value };
  }
  const host = eitherHeader(header, 'x-original-host', 'x-forwarded-host');
  if ('problem' in host) return { problem: host.problem, header, method: method.value };
  const { path, query } = parseRequestTarget(uri.value);
  const facts: HttpFacts = { method: method.value.toUpperCase(), host: host.value ?? header('host') ?? '', path, query, bodyDigest: null };
  return { facts, header };
}

/** The original request as Envoy's ext_authz HTTP service sends it (method, prefixed path, Host, body). */
export async function envoyHttpRequest(req: FastifyRequest): Promise<GateRequest> {
  const header = headerOf(req);
  const url = req.url;
  if (!url.startsWith(EXT_AUTHZ_PREFIX)) return { problem: `the check request's path does not start with ${EXT_AUTHZ_PREFIX}`, header, method: req.method };
  const target = url.slice(EXT_AUTHZ_PREFIX.length);
  if (!target.startsWith('/')) return { problem: `the check request's path ${JSON.stringify(url)} has no original path after ${EXT_AUTHZ_PREFIX} (set path_prefix to exactly that)`, header, method: req.method };
  const { path, query } = parseRequestTarget(target);
  const partial = header(ENVOY_PARTIAL_BODY);
  let digest: string | null = null;
  // Envoy marks a check request that carries the client's body; a cut-short body is not the body
  if (partial === 'false') digest = await bodyDigest(Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array(0));
  const facts: HttpFacts = { method: req.method.toUpperCase(), host: header('host') ?? '', path, query, bodyDigest: digest };
  return { facts, header };
}

/** The gate's decision on a span: what a gateway's answer carries (the gate builds the request itself). */
export function markAnswer(span: Span, a: GateAnswer): void {
  span.setAttributes({
    'writ.decision_id': a.decisionId,
    'writ.decision': a.writ !== null ? 'allow' : 'deny',
    'writ.reasons': a.reasons,
    ...(a.policy && { 'writ.policy.version': a.policy.version, 'writ.policy.digest': a.policy.digest, 'writ.policy.domain': a.policy.domain }),
    ...(a.ledgerIndex !== null && { 'writ.ledger_index': a.ledgerIndex }),
  });
}

/**
 * How a denial is answered: with its JSON body (Traefik and Caddy pass the forward-auth
 * answer on to the client; Envoy's HTTP service too), or headers only. A check described with
 * nginx's headers (X-Original-URI) gets headers only: nginx never reads an auth_request
 * answer's body and closes the connection of one that has any, so every denial would cost a
 * new connection; the reason codes, the decision id and the ledger index are in the headers
 * either way.
 */
type DenyBody = 'json' | 'none';

async function reply(res: FastifyReply, a: GateAnswer, denyBody: DenyBody = 'json'): Promise<FastifyReply> {
  void res.code(a.status).header(DECISION_ID_HEADER, a.decisionId).header('cache-control', 'no-store');
  if (a.writ !== null) {
    // headers only, no body: nginx never reads an auth_request answer's body, and closes the
    // connection of one that has any (no keepalive: a new TCP connection per request)
    void res.header(WRIT_HEADER, a.writ);
    if (a.ledgerIndex !== null) void res.header(LEDGER_INDEX_HEADER, String(a.ledgerIndex));
    return res.send();
  }
  void res.header(REASONS_HEADER, a.reasons.join(','));
  if (a.challenge !== null) void res.header('www-authenticate', a.challenge);
  if (a.ledgerIndex !== null) void res.header(LEDGER_INDEX_HEADER, String(a.ledgerIndex));
  if (denyBody === 'none') return res.send();
  return res.send({ decision: 'deny', decisionId: a.decisionId, ledgerIndex: a.ledgerIndex, reasons: a.reasons, message: a.message });
}

/**
 * Registers the gate's endpoints, in a scope of their own: any content type, read as bytes.
 * With a tracer, each check is a writ.decide span continuing the check request's traceparent
 * (a gateway that traces sends its own), and the decision leaf records its ids.
 */
export async function registerForwardAuth(app: FastifyInstance, gate: HttpGate, tracer?: Tracer): Promise<void> {
  const forward = async (req: FastifyRequest, res: FastifyReply, span?: Span) =>
    answer(res, await gate.decide(forwardedRequest(headerOf(req)), span && traceRef(span)), span, req.headers['x-original-uri'] !== undefined ? 'none' : 'json');
  const envoy = async (req: FastifyRequest, res: FastifyReply, span?: Span) => answer(res, await gate.decide(await envoyHttpRequest(req), span && traceRef(span)), span);
  const traced = (h: typeof forward) => (tracer ? (req: FastifyRequest, res: FastifyReply) => tracedRoute(tracer, DECIDE_SPAN, req, res, (span) => h(req, res, span)) : h);
  await app.register(async (scope) => {
    // the check request's body is the client's, in whatever type it has: bytes, never parsed
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_GATE_BODY_BYTES }, (_req, body, done) => done(null, body));
    const schema = { hide: true };
    scope.all(FORWARD_AUTH_PATH, { schema }, traced(forward));
    scope.all(`${EXT_AUTHZ_PREFIX}/*`, { schema, bodyLimit: MAX_GATE_BODY_BYTES }, traced(envoy));
    // Envoy's check for the path "/" (path_prefix + "/") and a prefix without the slash
    scope.all(EXT_AUTHZ_PREFIX, { schema, bodyLimit: MAX_GATE_BODY_BYTES }, traced(envoy));
  });
}

function answer(res: FastifyReply, a: GateAnswer, span: Span | undefined, denyBody: DenyBody = 'json'): Promise<FastifyReply> {
  if (span) markAnswer(span, a);
  return reply(res, a, denyBody);
}

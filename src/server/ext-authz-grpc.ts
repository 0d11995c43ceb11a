/**
 * Envoy's ext_authz gRPC service, `envoy.service.auth.v3.Authorization/Check`, on @grpc/grpc-js
 * with Envoy's own protos (proto/, vendored verbatim). The CheckRequest's
 * `attributes.request.http` is the original request: method, host, path (with the query: Envoy
 * documents `query` as always empty), headers (or `header_map` with encode_raw_headers), and
 * with `with_request_body` the body (`raw_body` with pack_as_bytes, else `body` as UTF-8) plus
 * the `x-envoy-auth-partial-body` mark. The same HttpGate as the HTTP endpoints decides.
 *
 *   allow    status OK, ok_response.headers: x-writ (overwriting any the client sent), x-writ-decision-id
 *   401/403  status UNAUTHENTICATED / PERMISSION_DENIED, denied_response: that HTTP status,
 *            WWW-Authenticate (401), x-writ-decision-id, x-writ-reasons, a JSON body
 *   5xx      status UNAVAILABLE / INTERNAL with a denied_response of 503 / 500: a CheckResponse,
 *            not a gRPC error, so that Envoy denies even where failure_mode_allow is set
 *
 * With tracing on (docs/telemetry.md) each Check is a writ.decide span whose parent is the
 * traceparent of the Check call's own gRPC metadata (Envoy's ext_authz span, when Envoy traces),
 * else the one among the original request's headers; the decision leaf records the span.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import { loadSync } from '@grpc/proto-loader';
import type { GateAnswer, GateRequest, HttpGate } from '../enforce/http-gate/gate.ts';
import { errorMessage } from '../util.ts';
import { bodyDigest, parseRequestTarget, WRIT_HEADER } from '../writ/http-request.ts';
import { activeTracer } from '../telemetry/otel.ts';
import { DECIDE_SPAN, inSpan, startSpan, traceRef } from '../telemetry/spans.ts';
import { DECISION_ID_HEADER, ENVOY_PARTIAL_BODY, markAnswer, REASONS_HEADER } from './forward-auth.ts';

export const PROTO_DIR = join(import.meta.dirname, '..', '..', 'proto');
export const EXT_AUTHZ_PROTO = 'envoy/service/auth/v3/external_auth.proto';

/** google.rpc.Code values the answer uses. */
const RPC = { OK: 0, INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, UNAVAILABLE: 14, INTERNAL: 13, UNAUTHENTICATED: 16 } as const;

/** The parts of AttributeContext.HttpRequest the gate reads (proto-loader keepCase, bytes as Buffer). */
export interface EnvoyHttpRequest {
  method?: string;
  host?: string;
  path?: string;
  headers?: Record<string, string>;
  header_map?: { headers?: { key?: string; value?: string; raw_value?: Buffer | Uint8Array }[] };
  body?: string;
  raw_body?: Buffer | Uint8Array;
}

export interface CheckRequest {
  attributes?: { request?: { http?: EnvoyHttpRequest } };
}

interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: 'OVERWRITE_IF_EXISTS_OR_ADD';
}

export interface CheckResponse {
  status: { code: number; message: string };
  ok_response?: { headers: HeaderValueOption[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
}

/** The package definition of the Authorization service, from the vendored protos. */
export function loadExtAuthzPackage(): grpc.GrpcObject {
  const def = loadSync(EXT_AUTHZ_PROTO, { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
  return grpc.loadPackageDefinition(def);
}

function headerLookup(http: EnvoyHttpRequest): (name: string) => string | undefined {
  const map = new Map<string, string>();
  for (const [k, v] of Object.entries(http.headers ?? {})) map.set(k.toLowerCase(), v);
  // encode_raw_headers: repeated, not merged; merged here as the HTTP spec merges them
  for (const h of http.header_map?.headers ?? []) {
    if (!h.key) continue;
    const v = h.raw_value !== undefined && h.raw_value.length > 0 ? new TextDecoder().decode(h.raw_value) : (h.value ?? '');
    const k = h.key.toLowerCase();
    map.set(k, map.has(k) ? `${map.get(k)}, ${v}` : v);
  }
  return (name) => map.get(name);
}

/** The gate's request from a CheckRequest, exactly as Envoy fills it. */
export async function checkRequestFacts(req: CheckRequest): Promise<GateRequest> {
  const http = req.attributes?.request?.http;
  const header = headerLookup(http ?? {});
  if (!http) return { problem: 'the CheckRequest has no attributes.request.http', header };
  const method = http.method ?? header(':method');
  if (!method || !/^[A-Za-z][A-Za-z0-9-]{0,31}$/.test(method)) return { problem: 'the CheckRequest has no HTTP method', header };
  const target = http.path ?? header(':path');
  if (!target) return { problem: 'the CheckRequest has no HTTP path', header, method };
  const { path, query } = parseRequestTarget(target);
  let digest: string | null = null;
  // the body is bound only when Envoy says it sent all of it
  if (header(ENVOY_PARTIAL_BODY) === 'false') {
    const raw = http.raw_body !== undefined && http.raw_body.length > 0 ? new Uint8Array(http.raw_body) : new TextEncoder().encode(http.body ?? '');
    digest = await bodyDigest(raw);
  }
  return { facts: { method: method.toUpperCase(), host: http.host ?? header(':authority') ?? header('host') ?? '', path, query, bodyDigest: digest }, header };
}

const set = (key: string, value: string): HeaderValueOption => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });

export function checkResponse(a: GateAnswer): CheckResponse {
  if (a.status === 200 && a.writ !== null) {
    return { status: { code: RPC.OK, message: '' }, ok_response: { headers: [set(WRIT_HEADER, a.writ), set(DECISION_ID_HEADER, a.decisionId)] } };
  }
  const code = a.status === 401 ? RPC.UNAUTHENTICATED : a.status === 403 ? RPC.PERMISSION_DENIED : a.status === 400 ? RPC.INVALID_ARGUMENT : a.status === 503 ? RPC.UNAVAILABLE : RPC.INTERNAL;
  const headers = [set('content-type', 'application/json'), set(DECISION_ID_HEADER, a.decisionId), set(REASONS_HEADER, a.reasons.join(','))];
  if (a.challenge !== null) headers.push(set('www-authenticate', a.challenge));
  const body = JSON.stringify({ decision: 'deny', decisionId: a.decisionId, ledgerIndex: a.ledgerIndex, reasons: a.reasons, message: a.message });
  return { status: { code, message: a.message }, denied_response: { status: { code: a.status }, headers, body } };
}

function internalError(err: unknown): CheckResponse {
  const message = `internal error: ${errorMessage(err)}`;
  const headers = [set('content-type', 'application/json'), set(REASONS_HEADER, 'internal_error')];
  return { status: { code: RPC.INTERNAL, message }, denied_response: { status: { code: 500 }, headers, body: JSON.stringify({ decision: 'deny', reasons: ['internal_error'], message }) } };
}

export interface ExtAuthzServer {
  /** the bound port */
  port: number;
  close(): Promise<void>;
}

/**
 * The W3C trace context of a Check: the call's gRPC metadata (Envoy's own span for the check),
 * else the original request's headers (the client's); the pair is taken from one place only.
 */
export function checkTraceCarrier(metadata: grpc.Metadata, req: CheckRequest): Record<string, string> {
  const meta = (k: string) => {
    const v = metadata.get(k)[0];
    return typeof v === 'string' ? v : undefined;
  };
  const fromMeta = meta('traceparent');
  if (fromMeta !== undefined) return { traceparent: fromMeta, ...(meta('tracestate') !== undefined && { tracestate: meta('tracestate') as string }) };
  const header = headerLookup(req.attributes?.request?.http ?? {});
  const parent = header('traceparent');
  const state = header('tracestate');
  return parent === undefined ? {} : { traceparent: parent, ...(state !== undefined && { tracestate: state }) };
}

/** One Check: the gate's answer, in a writ.decide span when tracing is on. */
async function check(gate: HttpGate, call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, tracer: Tracer | undefined): Promise<CheckResponse> {
  if (!tracer) return checkResponse(await gate.decide(await checkRequestFacts(call.request)));
  const span = startSpan(tracer, DECIDE_SPAN, checkTraceCarrier(call.metadata, call.request), { 'rpc.system': 'grpc', 'rpc.service': 'envoy.service.auth.v3.Authorization', 'rpc.method': 'Check' });
  return inSpan(span, async () => {
    const a = await gate.decide(await checkRequestFacts(call.request), traceRef(span));
    markAnswer(span, a);
    span.setAttribute('http.response.status_code', a.status);
    return checkResponse(a);
  });
}

/**
 * Serves Authorization/Check on host:port (plaintext: a sidecar or loopback listener,
 * docs/http-gateway.md); `tracer` defaults to the process's (activeTracer: none when tracing is off).
 */
export async function startExtAuthzGrpc(gate: HttpGate, o: { host: string; port: number; tracer?: Tracer }): Promise<ExtAuthzServer> {
  const tracer = o.tracer ?? activeTracer();
  const pkg = loadExtAuthzPackage() as unknown as { envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } } };
  const server = new grpc.Server();
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, callback: grpc.sendUnaryData<CheckResponse>) => {
      check(gate, call, tracer)
        .then((r) => callback(null, r))
        .catch((err: unknown) => callback(null, internalError(err)));
    },
  });
  const host = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${o.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  return {
    port,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/**
 * The HTTP API of an embedded node (`writ up`), on Fastify. Every body is validated
 * against a JSON Schema (no coercion, no silently dropped fields); malformed or
 * oversized input gets a 4xx JSON error and changes nothing; no error path allows.
 * The OpenAPI document is generated from the same schemas and served at /openapi.json.
 */
import { timingSafeEqual } from 'node:crypto';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { JSONWebKeySet } from 'jose';
import type { Ledger } from '../ledger/ledger.ts';
import type { TransparencyLog } from '../ledger/log.ts';
import { revoke } from '../node/evidence.ts';
import type { Decision, GovernanceNode } from '../node/node.ts';
import type { NodeState, RevocationKind } from '../node/state.ts';
import { MAX_BUNDLE_BYTES } from '../policy/manifest.ts';
import { BundleError, DenyError } from '../reasons.ts';
import { evaluatedOf } from '../node/evaluated.ts';
import { errorMessage, sha256Hex } from '../util.ts';
import { ijsonProblemOfParsed } from '../writ/i-json.ts';
import { WritVerificationError } from '../writ/verify.ts';
import { registerLogRoutes, type CosignedNotes } from './log-routes.ts';
import { nodeConsoleSource } from '../console/node-source.ts';
import type { RunningRegistry } from '../node/running.ts';
import { registerConsole } from '../console/routes.ts';
import { registerExplainRoutes } from '../console/explain-routes.ts';
import { registerDemoRoutes } from '../console/demo-routes.ts';
import type { DemoRunner } from '../demo/runner.ts';
import type { DecisionStats } from '../telemetry/decision-stats.ts';
import { SOFTWARE_VERSION } from '../version.ts';
import { SqliteNodeState } from '../node/sqlite-state.ts';
import { homeCallerAccess } from './caller-access.ts';
import { checkCaller, type CallerAccess, type CallerCheck } from './caller-auth.ts';
import { installJsonErrors } from './errors.ts';
import { FASTIFY_LIMITS } from './http-limits.ts';
import { nodeMetrics } from './metrics.ts';
import { registerOutcomeRoute } from './outcome-route.ts';
import { registerForwardAuth } from './forward-auth.ts';
import type { HttpGate } from '../enforce/http-gate/gate.ts';
import { embeddedRevocationList, registerRevocationListRoute } from './revocation-list-route.ts';
import type { SignedRevocationList } from '../node/revocation-list.ts';
import { authorizeBody, authorizeResponses, revokeBody, verifyBody } from './schemas.ts';
import type { Span, Tracer } from '@opentelemetry/api';
import type { TraceRef } from '../node/types.ts';
import { activeTracer } from '../telemetry/otel.ts';
import { DECIDE_SPAN, markDecision, tracedRoute, traceRef, VERIFY_SPAN } from '../telemetry/spans.ts';

export const MAX_BODY_BYTES = 64 * 1024;

/** Routes that record a body the I-JSON rule refuses as a request_invalid decision (the others answer 400). */
const RECORDS_REFUSED_BODIES = new Set(['/v1/authorize']);
/** why the I-JSON rule refused a request's body (docs/json.md), for the route that records it */
const refusedBodies = new WeakMap<FastifyRequest, string>();

export interface AppDeps {
  node: GovernanceNode;
  ledger: Ledger;
  state: NodeState;
  jwks: JSONWebKeySet;
  adminTokenSha256: string;
  log: TransparencyLog;
  logger?: boolean;
  /** spans for decisions, verifications and outcomes (docs/telemetry.md); default the tracing the process started, none when it is off */
  tracer?: Tracer;
  /** fleet nodes: version, beacon age and readiness, for the console's health page */
  nodeStatus?: () => Record<string, unknown>;
  /** the fleet this node belongs to, if any */
  fleet?: string;
  /** where the built console is (default dist/console) */
  consoleAssets?: string;
  /** decision statistics already kept for this node (a fleet node's), shared with the console */
  stats?: DecisionStats;
  /** who may call the decision routes (default: the callers in the state's database; none if it has none) */
  callers?: CallerAccess;
  /** serve HTTPS (e.g. with `requestCert` for TLS client certificates as caller credentials) */
  https?: HttpsServerOptions;
  /** the signed revocation list GET /v1/revocations serves (default: signed by this node; a fleet node relays the authority's) */
  revocationList?: () => Promise<SignedRevocationList>;
  /** the home's running executions (issue 13), for the console's Running page; none without it */
  running?: RunningRegistry;
  /** the HTTP gate (forward-auth and Envoy ext_authz endpoints, docs/http-gateway.md); none without it */
  gate?: HttpGate;
  /** the Runtime Governance Demo (`writ up --demo`): its routes and the console's Demo page; none without it */
  demo?: DemoRunner;
  /** the log's witnesses (`writ up --witness`): the checkpoint is served with their cosignatures; none without it */
  witnesses?: CosignedNotes;
}

function decisionBody(d: Decision) {
  const common = { decision: d.decision, decisionId: d.decisionId, policies: d.policies, ledgerIndex: d.ledgerIndex, reasons: d.reasons, evaluated: evaluatedOf(d) };
  return d.decision === 'allow' ? { ...common, writ: d.writ, claims: d.claims } : { ...common, errors: d.errors, message: d.message };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { node, ledger, state } = deps;
  // fail closed: a state without a database has no callers, and every decision route answers 401
  const callers = deps.callers ?? (state instanceof SqliteNodeState ? homeCallerAccess(state.database) : null);
  const app = Fastify({
    ...(deps.https && { https: deps.https }),
    logger: deps.logger ?? false,
    bodyLimit: MAX_BODY_BYTES,
    // slow or unfinished requests are cut off (header, request and idle timeouts, header size)
    ...FASTIFY_LIMITS,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });
  const metrics = nodeMetrics(node);
  // JSON only: text/plain is a CORS-simple type a browser page could send cross-origin.
  app.removeContentTypeParser('text/plain');
  // Bodies are I-JSON (docs/json.md): a number a double cannot hold exactly (9007199254740993
  // reads as …992), a lone surrogate or a duplicate member would be decided as another
  // request than the one sent. Fastify's parser runs first (empty bodies, proto poisoning).
  const fastifyJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    fastifyJson(req, text, (err, value) => {
      if (err) return done(err, undefined);
      // Fastify's JSON.parse accepted the text: scan it, do not parse it again
      const problem = ijsonProblemOfParsed(text);
      if (problem !== null) {
        if (!RECORDS_REFUSED_BODIES.has(req.routeOptions.url ?? '')) return done(Object.assign(new Error(`request body is ${problem}`), { statusCode: 400 }), undefined);
        refusedBodies.set(req, `request body is ${problem}`);
      }
      done(null, value);
    });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Writ node API', version: '1', description: 'Execution governance: no writ, no execution.' },
      components: { securitySchemes: { admin: { type: 'http', scheme: 'bearer', description: 'admin credential (keys/admin.token)' } } },
    },
  });

  installJsonErrors(app);

  const requireAdmin = async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const given = Buffer.from(sha256Hex(token), 'hex');
    const expected = Buffer.from(deps.adminTokenSha256, 'hex');
    if (token === '' || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'admin credential required' });
    }
  };

  /** A refused caller is a recorded denial; a 401 names the scheme to authenticate with. */
  const refuseCaller = async (reply: FastifyReply, who: Extract<CallerCheck, { ok: false }>, asked: { principal: string; action: string; resource: string; trace?: TraceRef }): Promise<Decision> => {
    if (who.status === 401) void reply.header('www-authenticate', 'Bearer');
    return node.deny(asked, who.code, who.message);
  };

  // with tracing off, the plain handlers are registered: no span, no trace context, per request
  const tracer = deps.tracer ?? activeTracer();

  /** `span`: the writ.decide span (tracing on), whose ids the decision leaf records as `trace` */
  const authorize = async (req: FastifyRequest, reply: FastifyReply, span?: Span) => {
    const body = req.body as Parameters<GovernanceNode['authorize']>[0];
    // from the traceparent header, never from the body (the schema refuses a `trace` member)
    const trace = span && traceRef(span);
    const who = await checkCaller(callers, req, 'authorize', body.principal);
    if (!who.ok) {
      const d = await refuseCaller(reply, who, { principal: body.principal, action: body.action, resource: body.resource, ...(trace && { trace }) });
      if (span) markDecision(span, d, body);
      return reply.code(d.reasons.includes('ledger_append_failed') ? 503 : who.status).send(decisionBody(d));
    }
    // a body refused as I-JSON is recorded, never evaluated: its arguments are not what was sent
    const refused = refusedBodies.get(req);
    // a caller named by a verified bearer JWT: the writ records that token (idt), never anything the body says
    const token = who.caller?.token;
    const d = refused === undefined ? await node.authorize({ ...body, ...(trace && { trace }), ...(token && { identityToken: token }) }) : await node.deny({ principal: body.principal, action: body.action, resource: body.resource, ...(trace && { trace }) }, 'request_invalid', refused);
    if (span) markDecision(span, d, body);
    return reply.code(d.decision === 'allow' ? 200 : d.reasons.includes('ledger_append_failed') ? 503 : 403).send(decisionBody(d));
  };
  app.post('/v1/authorize', { schema: { body: authorizeBody, response: authorizeResponses, tags: ['decisions'] } }, tracer ? (req, reply) => tracedRoute(tracer, DECIDE_SPAN, req, reply, (span) => authorize(req, reply, span)) : authorize);

  const verify = async (req: FastifyRequest, reply: FastifyReply, span?: Span) => {
    const b = req.body as { writ: string; args?: object; audience: string; consume: boolean; expect?: { action?: string; resource?: string } };
    span?.setAttributes({ 'writ.audience': b.audience, 'writ.consume': b.consume });
    // only an enforcement point verifies: an agent consuming its own writ would get the outcome token
    const who = await checkCaller(callers, req, 'verify');
    if (!who.ok) {
      const trace = span && traceRef(span);
      await refuseCaller(reply, who, { principal: who.caller, action: 'Action::"writ/verify"', resource: b.audience, ...(trace && { trace }) });
      span?.setAttributes({ 'writ.verify.valid': false, 'writ.verify.reason': who.code });
      return reply.code(who.status).send({ valid: false, reason: who.code, message: who.message });
    }
    try {
      const audience = b.audience;
      const { claims } = await node.verify(b.writ, { audience, args: b.args ?? {}, consume: b.consume, ...(b.expect && { expect: b.expect }) });
      span?.setAttributes({ 'writ.verify.valid': true, 'writ.jti': claims.jti, 'writ.decision_index': claims.led });
      // the enforcement point that used the writ, and only it, can report what happened
      return b.consume ? { valid: true, claims, outcomeToken: state.issueOutcomeToken(claims.jti, claims.exp) } : { valid: true, claims };
    } catch (err) {
      if (!(err instanceof WritVerificationError)) throw err;
      span?.setAttributes({ 'writ.verify.valid': false, 'writ.verify.reason': err.code });
      return reply.code(403).send({ valid: false, reason: err.code, message: err.message });
    }
  };
  app.post('/v1/verify', { schema: { body: verifyBody, tags: ['decisions'] } }, tracer ? (req, reply) => tracedRoute(tracer, VERIFY_SPAN, req, reply, (span) => verify(req, reply, span)) : verify);

  registerOutcomeRoute(app, { node, ledger, state, jwks: deps.jwks, callers, refuseCaller, ...(tracer && { tracer }) });
  registerRevocationListRoute(app, deps.revocationList ?? embeddedRevocationList(node, state));

  app.post('/v1/revoke', { schema: { body: revokeBody, tags: ['admin'], security: [{ admin: [] }] }, onRequest: requireAdmin }, async (req, reply) => {
    const b = req.body as { kind: RevocationKind; value: string; reason: string };
    const r = await revoke(ledger, state, { kind: b.kind, value: b.value, reason: b.reason, by: 'http-admin' });
    return reply.code(r.created ? 201 : 200).send({ revoked: true, kind: b.kind, value: b.value, ...r });
  });

  app.post(
    '/v1/bundles',
    { bodyLimit: MAX_BUNDLE_BYTES, schema: { body: { type: 'object', required: ['format', 'manifest', 'files'] }, tags: ['admin'], security: [{ admin: [] }] }, onRequest: requireAdmin },
    async (req, reply) => {
      try {
        // A home whose active bundle cannot be loaded (tampered below its floor, say) is repaired
        // by activating a version above the floor: activate re-checks the floor itself.
        await node.policy.refresh().catch(() => undefined);
        const { bundle, ledgerIndex } = await node.policy.activate(new TextEncoder().encode(JSON.stringify(req.body)));
        return reply.code(201).send({ activated: true, domain: bundle.manifest.domain, version: bundle.manifest.version, digest: bundle.digest, ledgerIndex });
      } catch (err) {
        if (err instanceof BundleError) return reply.code(err.code === 'ledger_append_failed' ? 503 : 422).send({ activated: false, reason: err.code, message: err.message });
        throw err;
      }
    },
  );

  app.get('/.well-known/jwks.json', { schema: { tags: ['keys'] } }, async () => deps.jwks);
  app.get('/healthz', { schema: { tags: ['health'] } }, async () => ({ ok: true }));
  app.get('/readyz', { schema: { tags: ['health'] } }, async (_req, reply) => {
    try {
      await node.policy.refresh();
    } catch (err) {
      const reason = err instanceof DenyError || err instanceof BundleError ? err.code : 'bundle_malformed';
      return reply.code(503).send({ ready: false, reason, message: errorMessage(err) });
    }
    const r = node.readiness();
    if (!r.ready) return reply.code(503).send({ ready: false, reason: r.reason, message: r.message, ...(r.reason === 'bundle_expired' && r.bundle && { expires: r.bundle.expires }) });
    return { ready: true, ...r.bundle };
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerLogRoutes(app, { log: deps.log, ledger, ...(deps.witnesses && { witnesses: deps.witnesses }) });
  if (deps.gate) await registerForwardAuth(app, deps.gate, tracer);
  const source = nodeConsoleSource({
    node,
    ledger,
    state,
    log: deps.log,
    software: SOFTWARE_VERSION,
    ...(deps.nodeStatus && { nodeStatus: deps.nodeStatus }),
    ...(deps.fleet && { fleet: deps.fleet }),
    ...(deps.stats && { stats: deps.stats }),
    ...(deps.running && { running: deps.running }),
    ...(deps.demo && { demo: true }),
  });
  if (deps.demo) await registerDemoRoutes(app, { runner: deps.demo, adminTokenSha256: deps.adminTokenSha256 });
  await registerExplainRoutes(app, { ledger, bundles: state, active: () => node.policy.active });
  await registerConsole(app, { source, adminTokenSha256: deps.adminTokenSha256, ...(deps.consoleAssets && { consoleAssets: deps.consoleAssets }) });
  return app;
}

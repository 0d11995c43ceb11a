/**
 * Issue 17, point 4: OpenTelemetry. Decisions, verifications and outcomes over HTTP emit spans
 * (in process: an InMemorySpanExporter through a SimpleSpanProcessor), an incoming W3C
 * traceparent is continued, the decision leaf records the deciding span's ids, nothing of it
 * happens with tracing off, and the OTLP/HTTP exporter posts to a collector's /v1/traces.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { FastifyInstance } from 'fastify';
import { readGateConfig } from '../src/enforce/http-gate/config.ts';
import { HttpGate } from '../src/enforce/http-gate/gate.ts';
import { replayDecisions } from '../src/node/replay.ts';
import { buildApp } from '../src/server/app.ts';
import { activeTracer, startTracing, tracesUrl, tracingRequested, type Tracing } from '../src/telemetry/otel.ts';
import { gateConfigFile, HTTP_POLICY, startIssuer, type Issuer } from './forward-auth-fixture.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';
import { AUD, auth, makeApp, READ, withTestCaller, WRITE, type DecisionBody } from './server-fixture.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;

interface TracedLeaf {
  id: string;
  v: number;
  trace?: { traceId: string; spanId: string };
  result: { decision: string; reasons: string[] };
}

function leaf(f: Fixture, index: number | null): TracedLeaf {
  assert.ok(index !== null, 'the decision was recorded');
  const e = f.ledger.entry(index);
  assert.ok(e);
  return JSON.parse(new TextDecoder().decode(e.leaf)) as TracedLeaf;
}

const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);

describe('OpenTelemetry: spans on the HTTP API', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;

  before(async () => {
    f = await fixture();
    exporter = new InMemorySpanExporter();
    const started = startTracing({ exporter, simple: true, serviceName: 'writ-test' });
    assert.ok(started);
    tracing = started;
    app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, tracer: tracing.tracer }), f.db);
  });
  after(async () => {
    await app.close();
    await tracing.shutdown();
    f.cleanup();
  });

  const post = (url: string, payload: object, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, headers: { ...auth(app), ...headers }, payload });

  it('an allow and a deny are writ.decide spans with the decision id, reasons, policy and request; the leaf records the span', async () => {
    exporter.reset();
    const allow = (await post('/v1/authorize', { ...READ, args: { path: '/srv/a.txt' } })).json<DecisionBody>();
    const deny = (await post('/v1/authorize', { ...WRITE, args: { path: '/srv/x' } })).json<DecisionBody>();
    assert.equal(allow.decision, 'allow');
    assert.equal(deny.decision, 'deny');
    const spans = named(exporter.getFinishedSpans(), 'writ.decide');
    assert.equal(spans.length, 2);
    const [a, d] = spans as [ReadableSpan, ReadableSpan];
    const active = f.node.policy.active;
    assert.ok(active);
    assert.deepEqual(
      { ...a.attributes },
      {
        'writ.decision_id': allow.decisionId,
        'writ.decision': 'allow',
        'writ.reasons': ['policy_permit'],
        'writ.policy.version': active.bundle.manifest.version,
        'writ.policy.digest': active.bundle.digest,
        'writ.policy.domain': active.bundle.manifest.domain,
        'writ.principal': READ.principal,
        'writ.action': READ.action,
        'writ.resource': READ.resource,
        'writ.ledger_index': allow.ledgerIndex,
        'writ.jti': allow.claims?.jti,
        'http.response.status_code': 200,
      },
    );
    assert.equal(d.attributes['writ.decision'], 'deny');
    assert.equal(d.attributes['writ.decision_id'], deny.decisionId);
    assert.deepEqual(d.attributes['writ.reasons'], deny.reasons);
    assert.equal(d.attributes['writ.resource'], WRITE.resource);
    assert.equal(d.attributes['http.response.status_code'], 403);
    assert.equal(d.attributes['writ.jti'], undefined, 'a deny has no writ');
    // no traceparent: each decision is a trace of its own, and its leaf names the span that decided
    assert.equal(a.parentSpanContext, undefined);
    assert.notEqual(a.spanContext().traceId, d.spanContext().traceId);
    for (const [span, body] of [[a, allow], [d, deny]] as const) {
      const l = leaf(f, body.ledgerIndex);
      assert.equal(l.id, body.decisionId);
      assert.deepEqual(l.trace, { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
      assert.equal(l.v, 1, 'an optional, informational member: no version bump');
    }
    assert.equal(a.resource.attributes['service.name'], 'writ-test');
  });

  it('an incoming traceparent is continued: same trace id, the caller span as parent, and the leaf joins the trace', async () => {
    exporter.reset();
    const r = await post('/v1/authorize', { ...READ, args: { path: '/srv/b.txt' } }, { traceparent: TRACEPARENT });
    const body = r.json<DecisionBody>();
    assert.equal(body.decision, 'allow');
    const [span] = named(exporter.getFinishedSpans(), 'writ.decide');
    assert.ok(span);
    assert.equal(span.spanContext().traceId, TRACE_ID);
    assert.equal(span.parentSpanContext?.spanId, PARENT_SPAN);
    assert.equal(span.parentSpanContext?.isRemote, true);
    assert.notEqual(span.spanContext().spanId, PARENT_SPAN, 'the decision is a span of its own');
    assert.deepEqual(leaf(f, body.ledgerIndex).trace, { traceId: TRACE_ID, spanId: span.spanContext().spanId });
  });

  it('a malformed traceparent starts a new trace (never a reason to refuse)', async () => {
    exporter.reset();
    const r = await post('/v1/authorize', { ...READ, args: { path: '/srv/c.txt' } }, { traceparent: `00-${'0'.repeat(32)}-${PARENT_SPAN}-01` });
    assert.equal(r.statusCode, 200);
    const [span] = named(exporter.getFinishedSpans(), 'writ.decide');
    assert.ok(span);
    assert.equal(span.parentSpanContext, undefined);
    assert.notEqual(span.spanContext().traceId, '0'.repeat(32));
  });

  it('a caller cannot set the leaf\'s trace: the body schema refuses a `trace` member and nothing is recorded', async () => {
    const before = f.ledger.size();
    const r = await post('/v1/authorize', { ...READ, args: { path: '/srv/d.txt' }, trace: { traceId: TRACE_ID, spanId: PARENT_SPAN } });
    assert.equal(r.statusCode, 400);
    assert.equal(f.ledger.size(), before);
  });

  it('a refused caller is a traced denial too', async () => {
    exporter.reset();
    const r = await app.inject({ method: 'POST', url: '/v1/authorize', headers: { traceparent: TRACEPARENT }, payload: { ...READ, args: {} } });
    assert.equal(r.statusCode, 401);
    const body = r.json<DecisionBody>();
    const [span] = named(exporter.getFinishedSpans(), 'writ.decide');
    assert.ok(span);
    assert.equal(span.attributes['writ.decision'], 'deny');
    assert.equal(span.attributes['writ.decision_id'], body.decisionId);
    assert.equal(leaf(f, body.ledgerIndex).trace?.traceId, TRACE_ID);
  });

  it('verification and the outcome are writ.verify and writ.outcome spans with the jti, result and status', async () => {
    const allow = (await post('/v1/authorize', { ...READ, args: { path: '/srv/o.txt' } })).json<DecisionBody>();
    const jti = allow.claims?.jti;
    assert.ok(jti && allow.writ);
    exporter.reset();
    const used = await post('/v1/verify', { writ: allow.writ, audience: AUD, args: { path: '/srv/o.txt' } }, { traceparent: TRACEPARENT });
    assert.equal(used.statusCode, 200);
    const again = await post('/v1/verify', { writ: allow.writ, audience: AUD, args: { path: '/srv/o.txt' } });
    assert.equal(again.statusCode, 403);
    const { outcomeToken } = used.json<{ outcomeToken: string }>();
    const out = await post('/v1/outcome', { writ: allow.writ, outcomeToken, status: 'ok', exitCode: 0, durationMs: 3 }, { traceparent: TRACEPARENT });
    assert.equal(out.statusCode, 201);
    const spans = exporter.getFinishedSpans();
    const [ok, replayed] = named(spans, 'writ.verify');
    assert.ok(ok && replayed);
    assert.equal(ok.spanContext().traceId, TRACE_ID);
    assert.equal(ok.attributes['writ.jti'], jti);
    assert.equal(ok.attributes['writ.verify.valid'], true);
    assert.equal(ok.attributes['writ.decision_index'], allow.ledgerIndex);
    assert.equal(replayed.attributes['writ.verify.valid'], false);
    assert.equal(replayed.attributes['writ.verify.reason'], again.json<{ reason: string }>().reason);
    assert.equal(replayed.attributes['http.response.status_code'], 403);
    const [outcome] = named(spans, 'writ.outcome');
    assert.ok(outcome);
    assert.equal(outcome.spanContext().traceId, TRACE_ID);
    assert.equal(outcome.attributes['writ.jti'], jti);
    assert.equal(outcome.attributes['writ.outcome.status'], 'ok');
    assert.equal(outcome.attributes['writ.ledger_index'], out.json<{ ledgerIndex: number }>().ledgerIndex);
  });

  it('traced leaves replay like any other (the trace is not part of what was decided)', async () => {
    const report = await replayDecisions(f.ledger, f.state, f.trust);
    assert.ok(report.replayed >= 3);
    assert.deepEqual(report.differences, []);
  });
});

describe('OpenTelemetry: off by default', () => {
  it('is requested by --otel or an OTLP endpoint variable, never with OTEL_SDK_DISABLED=true', () => {
    assert.equal(tracingRequested({ env: {} }), false);
    assert.equal(tracingRequested({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' } }), false);
    assert.equal(tracingRequested({ otel: true, env: {} }), true);
    assert.equal(tracingRequested({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' } }), true);
    assert.equal(tracingRequested({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' } }), true);
    assert.equal(tracingRequested({ otel: true, env: { OTEL_SDK_DISABLED: 'true' } }), false);
    assert.equal(startTracing({ env: {} }), null);
    assert.equal(activeTracer(), undefined);
  });

  it('the traces URL: --otel endpoint, else the traces variable as given, else the endpoint variable + /v1/traces, else localhost:4318', () => {
    assert.equal(tracesUrl({ otel: 'http://c:1/', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' } }), 'http://c:1/v1/traces');
    assert.equal(tracesUrl({ otel: true, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' } }), 'http://t/custom');
    assert.equal(tracesUrl({ otel: true, env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' } }), 'http://x:4318/v1/traces');
    assert.equal(tracesUrl({ otel: true, env: {} }), 'http://localhost:4318/v1/traces');
  });

  it('without tracing, a traceparent changes nothing: no span, no trace member in the leaf', async () => {
    const f = await fixture();
    const exporter = new InMemorySpanExporter(); // registered nowhere: proves only that nothing global picked spans up
    const app = await makeApp(f);
    try {
      assert.equal(activeTracer(), undefined);
      const r = await app.inject({ method: 'POST', url: '/v1/authorize', headers: { ...auth(app), traceparent: TRACEPARENT }, payload: { ...READ, args: { path: '/srv/a.txt' } } });
      const body = r.json<DecisionBody>();
      assert.equal(body.decision, 'allow');
      const l = leaf(f, body.ledgerIndex);
      assert.equal('trace' in l, false);
      assert.equal(exporter.getFinishedSpans().length, 0);
    } finally {
      await app.close();
      f.cleanup();
    }
  });
});

describe('OpenTelemetry: the forward-auth gate', () => {
  let f: Fixture;
  let idp: Issuer;
  let app: FastifyInstance;
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  before(async () => {
    f = await fixture({ policyDir: policyFolder(HTTP_POLICY) });
    idp = await startIssuer();
    const gate = new HttpGate({ node: f.node, ledger: f.ledger, config: readGateConfig(gateConfigFile(idp)) });
    const started = startTracing({ exporter, simple: true });
    assert.ok(started);
    tracing = started;
    app = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, gate, tracer: tracing.tracer });
  });
  after(async () => {
    await app.close();
    await tracing.shutdown();
    await new Promise((r) => idp.server.close(r));
    f.cleanup();
  });

  it('a check is a writ.decide span continuing the gateway\'s traceparent, and its leaf records it', async () => {
    const r = await app.inject({ method: 'GET', url: '/v1/gate/http/forward-auth', headers: { 'x-original-method': 'GET', 'x-original-uri': '/billing/x', traceparent: TRACEPARENT } });
    assert.equal(r.statusCode, 401);
    const decisionId = r.headers['x-writ-decision-id'];
    const [span] = named(exporter.getFinishedSpans(), 'writ.decide');
    assert.ok(span);
    assert.equal(span.spanContext().traceId, TRACE_ID);
    assert.equal(span.parentSpanContext?.spanId, PARENT_SPAN);
    assert.equal(span.attributes['writ.decision_id'], decisionId);
    assert.equal(span.attributes['writ.decision'], 'deny');
    assert.deepEqual(span.attributes['writ.reasons'], ['http_credential_missing']);
    const index = span.attributes['writ.ledger_index'];
    assert.equal(typeof index, 'number');
    const l = leaf(f, index as number);
    assert.equal(l.id, decisionId);
    assert.deepEqual(l.trace, { traceId: TRACE_ID, spanId: span.spanContext().spanId });
  });
});

describe('OpenTelemetry: the OTLP/HTTP exporter', () => {
  it('posts the spans to <endpoint>/v1/traces, flushed on shutdown', async () => {
    const received: { method: string; url: string; type: string; body: string }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', type: String(req.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const f = await fixture();
    const port = (collector.address() as AddressInfo).port;
    const tracing = startTracing({ otel: `http://127.0.0.1:${port}`, env: {}, serviceName: 'writ-otlp-test' });
    assert.ok(tracing);
    assert.equal(tracing.endpoint, `http://127.0.0.1:${port}/v1/traces`);
    const app = withTestCaller(await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log }), f.db);
    try {
      // no tracer handed over: the app uses the tracing this process started
      assert.equal(activeTracer(), tracing.tracer);
      const r = await app.inject({ method: 'POST', url: '/v1/authorize', headers: auth(app), payload: { ...READ, args: { path: '/srv/a.txt' } } });
      const body = r.json<DecisionBody>();
      assert.equal(received.length, 0, 'batched, not sent per decision');
      await tracing.shutdown();
      assert.equal(activeTracer(), undefined);
      const post = received.find((x) => x.url === '/v1/traces');
      assert.ok(post, `a POST to /v1/traces arrived (got ${JSON.stringify(received.map((x) => x.url))})`);
      assert.equal(post.method, 'POST');
      assert.match(post.type, /application\/json/);
      assert.ok(post.body.includes('writ.decide'), 'the span is in the export');
      assert.ok(post.body.includes(body.decisionId), 'with its decision id');
      assert.ok(post.body.includes('writ-otlp-test'), 'and the service name');
    } finally {
      await tracing.shutdown();
      await app.close();
      await new Promise((r) => collector.close(r));
      f.cleanup();
    }
  });
});

/**
 * Issue 17, point 4, the two paths otel.test.ts and otel-mcp.test.ts leave out: Envoy's
 * ext_authz gRPC Check is a writ.decide span (the traceparent of the call's gRPC metadata,
 * else of the original request's headers, is continued; the leaf records the span), and an
 * MCP call's outcome, when the proxy records it, is a writ.outcome span under the call's
 * writ.decide span (same trace, the decision span as parent, the outcome leaf's index).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { McpGovernor } from '../src/enforce/mcp/governor.ts';
import { loadExtAuthzPackage, startExtAuthzGrpc, type ExtAuthzServer } from '../src/server/ext-authz-grpc.ts';
import { startGate, token, type GateHarness } from './forward-auth-fixture.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;
const META_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const META_SPAN = 'b7ad6b7169203331';

interface CheckResponse {
  status: { code: number; message?: string };
  ok_response?: { headers?: { header: { key: string; value: string } }[] };
}
type AuthorizationClient = grpc.Client & { Check(req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void): void };

function client(port: number): AuthorizationClient {
  const pkg = loadExtAuthzPackage() as unknown as { envoy: { service: { auth: { v3: { Authorization: new (addr: string, creds: grpc.ChannelCredentials) => AuthorizationClient } } } } };
  return new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

function check(c: AuthorizationClient, headers: Record<string, string>, metadata: Record<string, string> = {}): Promise<CheckResponse> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  const req = { attributes: { request: { http: { method: 'GET', path: '/billing/invoices', host: 'api.example.com', headers: { ':authority': 'api.example.com', ':method': 'GET', ':path': '/billing/invoices', ...headers } } } } };
  return new Promise((resolve, reject) => c.Check(req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

interface Leaf {
  id: string;
  type: string;
  trace?: { traceId: string; spanId: string };
}
const leafAt = (f: Fixture, index: unknown): Leaf => {
  assert.equal(typeof index, 'number', 'the span names the leaf');
  const e = f.ledger.entry(index as number);
  assert.ok(e);
  return JSON.parse(new TextDecoder().decode(e.leaf)) as Leaf;
};

describe('OpenTelemetry: the ext_authz gRPC Check', () => {
  let g: GateHarness;
  let traced: ExtAuthzServer;
  let plain: ExtAuthzServer;
  let tc: AuthorizationClient;
  let pc: AuthorizationClient;
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  before(async () => {
    g = await startGate();
    traced = await startExtAuthzGrpc(g.gate, { host: '127.0.0.1', port: 0, tracer: provider.getTracer('test') });
    plain = await startExtAuthzGrpc(g.gate, { host: '127.0.0.1', port: 0 });
    tc = client(traced.port);
    pc = client(plain.port);
  });
  after(async () => {
    tc.close();
    pc.close();
    await Promise.all([traced.close(), plain.close()]);
    await provider.shutdown();
    await g.close();
  });

  it("a Check is a writ.decide span continuing the request's traceparent, with the decision id, reasons and policy; the leaf records the span", async () => {
    exporter.reset();
    const r = await check(tc, { authorization: `Bearer ${await token(g.idp)}`, traceparent: TRACEPARENT, tracestate: 'vendor=x' });
    assert.equal(r.status.code, 0);
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'writ.decide');
    assert.equal(spans.length, 1);
    const span = spans[0] as ReadableSpan;
    assert.equal(span.spanContext().traceId, TRACE_ID);
    assert.equal(span.parentSpanContext?.spanId, PARENT_SPAN);
    const decisionId = r.ok_response?.headers?.find((h) => h.header.key === 'x-writ-decision-id')?.header.value;
    const active = g.f.node.policy.active;
    assert.ok(active && decisionId);
    assert.equal(span.attributes['writ.decision_id'], decisionId);
    assert.equal(span.attributes['writ.decision'], 'allow');
    assert.deepEqual(span.attributes['writ.reasons'], ['policy_permit']);
    assert.equal(span.attributes['writ.policy.version'], active.bundle.manifest.version);
    assert.equal(span.attributes['writ.policy.digest'], active.bundle.digest);
    assert.equal(span.attributes['rpc.method'], 'Check');
    assert.equal(span.attributes['http.response.status_code'], 200);
    const leaf = leafAt(g.f, span.attributes['writ.ledger_index']);
    assert.equal(leaf.id, decisionId);
    assert.deepEqual(leaf.trace, { traceId: TRACE_ID, spanId: span.spanContext().spanId });
  });

  it("the Check call's own gRPC metadata traceparent (Envoy's span) wins over the request's; a denial is a span too", async () => {
    exporter.reset();
    const r = await check(tc, { traceparent: TRACEPARENT }, { traceparent: `00-${META_TRACE_ID}-${META_SPAN}-01` });
    assert.equal(r.status.code, 16); // UNAUTHENTICATED: no credential
    const [span] = exporter.getFinishedSpans().filter((s) => s.name === 'writ.decide');
    assert.ok(span);
    assert.equal(span.spanContext().traceId, META_TRACE_ID);
    assert.equal(span.parentSpanContext?.spanId, META_SPAN);
    assert.equal(span.attributes['writ.decision'], 'deny');
    assert.deepEqual(span.attributes['writ.reasons'], ['http_credential_missing']);
    assert.equal(span.attributes['http.response.status_code'], 401);
    assert.equal(leafAt(g.f, span.attributes['writ.ledger_index']).trace?.traceId, META_TRACE_ID);
  });

  it('a malformed traceparent starts a new trace; without a tracer there is no span and no trace in the leaf', async () => {
    exporter.reset();
    await check(tc, { authorization: `Bearer ${await token(g.idp)}`, traceparent: '00-zz-yy-01' });
    const [span] = exporter.getFinishedSpans();
    assert.ok(span);
    assert.notEqual(span.spanContext().traceId, TRACE_ID);
    assert.equal(span.parentSpanContext, undefined);
    exporter.reset();
    const r = await check(pc, { authorization: `Bearer ${await token(g.idp)}`, traceparent: TRACEPARENT });
    assert.equal(r.status.code, 0);
    assert.equal(exporter.getFinishedSpans().length, 0);
    const last = g.f.ledger.entry(g.f.ledger.size() - 1);
    assert.ok(last);
    assert.equal('trace' in (JSON.parse(new TextDecoder().decode(last.leaf)) as Leaf), false);
  });
});

describe('OpenTelemetry: the MCP outcome', () => {
  const POLICY = policyFolder({
    'p.cedar': `permit (principal == Agent::"a1", action == Action::"mcp/session", resource == Server::"fx");
permit (principal == Agent::"a1", action == Action::"tools/call", resource);
`,
  });
  const call = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { path: '/a' }, _meta: { traceparent: TRACEPARENT } } }) as JSONRPCMessage;
  const result = (id: number, isError: boolean) => ({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'done' }], isError } }) as JSONRPCMessage;

  it('each recorded outcome (ok, failed, cancelled) is a writ.outcome span under its writ.decide span, naming the outcome leaf', async () => {
    const f = await fixture({ policyDir: POLICY });
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    try {
      const g = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: 'Agent::"a1"', session: 's-out', serverName: 'fx', tracer: provider.getTracer('test') });
      for (const [id, name] of [[1, 'read'], [2, 'write'], [3, 'slow']] as const) assert.ok('forward' in (await g.fromClient(call(id, name))));
      assert.equal(exporter.getFinishedSpans().filter((s) => s.name === 'writ.outcome').length, 0, 'no outcome before the response');
      await g.fromUpstream(result(1, false));
      await g.fromUpstream(result(2, true));
      await g.fromClient({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3, reason: 'user' } } as JSONRPCMessage);
      await g.settled();
      const spans = exporter.getFinishedSpans();
      const decides = spans.filter((s) => s.name === 'writ.decide');
      const outcomes = spans.filter((s) => s.name === 'writ.outcome');
      assert.equal(decides.length, 3);
      assert.equal(outcomes.length, 3);
      const expected: Record<string, string> = { 'Tool::"fx/read"': 'ok', 'Tool::"fx/write"': 'failed', 'Tool::"fx/slow"': 'terminated' };
      for (const d of decides) {
        const o = outcomes.find((s) => s.parentSpanContext?.spanId === d.spanContext().spanId);
        assert.ok(o, `an outcome span under the decision of ${String(d.attributes['writ.resource'])}`);
        assert.equal(o.spanContext().traceId, TRACE_ID);
        assert.equal(d.spanContext().traceId, TRACE_ID);
        const jti = d.attributes['writ.jti'];
        assert.equal(o.attributes['writ.jti'], jti);
        assert.equal(o.attributes['writ.decision_id'], d.attributes['writ.decision_id']);
        assert.equal(o.attributes['writ.decision_index'], d.attributes['writ.ledger_index']);
        assert.equal(o.attributes['writ.outcome.status'], expected[String(d.attributes['writ.resource'])]);
        const [outcomeLeaf] = f.ledger.findByJti(String(jti), 'outcome');
        assert.ok(outcomeLeaf);
        assert.equal(o.attributes['writ.ledger_index'], outcomeLeaf.index);
        // the decision leaf and both spans are one trace
        assert.equal(leafAt(f, d.attributes['writ.ledger_index']).trace?.traceId, TRACE_ID);
      }
      assert.match(String(outcomes.find((o) => o.attributes['writ.outcome.status'] === 'terminated')?.attributes['writ.outcome.reason']), /cancel requested/);
    } finally {
      await provider.shutdown();
      f.cleanup();
    }
  });

  it('without a tracer an outcome is recorded all the same, and no span is made', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      const g = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: 'Agent::"a1"', session: 's-out2', serverName: 'fx' });
      const fwd = await g.fromClient(call(1, 'read'));
      assert.ok('forward' in fwd);
      await g.fromUpstream(result(1, false));
      await g.settled();
      const decisions = f.ledger.entries(0, 1000).filter((e) => e.type === 'outcome');
      assert.equal(decisions.length, 1);
    } finally {
      f.cleanup();
    }
  });
});

/**
 * Issue 17, point 4, the MCP proxy: a governed call's decision is a writ.decide span that
 * continues the W3C trace context MCP carries in params._meta (traceparent, reserved for it by
 * the MCP specification), its leaf records the span, and the call forwarded to the server
 * carries the decision's span as its traceparent. Without a tracer, _meta is passed as it came.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { McpGovernor } from '../src/enforce/mcp/governor.ts';
import { fixture, policyFolder, type Fixture } from './helpers.ts';

const A1 = 'Agent::"a1"';
const POLICY = policyFolder({
  'p.cedar': `permit (principal == Agent::"a1", action == Action::"mcp/session", resource == Server::"fx");
permit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fx/read");
`,
});
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;

const msg = (m: Record<string, unknown>) => ({ jsonrpc: '2.0', ...m }) as JSONRPCMessage;
const call = (id: number, name: string, meta: Record<string, unknown>) => msg({ id, method: 'tools/call', params: { name, arguments: { path: '/a' }, _meta: meta } });

interface DecisionLeaf {
  id: string;
  request: { action: string; resource: string };
  result: { decision: string };
  trace?: { traceId: string; spanId: string };
}

const decisionLeaves = (f: Fixture, resource: string) =>
  f.ledger
    .entries(0, 10_000)
    .filter((e) => e.type === 'decision')
    .map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as DecisionLeaf)
    .filter((d) => d.request.resource === resource);

function governor(f: Fixture, tracer?: ReturnType<TracerProvider['getTracer']>): McpGovernor {
  return new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: A1, session: 's-otel', serverName: 'fx', ...(tracer && { tracer }) });
}

describe('OpenTelemetry: the MCP proxy', () => {
  it('continues params._meta.traceparent: a span per decision, the leaf joins it, the server gets the decision as parent', async () => {
    const f = await fixture({ policyDir: POLICY });
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    try {
      const g = governor(f, provider.getTracer('test'));
      const allowed = await g.fromClient(call(1, 'read', { traceparent: TRACEPARENT, tracestate: 'vendor=x', progressToken: 7 }));
      assert.ok('forward' in allowed);
      const denied = await g.fromClient(call(2, 'write', { traceparent: TRACEPARENT }));
      assert.ok('reply' in denied);
      const spans = exporter.getFinishedSpans().filter((s) => s.name === 'writ.decide');
      assert.equal(spans.length, 2);
      const [a, d] = spans as [(typeof spans)[0], (typeof spans)[0]];
      for (const s of spans) {
        assert.equal(s.spanContext().traceId, TRACE_ID);
        assert.equal(s.parentSpanContext?.spanId, PARENT_SPAN);
        assert.equal(s.attributes['mcp.method.name'], 'tools/call');
        assert.equal(s.attributes['writ.principal'], A1);
      }
      assert.equal(a.attributes['writ.decision'], 'allow');
      assert.equal(a.attributes['writ.resource'], 'Tool::"fx/read"');
      assert.equal(d.attributes['writ.decision'], 'deny');
      assert.deepEqual(d.attributes['writ.reasons'], ['no_permit']);
      const [readLeaf] = decisionLeaves(f, 'Tool::"fx/read"');
      const [writeLeaf] = decisionLeaves(f, 'Tool::"fx/write"');
      assert.ok(readLeaf && writeLeaf);
      assert.equal(a.attributes['writ.decision_id'], readLeaf.id);
      assert.deepEqual(readLeaf.trace, { traceId: TRACE_ID, spanId: a.spanContext().spanId });
      assert.deepEqual(writeLeaf.trace, { traceId: TRACE_ID, spanId: d.spanContext().spanId });
      // what the server receives: the decision span as parent, the client's tracestate and other _meta as sent
      const meta = (allowed.forward as unknown as { params: { _meta: Record<string, unknown> } }).params._meta;
      assert.equal(meta.traceparent, `00-${TRACE_ID}-${a.spanContext().spanId}-01`);
      assert.equal(meta.tracestate, 'vendor=x');
      assert.equal(meta.progressToken, 7);
      assert.equal(typeof meta['writ/authorization'], 'string');
    } finally {
      await provider.shutdown();
      f.cleanup();
    }
  });

  it('without a tracer: no trace in the leaf, and _meta.traceparent reaches the server unchanged', async () => {
    const f = await fixture({ policyDir: POLICY });
    try {
      const forwarded = await governor(f).fromClient(call(1, 'read', { traceparent: TRACEPARENT }));
      assert.ok('forward' in forwarded);
      const meta = (forwarded.forward as unknown as { params: { _meta: Record<string, unknown> } }).params._meta;
      assert.equal(meta.traceparent, TRACEPARENT);
      const [leaf] = decisionLeaves(f, 'Tool::"fx/read"');
      assert.ok(leaf);
      assert.equal(leaf.result.decision, 'allow');
      assert.equal('trace' in leaf, false);
    } finally {
      f.cleanup();
    }
  });
});

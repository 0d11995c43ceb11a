/**
 * The spans of decisions, verifications and outcomes (docs/telemetry.md). A request's W3C
 * `traceparent` (an HTTP header, or MCP's `params._meta.traceparent`) is continued: the span
 * is its child. Callers start a span only when they hold a tracer, so with tracing off none of
 * this runs.
 */
import { isSpanContextValid, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { uidText } from '../canonical/uid.ts';
import type { Decision } from '../node/node.ts';
import type { TraceRef } from '../node/types.ts';
import { errorMessage } from '../util.ts';

export const DECIDE_SPAN = 'writ.decide';
export const VERIFY_SPAN = 'writ.verify';
export const OUTCOME_SPAN = 'writ.outcome';

const propagator = new W3CTraceContextPropagator();

/** Reads `traceparent`/`tracestate` from Node's headers or an MCP `_meta` object (first value of a repeated header). */
const getter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    if (typeof v === 'string') return v;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  },
};

/** The remote parent a carrier names (a root context when it names none, or a malformed one). */
export function parentContext(carrier: Record<string, unknown> | undefined): Context {
  return carrier === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, carrier, getter);
}

/** Starts a server span, a child of the carrier's trace context when it has one. */
export function startSpan(tracer: Tracer, name: string, carrier: Record<string, unknown> | undefined, attributes?: Attributes): Span {
  return tracer.startSpan(name, { kind: SpanKind.SERVER, ...(attributes && { attributes }) }, parentContext(carrier));
}

/** The span's ids as data for the node (the leaf's `trace`); none for an invalid context. */
export function traceRef(span: Span): TraceRef | undefined {
  const c = span.spanContext();
  return isSpanContextValid(c) ? { traceId: c.traceId, spanId: c.spanId } : undefined;
}

/** A W3C traceparent for a span (for passing the context on, e.g. in MCP `_meta`). */
export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-0${(c.traceFlags & 1).toString(16)}`;
}

/** The decision's attributes; `asked` is the request as received (principal, action, resource as sent), else what Cedar evaluated. */
export function decisionAttributes(d: Decision, asked?: { principal: string; action: string; resource: string }): Attributes {
  const judged = asked ?? (d.input && { principal: uidText(d.input.principal), action: uidText(d.input.action), resource: uidText(d.input.resource) });
  return {
    'writ.decision_id': d.decisionId,
    'writ.decision': d.decision,
    'writ.reasons': d.reasons,
    ...(d.policy && { 'writ.policy.version': d.policy.version, 'writ.policy.digest': d.policy.digest, 'writ.policy.domain': d.policy.domain }),
    ...(judged && { 'writ.principal': judged.principal, 'writ.action': judged.action, 'writ.resource': judged.resource }),
    ...(d.ledgerIndex !== null && { 'writ.ledger_index': d.ledgerIndex }),
    ...(d.claims && { 'writ.jti': d.claims.jti }),
  };
}

/** Sets a decision's attributes: a denial is an answer, not an error; a decision that could not be recorded is. */
export function markDecision(span: Span, d: Decision, asked?: { principal: string; action: string; resource: string }): void {
  span.setAttributes(decisionAttributes(d, asked));
  if (d.reasons.includes('ledger_append_failed')) span.setStatus({ code: SpanStatusCode.ERROR, message: 'ledger_append_failed' });
}

/** Ends a span whose work threw. */
export function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
  span.end();
}

/** Runs `work`, which decides, in `span`: the decision's attributes are set when it returns. */
export async function decideInSpan<T>(span: Span, work: () => Promise<T>, decisionOf: (r: T) => Decision): Promise<T> {
  return inSpan(span, async () => {
    const r = await work();
    markDecision(span, decisionOf(r));
    return r;
  });
}

/** Runs `work` in a span that ends with it (failSpan on a throw). */
export async function inSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (err) {
    failSpan(span, err);
    throw err;
  }
  span.end();
  return result;
}

/**
 * A route handler in a span continuing the request's `traceparent`, with the response status.
 * A route registers this only when it has a tracer: with tracing off the plain handler runs.
 */
export function tracedRoute<T>(tracer: Tracer, name: string, req: { headers: Record<string, unknown> }, reply: { statusCode: number }, work: (span: Span) => Promise<T>): Promise<T> {
  const span = startSpan(tracer, name, req.headers);
  return inSpan(span, async () => {
    const r = await work(span);
    span.setAttribute('http.response.status_code', reply.statusCode);
    return r;
  });
}

/** What an outcome span reads of a governed call (enforce/governed-call.ts's GovernedCall). */
export interface TracedCall {
  readonly jti: string;
  readonly decision: { decisionId: string; ledgerIndex: number | null };
  onEnd(cb: (outcome: { status: string; reason: string | null }, recorded: Promise<number>) => void): void;
}

/**
 * A writ.outcome span when the call's outcome is recorded (an enforcement point that records
 * it itself, the MCP proxy): a child of the call's writ.decide span, so the decision, the
 * upstream's own spans and the outcome are one trace; it ends when the outcome leaf is appended.
 */
export function traceOutcome(tracer: Tracer, decide: Span, call: TracedCall): void {
  call.onEnd((outcome, recorded) => {
    const span = tracer.startSpan(
      OUTCOME_SPAN,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          'writ.jti': call.jti,
          'writ.decision_id': call.decision.decisionId,
          'writ.outcome.status': outcome.status,
          ...(outcome.reason !== null && { 'writ.outcome.reason': outcome.reason }),
          ...(call.decision.ledgerIndex !== null && { 'writ.decision_index': call.decision.ledgerIndex }),
        },
      },
      trace.setSpan(ROOT_CONTEXT, decide),
    );
    recorded.then(
      (index) => {
        span.setAttribute('writ.ledger_index', index);
        span.end();
      },
      (err: unknown) => failSpan(span, err),
    );
  });
}

/**
 * OpenTelemetry tracing for the servers (`writ up`, `writ node`, `writ mcp`), off by default
 * (docs/telemetry.md). On with `--otel [endpoint]`, or when the standard
 * OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_SDK_DISABLED=true
 * keeps it off. Spans go to an OTLP/HTTP (JSON) exporter through a batch processor, so a slow
 * or absent collector never delays a decision; `shutdown` flushes what is queued.
 *
 * The SDK lives here, outside the core: the core only receives a trace context as data
 * (AuthorizeRequest.trace). The tracer is handed to the servers explicitly (AppDeps.tracer);
 * `activeTracer()` is the one a started process uses when none is handed over.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, TracerProvider, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { SOFTWARE_VERSION } from '../version.ts';

/** The instrumentation scope of every Writ span. */
export const TRACER_NAME = 'writ';

export interface TracingOptions {
  /** `--otel`: true, or the OTLP endpoint to send to (its /v1/traces is appended, as for OTEL_EXPORTER_OTLP_ENDPOINT) */
  otel?: boolean | string;
  /** default process.env: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME, OTEL_SDK_DISABLED */
  env?: Record<string, string | undefined>;
  /** default OTEL_SERVICE_NAME, else `writ` */
  serviceName?: string;
  /** instead of the OTLP exporter (tests: an InMemorySpanExporter) */
  exporter?: SpanExporter;
  /** export each span as it ends instead of in batches (tests) */
  simple?: boolean;
}

export interface Tracing {
  tracer: Tracer;
  provider: TracerProvider;
  /** where spans are sent, for the startup log (null with a given exporter) */
  endpoint: string | null;
  /** flushes the queued spans and stops exporting */
  shutdown(): Promise<void>;
}

let active: Tracer | undefined;

/** The tracer of the tracing this process started, if any: undefined when tracing is off. */
export function activeTracer(): Tracer | undefined {
  return active;
}

const nonEmpty = (v: string | undefined): string | undefined => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);

/** Whether tracing is on: `--otel`, or an OTLP endpoint in the environment; never with OTEL_SDK_DISABLED=true. */
export function tracingRequested(o: TracingOptions): boolean {
  const env = o.env ?? process.env;
  if (nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return false;
  return o.otel !== undefined && o.otel !== false ? true : nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) !== undefined || nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT) !== undefined;
}

/** The OTLP/HTTP traces URL: an explicit --otel endpoint, else the standard variables, else the OTLP default. */
export function tracesUrl(o: TracingOptions): string {
  const env = o.env ?? process.env;
  const base = (u: string) => `${u.replace(/\/+$/, '')}/v1/traces`;
  if (typeof o.otel === 'string' && nonEmpty(o.otel) !== undefined) return base(o.otel.trim());
  const traces = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (traces !== undefined) return traces; // used as given (OTel spec: a signal-specific URL is not appended to)
  const all = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  return base(all ?? 'http://localhost:4318');
}

/** Starts tracing if requested (else null, and nothing is allocated per decision). */
export function startTracing(o: TracingOptions): Tracing | null {
  if (!tracingRequested(o) && o.exporter === undefined) return null;
  const env = o.env ?? process.env;
  const endpoint = o.exporter ? null : tracesUrl(o);
  const exporter = o.exporter ?? new OTLPTraceExporter({ url: endpoint ?? undefined });
  const processor: SpanProcessor = o.simple ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter });
  const serviceName = o.serviceName ?? nonEmpty(env.OTEL_SERVICE_NAME) ?? TRACER_NAME;
  const resource = defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, [ATTR_SERVICE_VERSION]: SOFTWARE_VERSION }));
  const provider = new TracerProvider({ resource, spanProcessors: [processor] });
  const tracer = provider.getTracer(TRACER_NAME, SOFTWARE_VERSION);
  // libraries that trace through @opentelemetry/api see the same provider (a second registration is ignored by the API)
  trace.setGlobalTracerProvider(provider);
  active = tracer;
  let stopped: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopped ??= (async () => {
      if (active === tracer) active = undefined;
      // a collector that is down must not keep the process from exiting: the spans are lost, the evidence is not
      await provider.shutdown().catch(() => undefined);
    })();
    return stopped;
  };
  return { tracer, provider, endpoint, shutdown };
}

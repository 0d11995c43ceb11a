/**
 * `--otel [endpoint]` for the commands that serve decisions (`writ up`, `writ node`, `writ mcp`):
 * OpenTelemetry spans over OTLP/HTTP (docs/telemetry.md). Off by default; also on when the
 * standard OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set. Started before the
 * server is built, which then traces with it (activeTracer); flushed on shutdown.
 */
import type { Command } from 'commander';
import { startTracing, type Tracing } from '../telemetry/otel.ts';

export function otelOption(cmd: Command): Command {
  return cmd.option(
    '--otel [endpoint]',
    'emit OpenTelemetry spans for decisions, verifications and outcomes over OTLP/HTTP to this endpoint (default $OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318; on by itself when that variable is set; service name $OTEL_SERVICE_NAME, else writ)',
  );
}

/** Starts tracing when `--otel` or the environment asks for it; null (and nothing per decision) otherwise. */
export function tracingOf(o: { otel?: boolean | string }, log: (s: string) => void): Tracing | null {
  const tracing = startTracing(o.otel === undefined ? {} : { otel: o.otel });
  if (tracing) log(`tracing: OpenTelemetry spans to ${tracing.endpoint ?? 'the configured exporter'} (docs/telemetry.md)`);
  return tracing;
}

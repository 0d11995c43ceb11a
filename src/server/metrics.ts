/** Prometheus metrics of a node (prom-client, text exposition format). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GovernanceNode } from '../node/node.ts';

export function nodeMetrics(node: GovernanceNode): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const decisions = new Counter({
    name: 'writ_decisions_total',
    help: 'Decisions made, by result and reason code',
    labelNames: ['decision', 'reason'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'writ_decision_duration_seconds',
    help: 'Time from request to decision (including durable evidence and signing)',
    labelNames: ['decision'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  new Gauge({
    name: 'writ_bundle_version',
    help: 'Version of the active policy bundle (0: none)',
    registers: [registry],
    collect() {
      this.set(node.policy.active?.bundle.manifest.version ?? 0);
    },
  });
  new Gauge({
    name: 'writ_bundle_expires_timestamp_seconds',
    help: 'Expiry of the active policy bundle, Unix seconds (0: none)',
    registers: [registry],
    collect() {
      const e = node.policy.active?.bundle.manifest.expires;
      this.set(e ? Date.parse(e) / 1000 : 0);
    },
  });
  node.onDecision((d, seconds) => {
    for (const reason of d.reasons) decisions.inc({ decision: d.decision, reason });
    latency.observe({ decision: d.decision }, seconds);
  });
  return registry;
}

/**
 * Load and measurement over a running test fleet (fleet-harness.ts): callers that keep
 * deciding, and revocation propagation polled node by node until each denies.
 */
import { randomBytes } from 'node:crypto';
import { allowedRequest, CALL, READ } from './fleet-api.ts';
import type { FleetNodeProc, TestFleet } from './fleet-harness.ts';
import { sleep, waitFor } from './wait.ts';

/** The `q` quantile (0..1) of `samples` by the nearest rank; NaN for none. */
export function percentile(samples: number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

/**
 * Load: `loops` callers, each sending the allowed request to the nodes in turn until
 * stop() is called. Failed connections (a node being restarted) are counted and retried.
 */
export function startLoad(f: TestFleet, loops: number): { stop(): Promise<{ allows: number; denies: Map<string, number>; errors: number }> } {
  let running = true;
  let allows = 0;
  let errors = 0;
  const denies = new Map<string, number>();
  let i = 0;
  const worker = async (w: number) => {
    while (running) {
      const n = f.nodes[(w + i++) % f.nodes.length] as FleetNodeProc;
      if (!n.running) {
        await sleep(10);
        continue;
      }
      try {
        const r = await f.authorize(n, allowedRequest(i), AbortSignal.timeout(5000));
        if (r.body.decision === 'allow') allows++;
        else for (const reason of r.body.reasons) denies.set(reason, (denies.get(reason) ?? 0) + 1);
      } catch {
        errors++;
        await sleep(10);
      }
    }
  };
  const all = Array.from({ length: loops }, (_, w) => worker(w));
  return {
    async stop() {
      running = false;
      await Promise.all(all);
      return { allows, denies, errors };
    },
  };
}

export interface Propagation {
  /** per revocation and node: ms from the revocation's acknowledged KV put to the node's first deny naming it */
  samples: number[];
  /** the same, from the moment the put was sent */
  fromSend: number[];
  p50: number;
  p99: number;
  max: number;
}

/**
 * Decides for `principal` at node `n` again and again until the node denies it
 * principal_quarantined; resolves with the time of that answer (performance.now()).
 * `answered` is told after the first answer; a quarantine denial before `revoking()` is an error.
 */
export async function pollUntilQuarantined(
  f: TestFleet,
  n: FleetNodeProc,
  principal: string,
  o: { revoking: () => boolean; answered: () => void; deadline: number; timeoutMs: number; pollGapMs?: number },
): Promise<number> {
  for (let first = true; ; first = false) {
    const r = await f.authorize(n, { principal, action: CALL, resource: READ, args: { path: '/srv/x' } });
    const at = performance.now();
    if (first) o.answered();
    if (r.body.reasons.includes('principal_quarantined')) {
      if (!o.revoking()) throw new Error(`${n.id} denied ${principal} as quarantined before it was quarantined`);
      return at;
    }
    if (Date.now() > o.deadline) throw new Error(`${n.id} did not deny ${principal} within ${o.timeoutMs} ms (last: ${r.body.reasons.join(',')})`);
    if (o.pollGapMs) await sleep(o.pollGapMs);
  }
}

/**
 * Revocation propagation: for each of `count` principals, every node is polled (one
 * request in flight per node) while the principal is quarantined; the latency of a node
 * is from the revocation's acknowledged publication to the first response that denies
 * with principal_quarantined. Responses are received at most one round trip after the
 * node applied it, so the numbers are upper bounds.
 */
export async function measurePropagation(f: TestFleet, count: number, o: { nodes?: FleetNodeProc[]; pollGapMs?: number; timeoutMs?: number } = {}): Promise<Propagation> {
  const nodes = o.nodes ?? f.nodes;
  const samples: number[] = [];
  const fromSend: number[] = [];
  for (let i = 0; i < count; i++) {
    const principal = `Agent::"q-${i}-${randomBytes(3).toString('hex')}"`;
    let revoking = false;
    let answered = 0; // pollers with an answer before the revocation
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    const poll = (n: FleetNodeProc): Promise<number> =>
      pollUntilQuarantined(f, n, principal, { revoking: () => revoking, answered: () => void answered++, deadline, timeoutMs: o.timeoutMs ?? 5000, ...(o.pollGapMs && { pollGapMs: o.pollGapMs }) });
    let failed = false;
    const pollers = nodes.map((n) => poll(n));
    for (const p of pollers) p.catch(() => (failed = true)); // awaited below
    await waitFor('every poller answered once', () => answered === nodes.length || failed, 5000, 5); // the pollers are running
    revoking = true;
    const revoked = await f.revoke('quarantine', principal, 'propagation measurement');
    const at = await Promise.all(pollers);
    for (const t of at) {
      samples.push(Math.max(0, t - revoked.ackedAt));
      fromSend.push(t - revoked.sentAt);
    }
    await sleep(20); // a pause between measurements
  }
  return { samples, fromSend, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), max: Math.max(...samples) };
}

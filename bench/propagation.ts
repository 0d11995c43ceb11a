/**
 * Revocation propagation to every node of a fleet, timed two ways (issue 14, point 6):
 *   applied      when the node applied the revocation (its `WRIT_TRACE_REVOCATIONS` log line,
 *                fleet-handlers.ts): from then on every decision it starts denies;
 *   first denial the bench's own poll (one POST /v1/authorize in flight per node) answered
 *                principal_quarantined: an upper bound, by up to two decision round trips.
 * Both from the acknowledged put, on the one clock of this machine (performance.timeOrigin +
 * now in every process). The nodes must have been started with WRIT_TRACE_REVOCATIONS=1.
 */
import { randomBytes } from 'node:crypto';
import { CALL, percentile, pollUntilQuarantined, READ, type FleetNodeProc, type TestFleet } from '../test/fleet-harness.ts';
import { sleep, waitFor } from '../test/wait.ts';

export interface Propagation {
  /** ms from the acknowledged put to the node's applying it, one per node and revocation */
  applied: number[];
  /** ms from the acknowledged put to the watch delivering it to the node */
  received: number[];
  /** ms from sending the put to the node's applying it */
  appliedFromSend: number[];
  /** ms from the acknowledged put to the first denial the bench saw (polling only) */
  firstDenial: number[];
  /** ms from sending the put to its acknowledgement */
  put: number[];
}

const epoch = (perfNow: number) => performance.timeOrigin + perfNow;

/** The node's trace of revocation `revision`, once it is in its output. */
async function trace(n: FleetNodeProc, revision: number): Promise<{ received: number; applied: number }> {
  const re = new RegExp(`revocation ${revision} received at ([\\d.]+) applied at ([\\d.]+)`);
  let m: RegExpExecArray | null = null;
  await waitFor(`${n.id} traced revocation ${revision} (started with WRIT_TRACE_REVOCATIONS=1?)`, () => (m = re.exec(n.output)) !== null, 5000, 5);
  const [, received, applied] = m as unknown as [string, string, string];
  return { received: Number(received), applied: Number(applied) };
}

/**
 * `poll`: every node is polled while the revocation travels (one request in flight each,
 * as before: a loaded fleet, and the first denial as an upper bound); without it the nodes
 * are idle and each is asked once, after it traced the revocation, that it now denies.
 */
export async function measurePropagation(f: TestFleet, count: number, o: { poll: boolean } = { poll: true }): Promise<Propagation> {
  const out: Propagation = { applied: [], received: [], appliedFromSend: [], firstDenial: [], put: [] };
  for (let i = 0; i < count; i++) {
    const principal = `Agent::"q-${i}-${randomBytes(3).toString('hex')}"`;
    let revoking = false;
    let answered = 0;
    let failed = false;
    const deadline = Date.now() + 5000;
    const poll = (n: FleetNodeProc): Promise<number> => pollUntilQuarantined(f, n, principal, { revoking: () => revoking, answered: () => void answered++, deadline, timeoutMs: 5000 });
    const pollers = o.poll ? f.nodes.map((n) => poll(n)) : [];
    for (const p of pollers) p.catch(() => (failed = true)); // awaited below
    if (o.poll) await waitFor('every poller answered once', () => answered === f.nodes.length || failed, 5000, 5);
    revoking = true;
    const r = await f.revoke('quarantine', principal, 'propagation measurement');
    const polled = await Promise.all(pollers);
    const traces = await Promise.all(f.nodes.map((n) => trace(n, r.revision)));
    // idle: each node, asked now, must deny (applied means every later decision denies)
    const askOnce = async (n: FleetNodeProc) => {
      const a = await f.authorize(n, { principal, action: CALL, resource: READ, args: { path: '/srv/x' } });
      if (!a.body.reasons.includes('principal_quarantined')) throw new Error(`${n.id} applied the quarantine of ${principal} but then answered ${a.body.reasons.join(',')}`);
      return performance.now();
    };
    const denied = o.poll ? polled : await Promise.all(f.nodes.map(askOnce));
    const acked = epoch(r.ackedAt);
    out.put.push(r.ackedAt - r.sentAt);
    f.nodes.forEach((n, k) => {
      const t = traces[k] as { received: number; applied: number };
      const d = epoch(denied[k] as number);
      if (d < t.applied) throw new Error(`${n.id} denied ${principal} before it applied the revocation: the trace is wrong`);
      // a watch may be told before the put's acknowledgement reaches the bench: that is 0
      out.applied.push(Math.max(0, t.applied - acked));
      out.received.push(Math.max(0, t.received - acked));
      out.appliedFromSend.push(t.applied - epoch(r.sentAt));
      if (o.poll) out.firstDenial.push(Math.max(0, d - acked));
    });
    await sleep(20); // a pause between measurements
  }
  return out;
}

export const summary = (ms: number[]) => `p50 ${percentile(ms, 0.5).toFixed(2)} ms   p99 ${percentile(ms, 0.99).toFixed(2)} ms   max ${Math.max(...ms).toFixed(2)} ms`;

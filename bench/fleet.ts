/**
 * The fleet section of `npm run bench` (issue 5, point 6): revocation propagation
 * latency to 5 `writ node` processes on loopback, over the real NATS JetStream
 * (127.0.0.1:4222; `../shared/services/ensure` starts it). Each of ≥ 20 principals is
 * quarantined (a signed revocation put to the revocations bucket, as `writ quarantine`
 * does, over an open connection); every node is polled, one request in flight each,
 * and a node's latency is from the acknowledged put to its first response denying
 * with principal_quarantined — an upper bound, by at most one request round trip.
 * The fleet is the one the multi-process tests use (test/fleet-harness.ts).
 */
import { cpus } from 'node:os';
import { measurePropagation, percentile, TestFleet } from '../test/fleet-harness.ts';

export async function fleetBench(quick: boolean): Promise<void> {
  const count = quick ? 20 : 60;
  const nodes = 5;
  let f: TestFleet;
  try {
    f = await TestFleet.start({ nodes });
  } catch (err) {
    console.log(`\nwrit fleet bench — skipped: could not start a fleet on NATS (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    return;
  }
  try {
    await measurePropagation(f, 3); // warm-up: connections, JIT
    const p = await measurePropagation(f, count);
    console.log(`\nwrit fleet bench — ${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}; node ${process.version}; ${nodes} writ node processes, 1 authority, NATS JetStream on loopback`);
    console.log(`revocation propagation (quarantine of ${count} different principals, ${p.samples.length} node samples):`);
    console.log(`  from the acknowledged put:  p50 ${p.p50.toFixed(1)} ms   p99 ${p.p99.toFixed(1)} ms   max ${p.max.toFixed(1)} ms`);
    console.log(`  from sending the put:       p50 ${percentile(p.fromSend, 0.5).toFixed(1)} ms   p99 ${percentile(p.fromSend, 0.99).toFixed(1)} ms`);
    console.log(`target: p99 ≤ 50 ms to 5 nodes on loopback — ${p.p99 <= 50 ? 'met' : 'NOT met'}`);
  } finally {
    await f.close();
  }
}

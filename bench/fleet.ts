/**
 * The fleet section of `npm run bench` (issue 5, point 6): revocation propagation
 * latency to 5 `writ node` processes on loopback, over the real NATS JetStream
 * (127.0.0.1:4222; `../shared/services/ensure` starts it). Each of ≥ 20 principals is
 * quarantined (a signed revocation put to the revocations bucket, as `writ quarantine`
 * does, over an open connection); a node's latency is from sending the put (the
 * authority's publish) to the moment it applied the revocation (its trace), split into its
 * hops (NATS's own timestamp of the stored message) beside a bare NATS watch in the same run
 * (the floor) and the first response denying with principal_quarantined of the pollers
 * (bench/propagation.ts).
 * The fleet is the one the multi-process tests use (test/fleet-harness.ts).
 */
import { cpus, loadavg } from 'node:os';
import autocannon from 'autocannon';
import { allowedRequest, callerHeaders, decodeClaims, percentile, TestFleet, waitFor } from '../test/fleet-harness.ts';
import { measurePropagation, ReferenceWatch, summary, type Propagation } from './propagation.ts';

export async function fleetBench(quick: boolean, o: { revocationOnly?: boolean } = {}): Promise<void> {
  const count = quick ? 20 : 60;
  const nodes = 5;
  let f: TestFleet;
  // each node logs when it applied each revocation (bench/propagation.ts reads it)
  process.env.WRIT_TRACE_REVOCATIONS = '1';
  try {
    f = await TestFleet.start({ nodes });
  } catch (err) {
    console.log(`\nwrit fleet bench — skipped: could not start a fleet on NATS (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    return;
  }
  try {
    const reference = await ReferenceWatch.start(f);
    let loaded: Propagation, idle: Propagation;
    try {
      await measurePropagation(f, 3, { poll: true, reference }); // warm-up: connections, JIT
      loaded = await measurePropagation(f, count, { poll: true, reference });
      idle = await measurePropagation(f, count, { poll: false, reference });
    } finally {
      reference.stop();
    }
    console.log(`\nwrit fleet bench — ${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}; node ${process.version}; ${nodes} writ node processes, 1 authority, NATS JetStream on loopback; load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
    console.log(`revocation propagation (quarantine of ${count} different principals, ${loaded.applied.length} node samples per row, the floor ${count}; ms since the epoch on every process's one clock):`);
    const rows = (r: Propagation) => {
      console.log(`    applied, from sending the put       ${summary(r.appliedFromSend)}   (authority's publish → every node applied)`);
      console.log(`    applied, from the acknowledged put  ${summary(r.applied)}   (0 when a node applied it before the ack reached the bench)`);
      console.log(`    hop: sent → stored by NATS          ${summary(r.stored)}   (the stream message's timestamp)`);
      console.log(`    hop: stored → node's watch callback ${summary(r.storedToReceived)}`);
      console.log(`    hop: stored → applied at the node   ${summary(r.storedToApplied)}`);
      console.log(`    hop: watch callback → applied       ${summary(r.own)}   (the node's own part: verify, SQLite, the cursor)`);
      console.log(`    floor: stored → a bare NATS watch   ${summary(r.reference)}   (bench/kv-watch-reference.ts, same run)`);
    };
    console.log(`  nodes polled (1 decision in flight each, from the pollers' own thread) — the target row:`);
    rows(loaded);
    console.log(`    first denial seen by the pollers    ${summary(loaded.firstDenial)}   (from the ack; upper bound: the poll in flight)`);
    console.log(`  nodes idle (each asked once after, and denied):`);
    rows(idle);
    console.log(`  the put itself (sent → acknowledged)  ${summary([...loaded.put, ...idle.put])}`);
    const p99 = (xs: number[]) => percentile(xs, 0.99).toFixed(1);
    const met = percentile(loaded.appliedFromSend, 0.99) <= 10;
    console.log(`target (issue 14, point 6): p99 ≤ 10 ms from sending the put to applied at each of 5 nodes, nodes polled — ${met ? 'met' : 'NOT met'} (${p99(loaded.appliedFromSend)} ms; idle ${p99(idle.appliedFromSend)} ms; a bare NATS watch in the same run: stored → told p99 ${p99(loaded.reference)} ms polled, ${p99(idle.reference)} ms idle)`);
    if (!o.revocationOnly) await singleUseBench(f, quick ? 100 : 300);
  } finally {
    await f.close();
  }
  if (!o.revocationOnly) await fleetThroughputBench(quick);
}

/**
 * Fleet throughput (issue 14, point 7): governed decisions/s over HTTP of one `writ node`
 * whose evidence is acknowledged by the fleet's JetStream stream before each writ, then of
 * 3 nodes loaded together (one load generator each, all on this machine beside NATS, the
 * authority and the sequencer: the figure is the machine's, not one node's ceiling).
 */
async function fleetThroughputBench(quick: boolean): Promise<void> {
  const seconds = quick ? 3 : 8;
  let f: TestFleet;
  try {
    f = await TestFleet.start({ nodes: 3 });
  } catch (err) {
    console.log(`\nfleet throughput — skipped: could not start a fleet (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    return;
  }
  try {
    const load = async (n: (typeof f.nodes)[number], connections: number, duration: number) => {
      let i = 0;
      const r = await autocannon({
        url: `${n.url}/v1/authorize`,
        connections,
        duration,
        method: 'POST',
        headers: callerHeaders(n),
        requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify(allowedRequest(200_000 + i++)) }) }],
      });
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`fleet throughput: ${r.non2xx} non-2xx, ${r.errors} errors at ${n.id}`);
      return { total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99 };
    };
    const [n1] = f.nodes as [(typeof f.nodes)[number]];
    await load(n1, 16, 1); // warm-up
    const t1 = performance.now();
    const one = await load(n1, 64, seconds);
    const oneRate = one.total / ((performance.now() - t1) / 1000);
    await Promise.all(f.nodes.slice(1).map((n) => load(n, 16, 1)));
    const t3 = performance.now();
    const all = await Promise.all(f.nodes.map((n) => load(n, 32, seconds)));
    const allRate = all.reduce((a, r) => a + r.total, 0) / ((performance.now() - t3) / 1000);
    console.log(`fleet throughput (POST /v1/authorize, evidence acknowledged by JetStream before each writ, ${seconds} s per row):`);
    console.log(`  1 writ node, 64 conns     ${Math.round(oneRate).toLocaleString('en')} decisions/s   p50 ${one.p50.toFixed(1)} ms   p99 ${one.p99.toFixed(1)} ms`);
    console.log(`  3 writ nodes, 32 conns ea ${Math.round(allRate).toLocaleString('en')} decisions/s   p50 ${Math.max(...all.map((r) => r.p50)).toFixed(1)} ms (worst node)   p99 ${Math.max(...all.map((r) => r.p99)).toFixed(1)} ms`);
  } finally {
    await f.close();
  }
}

/**
 * What fleet-wide single use costs (issue 9, point 1): POST /v1/verify at another node than
 * the issuer, one request at a time, with consume: true (the node's SQLite, then the atomic
 * create in the fleet's consumed KV bucket) next to consume: false (the lookup only).
 */
async function singleUseBench(f: TestFleet, count: number): Promise<void> {
  const [n1, n2] = f.nodes as [(typeof f.nodes)[number], (typeof f.nodes)[number]];
  const writs: { writ: string; args: Record<string, unknown> }[] = [];
  for (let i = 0; i < count; i++) {
    const req = allowedRequest(100_000 + i);
    const r = await f.authorize(n1, req);
    if (!r.body.writ) throw new Error(`bench: no writ: ${r.body.message ?? ''}`);
    writs.push({ writ: r.body.writ, args: req.args ?? {} });
  }
  const time = async (consume: boolean) => {
    const ms: number[] = [];
    for (const w of writs) {
      const t0 = performance.now();
      const res = await fetch(`${n2.url}/v1/verify`, { method: 'POST', headers: callerHeaders(n2), body: JSON.stringify({ writ: w.writ, audience: 'Tool::"fs/read"', args: w.args, consume }) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`bench: verify ${consume ? 'consume' : 'inspect'}: HTTP ${res.status}`);
      ms.push(performance.now() - t0);
    }
    return `p50 ${(percentile(ms, 0.5) * 1000).toFixed(0)} µs   p99 ${(percentile(ms, 0.99) * 1000).toFixed(0)} µs`;
  };
  console.log(`fleet-wide single use (POST /v1/verify at n2 of writs issued by n1, ${count} sequential, HTTP on loopback):`);
  console.log(`  consume: false (KV lookup)            ${await time(false)}`);
  console.log(`  consume: true  (SQLite + KV create)   ${await time(true)}`);
}

/**
 * The fleet console's reads at the authority (issue 6), on a fleet ledger of `decisions`
 * entries in PostgreSQL written by the sequencer: health (every node, merged statistics),
 * a page of entries, and lineage by writ id, by principal and by MCP session (index
 * lookups on the columns the sequencer derives from each decision leaf).
 */
export async function fleetConsoleBench(quick: boolean): Promise<void> {
  const decisions = quick ? 3000 : 20_000;
  let f: TestFleet;
  try {
    f = await TestFleet.start({ nodes: 2, sequencer: true, authorityPg: true });
  } catch (err) {
    console.log(`\nwrit fleet console bench — skipped: could not start a fleet (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    return;
  }
  try {
    const [n1, n2] = f.nodes as [(typeof f.nodes)[number], (typeof f.nodes)[number]];
    let jti = '';
    let next = 0;
    const worker = async (w: number) => {
      for (let i = next++; i < decisions; i = next++) {
        const r = await f.authorize(w % 2 ? n1 : n2, { ...allowedRequest(i), context: { mcp: { session: `sess-${i % 100}` } } });
        if (i === Math.floor(decisions / 2) && r.body.writ) jti = decodeClaims(r.body.writ).jti;
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
    f.writs.length = 0;
    const base = f.authority.url;
    await waitFor('the sequencer has every decision', async () => {
      const e = (await (await fetch(`${base}/console/api/entries?limit=1`)).json()) as { size: number };
      return e.size >= decisions;
    }, 120_000, 250);
    const time = async (path: string, runs: number) => {
      const ms: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const res = await fetch(`${base}${path}`);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
        ms.push(performance.now() - t0);
      }
      return `p50 ${percentile(ms, 0.5).toFixed(1)} ms   p99 ${percentile(ms, 0.99).toFixed(1)} ms`;
    };
    console.log(`\nwrit fleet console bench — the authority's console reads, fleet ledger of ${decisions.toLocaleString('en')} decisions in PostgreSQL (2 nodes, sequencer, authority --pg)`);
    console.log(`  health (nodes + merged stats, 120 s)    ${await time('/console/api/health?seconds=120', 50)}`);
    console.log(`  entries (newest 25)                     ${await time('/console/api/entries', 50)}`);
    console.log(`  lineage by writ id (index)              ${await time(`/console/api/lineage?q=${jti}`, 50)}`);
    console.log(`  lineage by session (index)              ${await time(`/console/api/lineage?q=sess-7&kind=session`, 10)}`);
    console.log(`  lineage by principal (index, 500 max)   ${await time(`/console/api/lineage?q=${encodeURIComponent('Agent::"a1"')}&kind=principal`, 10)}`);
  } finally {
    await f.close();
  }
}

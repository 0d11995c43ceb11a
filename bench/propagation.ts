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
import { jetstreamManager } from '@nats-io/jetstream';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { callerHeaders, CALL, NATS_URL, percentile, READ, type AuthorizeBody, type FleetNodeProc, type TestFleet } from '../test/fleet-harness.ts';
import { ANSWERED, REVOCATION_ROUND, type PollResult, type PollRound, type PollTarget } from './propagation-poller.ts';
import { sleep, waitFor } from '../test/wait.ts';

export interface Propagation {
  /** ms from the acknowledged put to the node's applying it, one per node and revocation */
  applied: number[];
  /** ms from the acknowledged put to the watch delivering it to the node */
  received: number[];
  /** ms from sending the put to the node's applying it */
  appliedFromSend: number[];
  /** ms from sending the put to NATS storing it (the stream message's own timestamp, NATS's clock: the same machine's) */
  stored: number[];
  /** ms from NATS storing the put to the watch delivering it to the node, one per node and revocation */
  storedToReceived: number[];
  /** ms from the node's watch callback to its applying the revocation: the node's own part */
  own: number[];
  /** ms from NATS storing the put to the node's applying it */
  storedToApplied: number[];
  /** ms from NATS storing the put to a bare NATS KV watch in a process of its own being told (ReferenceWatch) */
  reference: number[];
  /** ms from the acknowledged put to the first denial the bench saw (polling only) */
  firstDenial: number[];
  /** ms from sending the put to its acknowledgement */
  put: number[];
}

const epoch = (perfNow: number) => performance.timeOrigin + perfNow;

/** An RFC 3339 timestamp with up to ns (what JetStream reports) as ms since the epoch with the fraction. */
function rfc3339Ms(t: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) throw new Error(`not an RFC 3339 timestamp: ${t}`);
  const [, whole, fraction = '', zone] = m as unknown as [string, string, string | undefined, string];
  return Date.parse(whole + zone) + Number(`0.${fraction || '0'}`) * 1000;
}

/** When NATS stored revision `revision` of the revocations bucket (read after the measurement, outside it). */
async function storedAt(f: TestFleet, revision: number): Promise<number> {
  const jsm = await jetstreamManager(f.fleet.nc);
  const m = await jsm.streams.getMessage(`KV_${f.name}_revocations`, { seq: revision });
  if (!m) throw new Error(`revision ${revision} of the revocations bucket is gone`);
  return rfc3339Ms(m.timestamp);
}

/** The node's trace of revocation `revision`, once it is in its output. */
async function trace(n: { id: string; output: string }, revision: number): Promise<{ received: number; applied: number }> {
  const re = new RegExp(`revocation ${revision} received at ([\\d.]+) applied at ([\\d.]+)`);
  let m: RegExpExecArray | null = null;
  await waitFor(`${n.id} traced revocation ${revision} (started with WRIT_TRACE_REVOCATIONS=1?)`, () => (m = re.exec(n.output)) !== null, 5000, 5);
  const [, received, applied] = m as unknown as [string, string, string];
  return { received: Number(received), applied: Number(applied) };
}

/** A bare NATS KV watch of the revocations bucket in a process of its own (bench/kv-watch-reference.ts): the floor. */
export class ReferenceWatch {
  readonly id = 'reference watch';
  output = '';
  private readonly child: ChildProcess;
  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  static async start(f: TestFleet): Promise<ReferenceWatch> {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./kv-watch-reference.ts', import.meta.url)), NATS_URL, `${f.name}_revocations`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const w = new ReferenceWatch(child);
    await waitFor('the reference watch is ready', () => w.output.startsWith('ready\n') || child.exitCode !== null, 30_000, 10);
    if (child.exitCode !== null) throw new Error(`the reference watch exited (${child.exitCode})`);
    return w;
  }

  stop(): void {
    this.child.kill();
  }
}

/** The pollers' thread (bench/propagation-poller.ts), started on first use. */
class Pollers {
  private readonly flags = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker = new Worker(new URL('./propagation-poller.ts', import.meta.url), { workerData: this.flags.buffer });
  private round = 0;

  constructor() {
    this.worker.unref();
  }

  /** Starts polling every node with `body`; resolves once each poller had an answer. */
  async start(f: TestFleet, body: string): Promise<{ round: number; revoking: () => void; denied: Promise<number[]> }> {
    const round = ++this.round;
    Atomics.store(this.flags, ANSWERED, 0);
    const denied = new Promise<number[]>((resolve, reject) => {
      const on = (m: PollResult) => {
        if (m.round !== round) return;
        this.worker.off('message', on);
        if ('error' in m) reject(new Error(m.error));
        else resolve(m.denied);
      };
      this.worker.on('message', on);
    });
    let failed = false;
    denied.catch(() => (failed = true)); // awaited by the caller
    const targets: PollTarget[] = f.nodes.map((n) => ({ id: n.id, url: n.url, headers: callerHeaders(n) }));
    this.worker.postMessage({ round, body, targets, timeoutMs: 5000 } satisfies PollRound);
    await waitFor('every poller answered once', () => Atomics.load(this.flags, ANSWERED) === targets.length || failed, 5000, 5);
    return { round, revoking: () => void Atomics.store(this.flags, REVOCATION_ROUND, round), denied };
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * `poll`: every node is polled while the revocation travels (one request in flight each, from
 * the pollers' own thread: a loaded fleet, and the first denial as an upper bound); without it
 * the nodes are idle and each is asked once, after it traced the revocation, that it now denies.
 */
export async function measurePropagation(f: TestFleet, count: number, o: { poll: boolean; reference?: ReferenceWatch } = { poll: true }): Promise<Propagation> {
  const out: Propagation = { applied: [], received: [], appliedFromSend: [], stored: [], storedToReceived: [], storedToApplied: [], own: [], reference: [], firstDenial: [], put: [] };
  const pollers = o.poll ? new Pollers() : null;
  try {
    for (let i = 0; i < count; i++) {
      const principal = `Agent::"q-${i}-${randomBytes(3).toString('hex')}"`;
      const body: AuthorizeBody = { principal, action: CALL, resource: READ, args: { path: '/srv/x' } };
      const polling = pollers ? await pollers.start(f, JSON.stringify(body)) : null;
      polling?.revoking();
      const r = await f.revoke('quarantine', principal, 'propagation measurement');
      const polled = polling ? await polling.denied : null;
      const traces = await Promise.all(f.nodes.map((n) => trace(n, r.revision)));
      const reference = o.reference ? await trace(o.reference, r.revision) : null;
      // idle: each node, asked now, must deny (applied means every later decision denies)
      const askOnce = async (n: FleetNodeProc) => {
        const a = await f.authorize(n, body);
        if (!a.body.reasons.includes('principal_quarantined')) throw new Error(`${n.id} applied the quarantine of ${principal} but then answered ${a.body.reasons.join(',')}`);
        return epoch(performance.now());
      };
      const denied = polled ?? (await Promise.all(f.nodes.map(askOnce)));
      const acked = epoch(r.ackedAt);
      const sent = epoch(r.sentAt);
      const stored = await storedAt(f, r.revision);
      out.put.push(r.ackedAt - r.sentAt);
      out.stored.push(stored - sent);
      if (reference) out.reference.push(reference.received - stored);
      f.nodes.forEach((n, k) => {
        const t = traces[k] as { received: number; applied: number };
        const d = denied[k] as number;
        if (d < t.applied) throw new Error(`${n.id} denied ${principal} before it applied the revocation: the trace is wrong`);
        // a watch may be told before the put's acknowledgement reaches the bench: that is 0
        out.applied.push(Math.max(0, t.applied - acked));
        out.received.push(Math.max(0, t.received - acked));
        out.appliedFromSend.push(t.applied - sent);
        out.storedToReceived.push(t.received - stored);
        out.storedToApplied.push(t.applied - stored);
        out.own.push(t.applied - t.received);
        if (pollers) out.firstDenial.push(Math.max(0, d - acked));
      });
      await sleep(20); // a pause between measurements
    }
  } finally {
    await pollers?.stop();
  }
  return out;
}

export const summary = (ms: number[]) => `p50 ${percentile(ms, 0.5).toFixed(2)} ms   p99 ${percentile(ms, 0.99).toFixed(2)} ms   max ${Math.max(...ms).toFixed(2)} ms`;

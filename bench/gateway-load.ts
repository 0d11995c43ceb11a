/**
 * Load and CPU measurement for bench/gateway.ts.
 *   closedLoop  autocannon, N connections each sending its next request when the last answered
 *               (saturates: p50 ≈ N / throughput, Little's law); latencies from autocannon's
 *               per-response times in µs (its histogram keeps whole milliseconds only)
 *   openLoop    a fixed offered rate over N kept-alive connections (node:http Agent), each
 *               request's latency counted from the moment it was due, so queueing behind a slow
 *               answer is counted rather than hidden (no coordinated omission)
 *   cpuOf       CPU time of processes from /proc (Linux; null elsewhere), to say per request
 *               where the machine's cores went
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';

export interface Load {
  responses: number;
  perSecond: number;
  p50us: number;
  p99us: number;
  /** non-2xx answers, errors and timeouts */
  bad: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export async function closedLoop(url: string, headers: Record<string, string>, seconds: number, connections: number, o: { method?: 'POST'; body?: string } = {}): Promise<Load> {
  const samples: number[] = [];
  const started = performance.now();
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, connections, duration: seconds, headers, ...o }, (err: unknown, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result)));
    instance.on('response', (_client, _status, _bytes, ms) => samples.push(ms * 1000));
  });
  const wall = (performance.now() - started) / 1000;
  samples.sort((a, b) => a - b);
  return { responses: r.requests.total, perSecond: r.requests.total / wall, p50us: quantile(samples, 0.5), p99us: quantile(samples, 0.99), bad: r.non2xx + r.errors + r.timeouts };
}

export async function openLoop(url: string, headers: Record<string, string>, seconds: number, connections: number, rate: number): Promise<Load> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const target = new URL(url);
  const samples: number[] = [];
  let bad = 0;
  const one = (due: number) =>
    new Promise<void>((resolve) => {
      const req = request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, headers, agent }, (res) => {
        res.resume();
        res.once('end', () => {
          samples.push((performance.now() - due) * 1000);
          if ((res.statusCode ?? 0) >= 300) bad++;
          resolve();
        });
      });
      req.once('error', () => {
        bad++;
        resolve();
      });
      req.end();
    });
  const started = performance.now();
  const total = Math.round(rate * seconds);
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(one(due));
  }
  await Promise.all(inFlight);
  const wall = (performance.now() - started) / 1000;
  agent.destroy();
  samples.sort((a, b) => a - b);
  return { responses: samples.length, perSecond: samples.length / wall, p50us: quantile(samples, 0.5), p99us: quantile(samples, 0.99), bad };
}

const TICK_US = 1e6 / 100; // USER_HZ: 100 on Linux

/** utime + stime of a process in µs, or null without /proc. */
function cpuUs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return null;
  }
}

/** The pids of a process's children (nginx's workers). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc', { withFileTypes: false }) as string[]) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(pid)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The whole machine's busy and total time in ticks, from /proc/stat. */
function machine(): { busy: number; total: number } | null {
  try {
    const t = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = t.reduce((a, b) => a + b, 0);
    return { busy: total - (t[3] ?? 0) - (t[4] ?? 0), total };
  } catch {
    return null;
  }
}

export type CpuGroups = Record<string, number[]>;
/** µs of CPU per group (this process included as `self`) and the machine's busy share, between two snapshots. */
export interface CpuUse {
  us: Record<string, number>;
  /** 0..1 of all cores, every process on the machine counted */
  machineBusy: number | null;
}

export function cpuOf(groups: CpuGroups): () => CpuUse | null {
  const snap = () => {
    const us: Record<string, number> = {};
    for (const [name, pids] of Object.entries(groups)) {
      let sum = 0;
      for (const p of pids) {
        const c = cpuUs(p);
        if (c === null) return null;
        sum += c;
      }
      us[name] = sum;
    }
    const self = process.cpuUsage();
    us.self = self.user + self.system;
    return { us, m: machine() };
  };
  const before = snap();
  return () => {
    const after = snap();
    if (before === null || after === null) return null;
    const us = Object.fromEntries(Object.entries(after.us).map(([k, v]) => [k, v - (before.us[k] ?? 0)]));
    const machineBusy = before.m && after.m && after.m.total > before.m.total ? (after.m.busy - before.m.busy) / (after.m.total - before.m.total) : null;
    return { us, machineBusy };
  };
}

/** Median and range of numbers. */
export function spread(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}

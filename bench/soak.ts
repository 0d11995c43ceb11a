/**
 * `npm run soak [-- --minutes 10 --concurrency 8 --interval 30 --keep]`: memory under
 * sustained hostile traffic (issue 9.3, docs/bounds.md). Starts `writ up --demo` on a
 * fresh home in a child process and drives it over keep-alive HTTP with a fixed mix of
 *   allowed    Agent::"a1" reads a file under /srv; half the writs are verified (consumed)
 *              and half of those report an outcome
 *   denied     a forbidden path, a tool nobody may call, an action the policy never names
 *   garbage    broken JSON, wrong types, unknown fields, bad uids, oversized and non-JSON bodies
 *   unique     a principal and resource never seen before, with ~20 KiB of arguments full of
 *              entity-shaped members, each naming a uid never seen before
 * and samples the child's RSS (/proc/<pid>/status) and V8 heap (its /metrics) every
 * interval. Passes when RSS at the end is within 10% of RSS after the first minute (the
 * first sample, for runs under two minutes); exits 1 otherwise. Not part of `npm test`.
 *
 * `--semi-space MB` (default 32; 0: V8's own sizing) fixes the server's young generation.
 * Left to itself V8 starts it at 1 MiB and doubles it, under load, up to its ceiling
 * (64 MiB semi-spaces on a large machine); each doubling is a one-time step in RSS of
 * garbage space, not retained memory, and the last one can come minutes into a run,
 * which would read as growth. Fixed, RSS measures what the server keeps.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { paths } from '../src/home/config.ts';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const MIB = 1024 * 1024;
const GROWTH_LIMIT = 0.1;

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    interval: { type: 'string', default: '30' },
    'semi-space': { type: 'string', default: '32' },
    keep: { type: 'boolean', default: false },
  },
});

function positive(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${String(v)}`);
  return n;
}

const minutes = positive('minutes', flags.minutes);
const concurrency = Math.floor(positive('concurrency', flags.concurrency));
const intervalMs = positive('interval', flags.interval) * 1000;
const semiSpace = flags['semi-space'] === '0' ? 0 : Math.floor(positive('semi-space', flags['semi-space']));
const v8Flags = semiSpace === 0 ? [] : [`--min-semi-space-size=${semiSpace}`, `--max-semi-space-size=${semiSpace}`];

type Kind = 'allowed' | 'denied' | 'garbage' | 'unique';
/** one pass over this pattern is 3 allowed, 2 denied, 2 garbage, 3 unique */
const PATTERN: Kind[] = ['allowed', 'unique', 'denied', 'garbage', 'allowed', 'unique', 'denied', 'allowed', 'garbage', 'unique'];

interface Sample {
  t: number;
  rssMiB: number;
  heapUsedMiB: number | null;
  heapTotalMiB: number | null;
  externalMiB: number | null;
  requests: number;
  dbMiB: number;
}

async function startServer(home: string): Promise<{ child: ChildProcess; base: string; stderr: () => string }> {
  const child = spawn(process.execPath, [...v8Flags, CLI, 'up', '--demo', '--home', home, '--port', '0', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writ up did not start:\n${err}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-20_000);
      const m = /listening on (http:\/\/\S+?) /.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`writ up exited ${String(code)}:\n${err}`)));
  });
  return { child, base, stderr: () => err };
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

async function heap(base: string): Promise<{ used: number | null; total: number | null; external: number | null }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const metric = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)`, 'm').exec(text);
    return m?.[1] ? Number(m[1]) / MIB : null;
  };
  return { used: metric('nodejs_heap_size_used_bytes'), total: metric('nodejs_heap_size_total_bytes'), external: metric('nodejs_external_memory_bytes') };
}

function fileMiB(path: string): number {
  try {
    return statSync(path).size / MIB;
  } catch {
    return 0;
  }
}

const READ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };
const json = { 'content-type': 'application/json' };

class Driver {
  readonly counts = new Map<string, number>();
  requests = 0;
  private n = 0;
  private readonly base: string;
  private readonly authorization: string;
  constructor(base: string, callerToken: string) {
    this.base = base;
    this.authorization = `Bearer ${callerToken}`;
  }

  private count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private async post(kind: string, path: string, body: string, headers: Record<string, string> = json): Promise<{ status: number; body: string }> {
    this.requests++;
    try {
      // every request carries the soak's caller token, so refusals are about the body, not the credential
      const res = await fetch(`${this.base}${path}`, { method: 'POST', headers: { ...headers, authorization: this.authorization }, body });
      const text = await res.text();
      this.count(`${kind} ${path} ${res.status}`);
      return { status: res.status, body: text };
    } catch (err) {
      this.count(`${kind} ${path} error:${(err as Error).message}`);
      return { status: 0, body: '' };
    }
  }

  async allowed(i: number): Promise<void> {
    const args = { path: `/srv/data/${i % 1000}.csv` };
    const r = await this.post('allowed', '/v1/authorize', JSON.stringify({ ...READ, args }));
    if (r.status !== 200 || i % 2 !== 0) return;
    const writ = (JSON.parse(r.body) as { writ: string }).writ;
    const v = await this.post('allowed', '/v1/verify', JSON.stringify({ writ, audience: READ.resource, args }));
    if (v.status !== 200 || i % 4 !== 0) return;
    const outcomeToken = (JSON.parse(v.body) as { outcomeToken: string }).outcomeToken;
    await this.post('allowed', '/v1/outcome', JSON.stringify({ writ, outcomeToken, status: 'ok', exitCode: 0, durationMs: 3 }));
  }

  async denied(i: number): Promise<void> {
    const bodies = [
      { ...READ, args: { path: `/srv/secret/${i}.key` } },
      { ...READ, resource: 'Tool::"fs/write"', args: { path: '/srv/a' } },
      { ...READ, action: 'Action::"never-named"', args: {} },
    ];
    await this.post('denied', '/v1/authorize', JSON.stringify(bodies[i % bodies.length]));
  }

  async garbage(i: number): Promise<void> {
    const cases: [string, Record<string, string>][] = [
      ['{"principal": "Agent::\\"a1\\"", "action":', json],
      ['[1, 2, 3]', json],
      [JSON.stringify({ principal: 5, action: [], resource: {} }), json],
      [JSON.stringify({ ...READ, surprise: 'x'.repeat(1000) }), json],
      [JSON.stringify({ principal: `not a uid ${i}`, action: 'Action::"tools/call"', resource: 'nor this' }), json],
      [JSON.stringify({ ...READ, args: { blob: 'x'.repeat(70 * 1024) } }), json], // over the body limit
      [Buffer.from(Array.from({ length: 512 }, (_, k) => (k * 31 + i) % 256)).toString('latin1'), { 'content-type': 'application/octet-stream' }],
      [JSON.stringify({ ...READ, args: { __entity: { type: 'Agent', id: `x${i}` } } }), json],
    ];
    const [body, headers] = cases[i % cases.length] as [string, Record<string, string>];
    await this.post('garbage', '/v1/authorize', body, headers);
  }

  async unique(i: number): Promise<void> {
    const refs = Array.from({ length: 200 }, (_, k) => ({ type: 'Agent', id: `soak-${i}-${k}` }));
    const args = { path: `/srv/u/${i}`, note: `n${i}-${'z'.repeat(8000)}`, refs, owner: { type: 'Team', id: `team-${i}` } };
    await this.post('unique', '/v1/authorize', JSON.stringify({ principal: `Agent::"soak-${i}"`, action: 'Action::"tools/call"', resource: `Tool::"soak-${i}"`, args }));
  }

  async worker(until: number): Promise<void> {
    while (Date.now() < until) {
      const i = this.n++;
      await this[PATTERN[i % PATTERN.length] as Kind](i);
    }
  }
}

const fmt = (v: number | null, d = 1) => (v === null ? '-' : v.toFixed(d));

async function main(): Promise<number> {
  const home = mkdtempSync(join(tmpdir(), 'writ-soak-'));
  // a caller token of both roles for any principal (the unique pattern names a new principal per request)
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--home', home], { encoding: 'utf8' });
  if (cli(['init']).status !== 0) throw new Error('soak: writ init failed');
  const added = cli(['caller', 'add', 'soak', '--role', 'both', '--principals', '*']);
  if (added.status !== 0) throw new Error(`soak: writ caller add failed: ${added.stderr}`);
  const server = await startServer(home);
  const pid = server.child.pid as number;
  const dbFile = paths(home).db;
  const driver = new Driver(server.base, added.stdout.trim());
  const started = Date.now();
  const until = started + minutes * 60_000;
  console.log(`soak: writ up pid ${pid} at ${server.base}, ${minutes} min, concurrency ${concurrency}, sample every ${intervalMs / 1000} s, ${semiSpace === 0 ? 'young generation sized by V8' : `young generation fixed at ${semiSpace} MiB semi-spaces`}`);
  console.log(`${'t (s)'.padStart(6)} ${'RSS MiB'.padStart(8)} ${'heap used'.padStart(9)} ${'heap tot'.padStart(8)} ${'external'.padStart(8)} ${'requests'.padStart(9)} ${'req/s'.padStart(6)} ${'db MiB'.padStart(7)}`);
  const samples: Sample[] = [];
  const sample = async () => {
    const t = Math.round((Date.now() - started) / 1000);
    const h = await heap(server.base).catch(() => ({ used: null, total: null, external: null }));
    const s: Sample = { t, rssMiB: rssMiB(pid), heapUsedMiB: h.used, heapTotalMiB: h.total, externalMiB: h.external, requests: driver.requests, dbMiB: fileMiB(dbFile) + fileMiB(`${dbFile}-wal`) };
    const prev = samples.at(-1);
    const rate = prev ? (s.requests - prev.requests) / Math.max(1, s.t - prev.t) : 0;
    samples.push(s);
    console.log(`${String(s.t).padStart(6)} ${fmt(s.rssMiB).padStart(8)} ${fmt(s.heapUsedMiB).padStart(9)} ${fmt(s.heapTotalMiB).padStart(8)} ${fmt(s.externalMiB).padStart(8)} ${String(s.requests).padStart(9)} ${rate.toFixed(0).padStart(6)} ${fmt(s.dbMiB).padStart(7)}`);
  };
  await sample();
  const timer = setInterval(() => void sample(), intervalMs);
  try {
    await Promise.all(Array.from({ length: concurrency }, () => driver.worker(until)));
  } finally {
    clearInterval(timer);
  }
  await sample();
  const alive = server.child.exitCode === null;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
  if (!flags.keep) rmSync(home, { recursive: true, force: true });
  else console.log(`home kept: ${home}`);

  console.log('\nresponses:');
  for (const [k, v] of [...driver.counts].sort()) console.log(`  ${String(v).padStart(8)}  ${k}`);
  const baseline = (minutes >= 2 ? samples.find((s) => s.t >= 60) : samples[1]) ?? samples[0];
  const last = samples.at(-1);
  if (!baseline || !last || !alive) {
    console.log(`\nFAIL: ${alive ? 'too few samples' : `writ up died:\n${server.stderr()}`}`);
    return 1;
  }
  const growth = (last.rssMiB - baseline.rssMiB) / baseline.rssMiB;
  const allowed = [...driver.counts].filter(([k]) => k.startsWith('allowed /v1/authorize 200')).reduce((a, [, v]) => a + v, 0);
  const verdict = growth <= GROWTH_LIMIT && allowed > 0;
  console.log(
    `\nRSS ${fmt(baseline.rssMiB)} MiB at ${baseline.t} s -> ${fmt(last.rssMiB)} MiB at ${last.t} s: ${(growth * 100).toFixed(1)}% (limit ${GROWTH_LIMIT * 100}%); peak ${fmt(Math.max(...samples.map((s) => s.rssMiB)))} MiB; ${driver.requests} requests, ${allowed} allowed`,
  );
  console.log(verdict ? 'PASS' : allowed === 0 ? 'FAIL: nothing was allowed (the traffic is not what it should be)' : 'FAIL: RSS grew more than the limit');
  return verdict ? 0 : 1;
}

process.exitCode = await main();

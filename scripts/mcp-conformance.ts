/**
 * `npm run conformance`: the MCP conformance server suite (@modelcontextprotocol/conformance)
 * against an upstream directly and through `writ mcp` (allow-all policy), side by side.
 *
 *   node scripts/mcp-conformance.ts [--upstream everything|fixture|all] [--keep]
 *
 * Upstreams:
 *   everything  @modelcontextprotocol/server-everything over Streamable HTTP. It lacks most
 *               of the suite's fixtures (test_* tools, resources, prompts), so many checks
 *               fail directly; those are reported and tolerated.
 *   fixture     scripts/mcp-conformance-fixture.ts: every fixture the suite calls, including
 *               sampling, elicitation, progress, logging and DNS rebinding protection.
 *
 * Exit status: 0 when every check that passes directly passes through the proxy; 1 when one
 * does not (a regression the proxy introduces); 2 when the harness itself failed (a process
 * did not start, a run timed out). Every process started here is stopped before exiting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const FIXTURE = join(ROOT, 'scripts', 'mcp-conformance-fixture.ts');
const CONFORMANCE = join(ROOT, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const PRINCIPAL = 'Agent::"conformance"';
const START_TIMEOUT_MS = 15_000;
const SUITE_TIMEOUT_MS = 180_000;
const TOTAL_TIMEOUT_MS = 600_000;

type Status = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED' | string;
interface Check {
  scenario: string;
  id: string;
  status: Status;
  errorMessage?: string;
}
interface SuiteRun {
  checks: Map<string, Check>;
  /** scenarios the suite announced but that left no results */
  missing: string[];
}

class HarnessError extends Error {}

const children = new Set<ChildProcess>();

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function start(label: string, args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('error', (err) => (out += `\n[${label}: ${err.message}]`));
  return { child, output: () => out };
}

/** Waits until `pattern` appears in the process output; its first group is returned. */
async function waitFor(label: string, p: { child: ChildProcess; output: () => string }, pattern: RegExp, timeoutMs = START_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = pattern.exec(p.output());
    if (m) return m[1] ?? m[0];
    if (p.child.exitCode !== null || p.child.signalCode !== null) throw new HarnessError(`${label} exited (${p.child.exitCode ?? p.child.signalCode}) before it was ready:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new HarnessError(`${label} not ready after ${timeoutMs} ms:\n${p.output()}`);
}

async function stop(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
}

/** Runs a CLI command to completion (bounded); throws with its output if it fails. */
async function run(label: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const p = start(label, args);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => p.child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  if (code !== 0) throw new HarnessError(`${label} failed (${code ?? 'killed'}):\n${p.output()}`);
  return p.output();
}


async function startEverything(): Promise<string> {
  // server-everything listens on $PORT (default 3001) and only ever prints the port it was
  // given, so a free port is picked here; a lost race (EADDRINUSE) is retried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const p = start('server-everything', [EVERYTHING, 'streamableHttp'], { ...process.env, PORT: String(port) });
    try {
      await waitFor('server-everything', p, /listening on port (\d+)/);
      return `http://127.0.0.1:${port}/mcp`;
    } catch (err) {
      await stop(p.child);
      if (attempt >= 3 || !p.output().includes('already in use')) throw err;
    }
  }
}

async function startFixture(): Promise<string> {
  return waitFor('fixture', start('fixture', [FIXTURE, '0']), /listening on (http:\/\/\S+)/);
}

async function startProxy(home: string, upstream: string): Promise<{ url: string; output: () => string }> {
  const p = start('writ mcp', [CLI, 'mcp', '--home', home, '--listen', '0', '--principal', PRINCIPAL, '--upstream', upstream]);
  return { url: await waitFor('writ mcp', p, /writ mcp: listening on (http:\/\/\S+)/), output: p.output };
}

async function suite(url: string, out: string): Promise<SuiteRun> {
  const p = start('conformance', [CONFORMANCE, 'server', '--suite', 'all', '--url', url, '--output-dir', out]);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), SUITE_TIMEOUT_MS);
  await new Promise((r) => p.child.once('exit', r));
  clearTimeout(timer);
  if (p.child.signalCode === 'SIGKILL') throw new HarnessError(`conformance suite against ${url} timed out after ${SUITE_TIMEOUT_MS} ms:\n${p.output().slice(-4000)}`);
  // The suite exits 1 when any check fails; its results are read from the output directory.
  const announced = [...p.output().matchAll(/=== Running scenario: (\S+) ===/g)].map((m) => m[1] as string);
  if (announced.length === 0) throw new HarnessError(`conformance suite against ${url} ran no scenario:\n${p.output().slice(-4000)}`);
  const checks = new Map<string, Check>();
  const seen = new Set<string>();
  for (const dir of existsSync(out) ? readdirSync(out).sort() : []) {
    const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    const file = join(out, dir, 'checks.json');
    if (!existsSync(file)) continue;
    seen.add(scenario);
    const list = JSON.parse(readFileSync(file, 'utf8')) as { id: string; status: Status; errorMessage?: string }[];
    for (const c of list) {
      // A check id can repeat within a scenario (one entry per SSE event): keep the worst verdict.
      const key = `${scenario} / ${c.id}`;
      const before = checks.get(key);
      if (before && severity(before.status) >= severity(c.status)) continue;
      checks.set(key, { scenario, id: c.id, status: c.status, ...(c.errorMessage && { errorMessage: c.errorMessage }) });
    }
  }
  return { checks, missing: announced.filter((s) => !seen.has(s)) };
}

const passed = (c: Check | undefined) => c?.status === 'SUCCESS';
const severity = (s: Status) => ['INFO', 'SKIPPED', 'SUCCESS', 'WARNING', 'FAILURE'].indexOf(s);

function compare(name: string, direct: SuiteRun, proxied: SuiteRun): { regressions: string[] } {
  const keys = [...new Set([...direct.checks.keys(), ...proxied.checks.keys()])];
  // INFO entries are the suite's log of what it sent and received; only verdicts are compared.
  const rows = keys.filter((k) => [direct.checks.get(k), proxied.checks.get(k)].some((c) => c !== undefined && c.status !== 'INFO'));
  const label = (c: Check | undefined) => (c === undefined ? 'missing' : c.status === 'SUCCESS' ? 'pass' : c.status === 'FAILURE' ? 'FAIL' : c.status.toLowerCase());
  const width = Math.max(20, ...rows.map((k) => k.length));
  const regressions: string[] = [];
  const bothFail: string[] = [];
  console.log(`\n${name}: conformance checks, direct vs through writ mcp`);
  console.log(`${'scenario / check'.padEnd(width)}  ${'direct'.padEnd(7)}  ${'proxy'.padEnd(7)}  note`);
  console.log(`${'-'.repeat(width)}  -------  -------  ----`);
  for (const k of rows) {
    const d = direct.checks.get(k);
    const p = proxied.checks.get(k);
    let note = '';
    if (passed(d) && !passed(p)) {
      note = `REGRESSION: ${p?.errorMessage ?? (p ? p.status : 'no result through the proxy')}`;
      regressions.push(`${name}: ${k}: ${p?.errorMessage ?? p?.status ?? 'missing'}`);
    } else if (!passed(d) && passed(p)) note = 'passes only through the proxy';
    else if (!passed(d) && d?.status === 'FAILURE') {
      note = `fails directly too: ${d.errorMessage ?? ''}`.slice(0, 110);
      bothFail.push(k);
    } else if (d?.status === 'WARNING' && p?.status === 'WARNING') note = 'warning in both';
    console.log(`${k.padEnd(width)}  ${label(d).padEnd(7)}  ${label(p).padEnd(7)}  ${note}`);
  }
  for (const s of direct.missing) console.log(`(${s}: no result directly)`);
  for (const s of proxied.missing) {
    console.log(`(${s}: no result through the proxy)`);
    if (!direct.missing.includes(s)) regressions.push(`${name}: ${s}: the scenario left no result through the proxy`);
  }
  const count = (r: SuiteRun) => [...r.checks.values()].filter((c) => c.status === 'SUCCESS').length;
  console.log(`${name}: ${count(direct)} checks pass directly, ${count(proxied)} through the proxy; ${regressions.length} regression(s); ${bothFail.length} failing in both (tolerated)`);
  return { regressions };
}

async function main(): Promise<number> {
  const which = argValue('--upstream') ?? 'all';
  if (!['everything', 'fixture', 'all'].includes(which)) throw new HarnessError(`--upstream must be everything, fixture or all (got ${which})`);
  const work = mkdtempSync(join(tmpdir(), 'writ-conformance-'));
  try {
    const home = join(work, 'home');
    const policies = join(work, 'policies');
    mkdirSync(policies);
    writeFileSync(join(policies, 'allow-all.cedar'), 'permit (principal, action, resource);\n');
    await run('writ init', [CLI, 'init', '--home', home]);
    await run('writ policy sign', [CLI, 'policy', 'sign', policies, '--out', join(work, 'bundle.json'), '--version', '1', '--home', home]);
    await run('writ policy activate', [CLI, 'policy', 'activate', join(work, 'bundle.json'), '--home', home]);

    const upstreams: { name: string; start: () => Promise<string> }[] = [];
    if (which !== 'fixture') upstreams.push({ name: 'server-everything', start: startEverything });
    if (which !== 'everything') upstreams.push({ name: 'fixture', start: startFixture });
    const regressions: string[] = [];
    for (const u of upstreams) {
      const upstream = await u.start();
      const proxy = await startProxy(home, upstream);
      console.log(`${u.name}: upstream ${upstream}, proxy ${proxy.url}`);
      const direct = await suite(upstream, join(work, `${u.name}-direct`));
      const proxied = await suite(proxy.url, join(work, `${u.name}-proxy`));
      regressions.push(...compare(u.name, direct, proxied).regressions);
      const log = proxy.output().split('\n').filter((l) => l.trim() && !l.includes('listening on'));
      if (log.length) console.log(`writ mcp said (${log.length} line(s)):\n  ${log.slice(0, 20).join('\n  ')}`);
      await stopAll();
    }
    console.log(`\nconformance: ${regressions.length === 0 ? 'OK — every check that passes directly passes through writ mcp' : `${regressions.length} regression(s) through writ mcp:\n  ${regressions.join('\n  ')}`}`);
    return regressions.length === 0 ? 0 : 1;
  } finally {
    await stopAll();
    if (process.argv.includes('--keep')) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

const deadline = setTimeout(() => {
  console.error(`conformance: gave up after ${TOTAL_TIMEOUT_MS / 1000} s`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(2);
}, TOTAL_TIMEOUT_MS);
deadline.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}

let code: number;
try {
  code = await main();
} catch (err) {
  console.error(`conformance: ${err instanceof HarnessError ? err.message : String((err as Error).stack ?? err)}`);
  await stopAll();
  code = 2;
}
process.exit(code);

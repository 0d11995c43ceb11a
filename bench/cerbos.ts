/**
 * A peer side by side (issue 14, point 8): the Cerbos policy decision point — the real
 * binary from @cerbos/cerbos-linux-x64 — with an equivalent policy, over HTTP, audit off
 * and with its local audit backend on, next to Writ's HTTP path (`writ up`), driven by
 * autocannon at the same connections, phases interleaved so all see the same machine.
 *
 * The policy, in both: agent a<j> is in team t<j mod 10>; team t<k> may call tool-<k>
 * when the path starts with /srv/. Half the requests ask for /etc/… and must be denied.
 * (Writ holds team membership in its bundle's entities; Cerbos takes it as a principal
 * attribute in the request, as Cerbos has no entity store.)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { initHome } from '../src/home/init.ts';
import { authoritySigningKeys, openHome } from '../src/home/open.ts';
import { CallerStore } from '../src/node/callers.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import { row, upFlags } from './stats.ts';
import { freePort } from '../scripts/ports.ts';

const TOOLS = 10;
const AGENTS = 100;
const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const BIN = join(import.meta.dirname, '..', 'node_modules', '@cerbos', 'cerbos-linux-x64', 'cerbos-linux-x64');
const CONNECTIONS = [16, 64];

/** The i-th request: tool k = i mod 10 by an agent of team k; allowed on even tens of i, denied on odd. */
function nth(i: number): { agent: string; tool: string; team: string; path: string; allow: boolean } {
  const k = i % TOOLS;
  const allow = Math.floor(i / TOOLS) % 2 === 0;
  return { agent: `a${k + TOOLS * (Math.floor(i / TOOLS) % (AGENTS / TOOLS))}`, tool: `tool-${k}`, team: `t${k}`, path: `${allow ? '/srv' : '/etc'}/data/${i % 1000}.txt`, allow };
}

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  body: (i: number) => string;
  /** whether the answer (status, body) is the expected one for an allow or a deny */
  correct: (status: number, body: string, allow: boolean) => boolean;
  pid: number;
}

interface Result {
  name: string;
  connections: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}


async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

function collect(p: ChildProcess): () => string {
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return () => out;
}

async function startWrit(dir: string, procs: ChildProcess[]): Promise<Target> {
  const policies = join(dir, 'writ-policies');
  mkdirSync(policies);
  const cedar = Array.from({ length: TOOLS }, (_, k) => `@id("call-${k}")\npermit (principal in Team::"t${k}", action == Action::"tools/call", resource == Tool::"tool-${k}")\nwhen { context.args has path && context.args.path like "/srv/*" };`);
  writeFileSync(join(policies, 'policies.cedar'), cedar.join('\n\n') + '\n');
  const entities = [
    ...Array.from({ length: TOOLS }, (_, t) => ({ uid: { type: 'Team', id: `t${t}` }, attrs: {}, parents: [] })),
    ...Array.from({ length: AGENTS }, (_, a) => ({ uid: { type: 'Agent', id: `a${a}` }, attrs: {}, parents: [{ type: 'Team', id: `t${a % TOOLS}` }] })),
  ];
  writeFileSync(join(policies, 'entities.json'), JSON.stringify(entities));
  const home = join(dir, 'writ-home');
  await initHome({ home });
  const h = await openHome(home);
  const created = new Date();
  const bundle = await buildBundle(readPolicyFolder(policies), { domain: 'default', version: 1, created, expires: new Date(created.getTime() + 86400_000) }, await authoritySigningKeys(home, h.config));
  await h.node.policy.activate(new TextEncoder().encode(JSON.stringify(bundle)));
  const token = new CallerStore(h.db).add('bench', { roles: ['authorize'], principals: ['*'] }).token;
  h.close();
  const server = spawn(process.execPath, [...upFlags(), CLI, 'up', '--home', home, '--port', '0', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(server);
  const out = collect(server);
  for (let i = 0; i < 200 && !out().includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
  const address = /listening on (http:\/\/[^\s]+)/.exec(out())?.[1];
  if (address === undefined || server.pid === undefined) throw new Error(`writ up did not start: ${out()}`);
  return {
    name: 'Writ (writ up, signed + fsync)',
    url: `${address}/v1/authorize`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: (i) => {
      const r = nth(i);
      return JSON.stringify({ principal: `Agent::"${r.agent}"`, action: 'Action::"tools/call"', resource: `Tool::"${r.tool}"`, args: { path: r.path } });
    },
    correct: (status, body, allow) => (allow ? status === 200 && body.includes('"decision":"allow"') : status === 403 && body.includes('"decision":"deny"')),
    pid: server.pid,
  };
}

async function startCerbos(dir: string, audit: boolean, procs: ChildProcess[]): Promise<Target> {
  const root = join(dir, audit ? 'cerbos-audit' : 'cerbos');
  mkdirSync(join(root, 'policies'), { recursive: true });
  const rules = Array.from({ length: TOOLS }, (_, k) =>
    [
      `    - actions: ['call']`,
      `      effect: EFFECT_ALLOW`,
      `      roles: ['agent']`,
      `      condition:`,
      `        match:`,
      `          all:`,
      `            of:`,
      `              - expr: request.resource.id == "tool-${k}"`,
      `              - expr: request.principal.attr.team == "t${k}"`,
      `              - expr: request.resource.attr.path.startsWith("/srv/")`,
    ].join('\n'),
  );
  writeFileSync(join(root, 'policies', 'tool.yaml'), `apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: tool\n  version: default\n  rules:\n${rules.join('\n')}\n`);
  const [http, grpc] = [await freePort(), await freePort()];
  const auditConf = audit
    ? `audit:\n  enabled: true\n  backend: local\n  accessLogsEnabled: true\n  decisionLogsEnabled: true\n  local:\n    storagePath: ${join(root, 'audit')}\n`
    : `audit:\n  enabled: false\n`;
  const conf = `server:\n  httpListenAddr: "127.0.0.1:${http}"\n  grpcListenAddr: "127.0.0.1:${grpc}"\nstorage:\n  driver: disk\n  disk:\n    directory: ${join(root, 'policies')}\n    watchForChanges: false\ntelemetry:\n  disabled: true\n${auditConf}`;
  writeFileSync(join(root, 'cerbos.yaml'), conf);
  // --log-level=warn: no per-request log lines, as `writ up --quiet`
  const server = spawn(BIN, ['server', `--config=${join(root, 'cerbos.yaml')}`, '--log-level=warn'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(server);
  const out = collect(server);
  const base = `http://127.0.0.1:${http}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`${base}/_cerbos/health`).then((r) => r.ok, () => false);
    if (up) break;
    if (i >= 200 || server.exitCode !== null) throw new Error(`cerbos did not start: ${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (server.pid === undefined) throw new Error('cerbos has no pid');
  return {
    name: audit ? 'Cerbos, local audit on' : 'Cerbos, audit off',
    url: `${base}/api/check/resources`,
    headers: { 'content-type': 'application/json' },
    body: (i) => {
      const r = nth(i);
      return JSON.stringify({ principal: { id: r.agent, roles: ['agent'], attr: { team: r.team } }, resources: [{ resource: { kind: 'tool', id: r.tool, attr: { path: r.path } }, actions: ['call'] }] });
    },
    correct: (status, body, allow) => status === 200 && body.includes(allow ? '"call":"EFFECT_ALLOW"' : '"call":"EFFECT_DENY"'),
    pid: server.pid,
  };
}

/** Drives `t` for `seconds`; a wrong answer, a transport error or a missing response throws. */
async function load(t: Target, connections: number, seconds: number): Promise<Result> {
  let i = 0;
  let wrong = 0;
  let checked = 0;
  let sample = '';
  const started = performance.now();
  const r = await autocannon({
    url: t.url,
    connections,
    duration: seconds,
    method: 'POST',
    headers: t.headers,
    requests: [
      {
        setupRequest: (req, context) => {
          const n = i++;
          (context as { allow?: boolean }).allow = nth(n).allow;
          return { ...req, body: t.body(n) };
        },
        onResponse: (status, body, context) => {
          checked++;
          if (!t.correct(status, body, (context as { allow?: boolean }).allow === true)) {
            wrong++;
            sample ||= `${status} ${body.slice(0, 200)}`;
          }
        },
      },
    ],
  });
  const wall = (performance.now() - started) / 1000;
  if (r.errors > 0 || r.timeouts > 0 || wrong > 0 || checked < r.requests.total) {
    throw new Error(`${t.name}: ${r.errors} errors, ${r.timeouts} timeouts, ${wrong} wrong answers of ${checked} (${sample})`);
  }
  return { name: t.name, connections, perSecond: r.requests.total / wall, p50ms: r.latency.p50, p99ms: r.latency.p99 };
}

/** fsync-family system calls a process makes while serving `seconds` of load, by strace; null if strace cannot attach. */
async function syncCalls(t: Target, dir: string, seconds: number): Promise<{ syncs: number; decisions: number } | null> {
  if (spawnSync('strace', ['-V']).status !== 0) return null;
  const file = join(dir, `strace-${t.pid}.txt`);
  const tracer = spawn('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync,msync,sync_file_range', '-o', file, '-p', String(t.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const out = collect(tracer);
  for (let i = 0; i < 100 && !out().includes('attached'); i++) await new Promise((r) => setTimeout(r, 20));
  if (!out().includes('attached')) {
    await stop(tracer);
    return null;
  }
  const r = await load(t, 16, seconds);
  const exited = once(tracer, 'exit');
  tracer.kill('SIGINT');
  await exited;
  if (!existsSync(file)) return null;
  let syncs = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync|msync|sync_file_range)\s*$/.exec(line);
    if (m) syncs += Number(m[1]);
  }
  return { syncs, decisions: Math.round(r.perSecond * seconds) };
}

export async function cerbosBench(quick: boolean): Promise<void> {
  if (process.platform !== 'linux' || process.arch !== 'x64' || !existsSync(BIN)) {
    console.log(`\ncerbos bench SKIPPED: no Cerbos binary at ${BIN} (linux x64 only; install with \`npm install --save-dev --save-exact @cerbos/cerbos-linux-x64@0.55.0\`)`);
    return;
  }
  const warm = quick ? 1 : 2;
  const duration = quick ? 3 : 8;
  const dir = mkdtempSync(join(tmpdir(), 'writ-bench-cerbos-'));
  const procs: ChildProcess[] = [];
  try {
    const version = spawnSync(BIN, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? 'unknown';
    const targets = [await startWrit(dir, procs), await startCerbos(dir, false, procs), await startCerbos(dir, true, procs)];
    const results: Result[] = [];
    for (const connections of CONNECTIONS) {
      for (const t of targets) {
        await load(t, connections, warm);
        results.push(await load(t, connections, duration));
      }
    }
    const [writ, , audited] = targets;
    const writSyncs = writ ? await syncCalls(writ, dir, 1) : null;
    const cerbosSyncs = audited ? await syncCalls(audited, dir, 1) : null;

    const widths = [32, 6, 10, 8, 8, 14];
    console.log(`\nWrit vs Cerbos PDP over HTTP (issue 14, point 8) — ${duration} s per row after ${warm} s warm-up; ${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}; node ${process.version}; Cerbos ${version}`);
    console.log(`command: npm run bench${quick ? ' -- --quick' : ''}   (${new Date().toISOString()}); equivalent policy: ${TOOLS} rules, half the requests denied; every answer checked\n`);
    console.log(row(['path', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'Writ/this req/s'], widths));
    for (const r of results) {
      const w = results.find((x) => x.connections === r.connections && x.name === writ?.name);
      console.log(row([r.name, String(r.connections), r.perSecond, r.p50ms, r.p99ms, r.name === writ?.name || !w ? '' : `${(w.perSecond / r.perSecond).toFixed(2)}×`], widths));
    }
    if (writSyncs && cerbosSyncs) {
      const each = cerbosSyncs.syncs < cerbosSyncs.decisions ? 'does not fsync each decision' : 'fsyncs as often as it decides';
      console.log(
        `\nWrit answers only after each decision is recorded in its SQLite ledger with fsync (group commit: ${writSyncs.syncs} fsync-family calls for ~${writSyncs.decisions} decisions) and each allow carries an Ed25519-signed writ; ` +
          `Cerbos's local audit ${each} (${cerbosSyncs.syncs} fsync-family calls for ~${cerbosSyncs.decisions} decisions) — strace -f -c -e trace=fsync,fdatasync,msync,sync_file_range on each server, 1 s at 16 conns.`,
      );
    }
  } finally {
    for (const p of procs) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

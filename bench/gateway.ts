/**
 * The latency Writ adds at an HTTP gateway (issue 12, point 5), in one run on this machine:
 *   nginx → upstream            Debian's nginx (/usr/sbin/nginx) straight to a node:http upstream
 *   nginx auth_request → Writ   the same nginx with `auth_request` to `writ up --gate <file>`
 *                               (the docs/http-gateway.md config: kept-alive connections to Writ
 *                               and to the upstream), the same upstream handler behind
 *                               writ/http-guard, which verifies and consumes each writ; bearer
 *                               JWT of a test issuer (jwksFile)
 *   gRPC Check                  envoy.service.auth.v3.Authorization/Check on the same writ up,
 *                               grpc-js client with the vendored protos (proto/)
 * Same request (GET /orders/7?expand=items with the JWT) on both nginx paths; every answer must
 * be 2xx, and every auth-path answer a writ the upstream verified. The two paths alternate in
 * rounds (the order swapped each round), and "added" is, per round, p50 through auth_request
 * minus p50 straight, at the same connections; the table gives the median and range of rounds.
 * Two loads (bench/gateway-load.ts):
 *   saturated   16 connections, each sending as soon as it has its answer (autocannon): req/s,
 *               and latencies that are mostly queueing (p50 ≈ 16 / throughput)
 *   fixed rate  16 kept-alive connections offered a fixed rate well under the auth path's
 *               capacity: the latency a request sees when the machine is not saturated
 * Writ's forward-auth endpoint alone and the same decision by POST /v1/authorize (a caller
 * token), same server, 16 connections: the gate's rate beside the HTTP API's (issue 14, point 4).
 * CPU per request of each process (Writ, nginx, the upstream, this load generator) from /proc.
 *
 *   npm run bench            (4 s per phase, 5 rounds; `-- --quick`: 2 s, 3 rounds)
 *   node bench/gateway.ts [--quick]
 *
 * Target: added p50 ≤ 1 ms at 16 connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { initHome } from '../src/home/init.ts';
import { authoritySigningKeys, openHome } from '../src/home/open.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import { CallerStore } from '../src/node/callers.ts';
import { loadExtAuthzPackage } from '../src/server/ext-authz-grpc.ts';
import { FORWARD_AUTH_PATH } from '../src/server/forward-auth.ts';
import { WRIT_HEADER } from '../src/writ/http-request.ts';
import { row, summarize, upFlags, type Stats } from './stats.ts';
import { childPids, closedLoop, cpuOf, openLoop, spread, type CpuUse, type Load } from './gateway-load.ts';
import { freePort } from '../scripts/ports.ts';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const NGINX = '/usr/sbin/nginx';
const CONNECTIONS = 16;
const TARGET_ADDED_P50_US = 1000;
/** the fixed-rate load's ceiling (req/s); it is 30 % of the saturated auth rate when that is lower */
const FIXED_RATE = 200;
const ISSUER = 'https://idp.bench.example';
const PATH = '/orders/7?expand=items';
const POLICY = 'permit (principal == User::"alice", action == Action::"http:GET", resource == Route::"orders");\n';

const fmtN = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

interface Counts {
  plain: number;
  verified: number;
  refused: number;
}

function stderrOf(child: ChildProcess): () => string {
  let s = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (s = (s + d).slice(-16000)));
  return () => s;
}

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}




function nginxConfig(dir: string, o: { direct: number; auth: number; plain: number; guarded: number; writ: number }): string {
  const d = (n: string) => join(dir, n);
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
worker_processes 1;
pid ${d('nginx.pid')};
error_log ${d('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${d('client_body')};
  proxy_temp_path ${d('proxy')};
  fastcgi_temp_path ${d('fastcgi')};
  uwsgi_temp_path ${d('uwsgi')};
  scgi_temp_path ${d('scgi')};
  upstream writ    { server 127.0.0.1:${o.writ}; keepalive 16; }
  upstream plain   { server 127.0.0.1:${o.plain}; keepalive 16; }
  upstream guarded { server 127.0.0.1:${o.guarded}; keepalive 16; }
  server {
    listen 127.0.0.1:${o.direct};
    location /orders/ {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass       http://plain;
    }
  }
  server {
    listen 127.0.0.1:${o.auth};
    location /orders/ {
      auth_request     /_writ;
      auth_request_set $writ $upstream_http_x_writ;
      proxy_set_header X-Writ $writ;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass       http://guarded;
    }
    location = /_writ {
      internal;
      proxy_pass              http://writ${FORWARD_AUTH_PATH};
      proxy_http_version      1.1;
      proxy_set_header        Connection "";
      proxy_pass_request_body off;
      proxy_set_header        Content-Length "";
      proxy_set_header        X-Original-Method $request_method;
      proxy_set_header        X-Original-URI    $request_uri;
      proxy_set_header        X-Forwarded-Host  $host;
      proxy_set_header        X-Forwarded-Method "";
      proxy_set_header        X-Forwarded-Uri    "";
      proxy_set_header        X-Original-Host    "";
      proxy_set_header        X-Writ             "";
    }
  }
}
`;
}

type AuthorizationClient = grpc.Client & { Check(req: object, cb: (err: grpc.ServiceError | null, res: { status: { code: number }; ok_response?: { headers?: { header: { key: string } }[] } }) => void): void };

async function grpcLoad(port: number, authorization: string, seconds: number): Promise<Stats & { failed: number }> {
  const pkg = loadExtAuthzPackage() as unknown as { envoy: { service: { auth: { v3: { Authorization: new (a: string, c: grpc.ChannelCredentials) => AuthorizationClient } } } } };
  const c = new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const req = {
    attributes: {
      request: {
        http: { method: 'GET', path: PATH, host: 'api.example.com', scheme: 'http', protocol: 'HTTP/1.1', headers: { ':authority': 'api.example.com', ':method': 'GET', ':path': PATH, authorization } },
      },
    },
  };
  const check = () =>
    new Promise<boolean>((resolve) =>
      c.Check(req, (err, res) => resolve(err === null && res.status.code === 0 && (res.ok_response?.headers ?? []).some((h) => h.header.key === WRIT_HEADER))),
    );
  const samples: bigint[] = [];
  let failed = 0;
  try {
    const run = async (ms: number, keep: boolean) => {
      const end = performance.now() + ms;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (performance.now() < end) {
            const t = process.hrtime.bigint();
            const ok = await check();
            if (keep) {
              samples.push(process.hrtime.bigint() - t);
              if (!ok) failed++;
            }
          }
        }),
      );
    };
    await run(1000, false);
    const started = performance.now();
    await run(seconds * 1000, true);
    return { ...summarize(samples, performance.now() - started), failed };
  } finally {
    c.close();
  }
}

export async function gatewayBench(quick: boolean): Promise<void> {
  const seconds = quick ? 2 : 4;
  const rounds = quick ? 3 : 5;
  const alone = process.argv[1]?.endsWith('gateway.ts') === true;
  const command = alone ? `node bench/gateway.ts${quick ? ' --quick' : ''}` : `npm run bench${quick ? ' -- --quick' : ''}`;
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`\nwrit gateway bench — nginx auth_request → writ up --gate vs nginx straight to the upstream; gRPC Check; ${CONNECTIONS} connections, ${seconds} s per phase, ${rounds} rounds; ${cpus().length} × ${cpu}; node ${process.version}`);
  console.log(`command: ${command}   (${new Date().toISOString()})\n`);

  const work = mkdtempSync(join(tmpdir(), 'writ-bench-gateway-'));
  const children: ChildProcess[] = [];
  try {
    // the home: a policy letting alice GET the orders route
    const home = join(work, 'home');
    mkdirSync(join(work, 'policy'));
    writeFileSync(join(work, 'policy', 'p.cedar'), POLICY);
    await initHome({ home });
    const h = await openHome(home);
    const created = new Date();
    const bundle = await buildBundle(readPolicyFolder(join(work, 'policy')), { domain: 'default', version: 1, created, expires: new Date(created.getTime() + 86400_000) }, await authoritySigningKeys(home, h.config));
    await h.node.policy.activate(new TextEncoder().encode(JSON.stringify(bundle)));
    writeFileSync(join(work, 'writ-jwks.json'), JSON.stringify(h.jwks));
    // a caller of POST /v1/authorize, for the HTTP API's rate beside the gate's (issue 14, point 4)
    const callerToken = new CallerStore(h.db).add('bench', { roles: ['authorize'], principals: ['*'] }).token;
    h.close();

    // the issuer of the clients' bearer JWTs, and the gate file
    const idp = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    writeFileSync(join(work, 'idp-jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(idp.publicKey)), kid: 'idp-1', alg: 'EdDSA', use: 'sig' }] }));
    writeFileSync(
      join(work, 'gate.json'),
      JSON.stringify({
        routes: [{ name: 'orders', pathPrefix: '/orders/', audience: 'orders' }],
        credentials: { jwt: [{ name: 'idp', issuer: ISSUER, audience: 'writ-gate', jwksFile: 'idp-jwks.json' }] },
        grpc: { host: '127.0.0.1', port: 0 },
      }),
    );
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'idp-1' }).setIssuer(ISSUER).setAudience('writ-gate').setSubject('alice').setIssuedAt().setExpirationTime('10m').sign(idp.privateKey);
    const authorization = `Bearer ${jwt}`;

    const extra = upFlags();
    const up = spawn(process.execPath, [...extra, CLI, 'up', '--home', home, '--port', '0', '--quiet', '--gate', join(work, 'gate.json')], { stdio: ['ignore', 'ignore', 'pipe'], cwd: work });
    children.push(up);
    const upErr = stderrOf(up);
    const writUrl = await until('writ up --gate', () => {
      if (up.exitCode !== null) throw new Error(`writ up exited: ${upErr()}`);
      return /listening on (http:\/\/\S+)/.exec(upErr())?.[1];
    });
    const grpcPort = Number(/ext_authz gRPC \S+ on [^\s:]+:(\d+)/.exec(upErr())?.[1]);

    if (!existsSync(NGINX)) {
      console.log(`nginx phases SKIPPED: no ${NGINX} (install Debian's nginx: scripts/ensure-nginx.sh, i.e. apt-get install --no-install-recommends nginx)`);
    } else {
      const upstreamFlags = process.env.WRIT_BENCH_UPSTREAM_FLAGS?.split(' ').filter((s) => s !== '') ?? [];
      const upstream = spawn(process.execPath, [...upstreamFlags, join(import.meta.dirname, 'gateway-upstream.ts'), join(work, 'writ-jwks.json'), 'orders'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      children.push(upstream);
      const upstreamErr = stderrOf(upstream);
      let out = '';
      upstream.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
      const ports = await until('the upstream', () => {
        if (upstream.exitCode !== null) throw new Error(`upstream exited: ${upstreamErr()}`);
        return out.includes('\n') ? (JSON.parse(out) as { plain: number; guarded: number }) : undefined;
      });
      const counts = async (): Promise<Counts> => {
        upstream.send('stats');
        const [m] = (await once(upstream, 'message')) as [Counts];
        return m;
      };

      const dir = join(work, 'nginx');
      mkdirSync(dir);
      const direct = await freePort();
      const auth = await freePort();
      writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, { direct, auth, ...ports, writ: Number(new URL(writUrl).port) }));
      const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(nginx);
      const nginxErr = stderrOf(nginx);
      const headers = { authorization };
      for (const port of [direct, auth]) {
        await until(`nginx on ${port}`, async () => {
          if (nginx.exitCode !== null) throw new Error(`nginx exited: ${nginxErr()}`);
          const r = await fetch(`http://127.0.0.1:${port}${PATH}`, { headers, signal: AbortSignal.timeout(2000) });
          await r.arrayBuffer();
          if (r.status !== 200) throw new Error(`status ${r.status}`);
          return true;
        });
      }
      const directUrl = `http://127.0.0.1:${direct}${PATH}`;
      const authUrl = `http://127.0.0.1:${auth}${PATH}`;
      const faHeaders = { ...headers, 'x-original-method': 'GET', 'x-original-uri': PATH, 'x-forwarded-host': 'api.example.com' };
      const cpuGroups = { writ: [up.pid ?? 0], nginx: [nginx.pid ?? 0, ...childPids(nginx.pid ?? 0)], upstream: [upstream.pid ?? 0] };
      const measured = async <T extends Load>(f: () => Promise<T>): Promise<T & { cpu: CpuUse | null }> => {
        const cpu = cpuOf(cpuGroups);
        const r = await f();
        return { ...r, cpu: cpu() };
      };
      await closedLoop(directUrl, headers, 1, CONNECTIONS);
      await closedLoop(authUrl, headers, 1, CONNECTIONS);

      // saturated, the two paths alternating (order swapped each round), every auth answer counted at the upstream
      const sat = { direct: [] as (Load & { cpu: CpuUse | null })[], auth: [] as (Load & { cpu: CpuUse | null })[], added: [] as number[], addedP99: [] as number[] };
      let verified = 0;
      let refused = 0;
      let authResponses = 0;
      for (let round = 0; round < rounds; round++) {
        const d = async () => sat.direct.push(await measured(() => closedLoop(directUrl, headers, seconds, CONNECTIONS)));
        const a = async () => {
          const c0 = await counts();
          const r = await measured(() => closedLoop(authUrl, headers, seconds, CONNECTIONS));
          const c1 = await counts();
          verified += c1.verified - c0.verified;
          refused += c1.refused - c0.refused;
          authResponses += r.responses;
          sat.auth.push(r);
        };
        if (round % 2 === 0) await d().then(a);
        else await a().then(d);
        sat.added.push((sat.auth.at(-1)?.p50us ?? NaN) - (sat.direct.at(-1)?.p50us ?? NaN));
        sat.addedP99.push((sat.auth.at(-1)?.p99us ?? NaN) - (sat.direct.at(-1)?.p99us ?? NaN));
      }
      // a fixed rate well under the auth path's capacity here, 16 connections: no saturation
      const rate = Math.max(20, Math.min(FIXED_RATE, Math.round(spread(sat.auth.map((r) => r.perSecond)).median * 0.3)));
      const fixed = { direct: [] as Load[], auth: [] as Load[], added: [] as number[], addedP99: [] as number[] };
      for (let round = 0; round < Math.max(2, rounds - 1); round++) {
        const d = async () => fixed.direct.push(await openLoop(directUrl, headers, seconds, CONNECTIONS, rate));
        const a = async () => fixed.auth.push(await openLoop(authUrl, headers, seconds, CONNECTIONS, rate));
        if (round % 2 === 0) await d().then(a);
        else await a().then(d);
        fixed.added.push((fixed.auth.at(-1)?.p50us ?? NaN) - (fixed.direct.at(-1)?.p50us ?? NaN));
        fixed.addedP99.push((fixed.auth.at(-1)?.p99us ?? NaN) - (fixed.direct.at(-1)?.p99us ?? NaN));
      }
      // Writ's forward-auth endpoint asked directly, as nginx asks it (no nginx, no upstream): the gate's own decision rate
      const fa16 = await measured(() => closedLoop(`${writUrl}${FORWARD_AUTH_PATH}`, faHeaders, seconds, CONNECTIONS));
      // the same decision through the HTTP API (POST /v1/authorize, caller token), same server, same connections
      const authorizeBody = JSON.stringify({ principal: 'User::"alice"', action: 'Action::"http:GET"', resource: 'Route::"orders"', args: { http: { method: 'GET', path: '/orders/7', query: 'expand=items', bodyDigest: null } }, audience: 'orders' });
      const api16 = await measured(() => closedLoop(`${writUrl}/v1/authorize`, { 'content-type': 'application/json', authorization: `Bearer ${callerToken}` }, seconds, CONNECTIONS, { method: 'POST', body: authorizeBody }));
      // one connection, no queueing: what one request pays
      const d1 = await closedLoop(directUrl, headers, seconds, 1);
      const a1 = await closedLoop(authUrl, headers, seconds, 1);
      const w1 = await closedLoop(`${writUrl}${FORWARD_AUTH_PATH}`, faHeaders, seconds, 1);

      const widths = [44, 15, 19, 19, 5];
      const range = (xs: number[]) => {
        const r = spread(xs);
        return `${fmtN(r.median)} (${fmtN(r.min)}–${fmtN(r.max)})`;
      };
      const bad = (xs: Load[]) => xs.reduce((n, r) => n + r.bad, 0);
      console.log(`saturated: ${CONNECTIONS} connections, closed loop; median (range) of ${rounds} rounds, ${seconds} s each`);
      console.log(row(['path', 'req/s', 'p50 µs', 'p99 µs', 'bad'], widths));
      for (const [name, xs] of [['nginx → upstream (no auth)', sat.direct], ['nginx auth_request → writ → guard', sat.auth]] as const) {
        console.log(row([name, range(xs.map((r) => r.perSecond)), range(xs.map((r) => r.p50us)), range(xs.map((r) => r.p99us)), String(bad(xs))], widths));
      }
      console.log(row(['added by Writ (auth − direct, per round)', '', range(sat.added), range(sat.addedP99), ''], widths));
      console.log(row(['writ forward-auth alone (no nginx)', fmtN(fa16.perSecond), fmtN(fa16.p50us), fmtN(fa16.p99us), String(fa16.bad)], widths));
      console.log(row(['writ POST /v1/authorize (the HTTP API)', fmtN(api16.perSecond), fmtN(api16.p50us), fmtN(api16.p99us), String(api16.bad)], widths));
      console.log(`\nfixed rate: ${rate} req/s offered over ${CONNECTIONS} kept-alive connections (30 % of the saturated auth rate, at most ${FIXED_RATE}); latency from each request's due time; ${fixed.added.length} rounds`);
      console.log(row(['path', 'req/s', 'p50 µs', 'p99 µs', 'bad'], widths));
      for (const [name, xs] of [['nginx → upstream (no auth)', fixed.direct], ['nginx auth_request → writ → guard', fixed.auth]] as const) {
        console.log(row([name, range(xs.map((r) => r.perSecond)), range(xs.map((r) => r.p50us)), range(xs.map((r) => r.p99us)), String(bad(xs))], widths));
      }
      console.log(row(['added by Writ (auth − direct, per round)', '', range(fixed.added), range(fixed.addedP99), ''], widths));
      console.log('\none connection (no queueing):');
      for (const [name, r] of [['nginx → upstream (no auth)', d1], ['nginx auth_request → writ → guard', a1], ['writ forward-auth alone', w1]] as const) {
        console.log(row([name, fmtN(r.perSecond), fmtN(r.p50us), fmtN(r.p99us), String(r.bad)], widths));
      }
      const perRequest = (xs: (Load & { cpu: CpuUse | null })[]) => {
        const n = xs.reduce((a, r) => a + r.responses, 0);
        const cpus = xs.map((r) => r.cpu);
        if (n === 0 || cpus.some((c) => c === null)) return 'n/a (no /proc)';
        const sum = (k: string) => cpus.reduce((a, c) => a + (c?.us[k] ?? 0), 0) / n;
        const busy = spread(cpus.map((c) => c?.machineBusy ?? NaN)).median;
        return `Writ ${fmtN(sum('writ'))}, nginx ${fmtN(sum('nginx'))}, upstream ${fmtN(sum('upstream'))}, load generator ${fmtN(sum('self'))} µs; machine ${Math.round(busy * 100)} % busy (all processes)`;
      };
      console.log(`\nCPU per request, saturated — direct: ${perRequest(sat.direct)}`);
      console.log(`CPU per request, saturated — auth:   ${perRequest(sat.auth)}`);
      console.log(`CPU per request, forward-auth alone: ${perRequest([fa16])}`);
      console.log(`CPU per request, POST /v1/authorize: ${perRequest([api16])}`);
      console.log(`auth phases: ${authResponses} responses; the upstream verified ${verified} writs, refused ${refused}`);
      const sound = bad(sat.auth) + bad(sat.direct) + bad(fixed.auth) + bad(fixed.direct) + fa16.bad + api16.bad === 0 && refused === 0 && verified >= authResponses;
      if (!sound) console.log(`WARNING: not every request was allowed and verified: the figures above do not measure the allowed path (${nginxErr()} ${upstreamErr()})`);
      const satAdded = spread(sat.added).median;
      const fixedAdded = spread(fixed.added).median;
      const verdict = (x: number) => (sound && x <= TARGET_ADDED_P50_US ? 'met' : 'NOT met');
      console.log(`target: added p50 ≤ ${TARGET_ADDED_P50_US} µs at ${CONNECTIONS} connections — at ${rate} req/s: ${verdict(fixedAdded)} (${fmtN(fixedAdded)} µs); saturated: ${verdict(satAdded)} (${fmtN(satAdded)} µs, i.e. ${CONNECTIONS} in flight / the auth path's throughput)`);
    }

    const g = await grpcLoad(grpcPort, authorization, seconds);
    console.log(`\ngRPC Authorization/Check (${CONNECTIONS} in flight, one channel): ${Math.round(g.perSecond).toLocaleString('en-US')} decisions/s, p50 ${g.p50us.toFixed(0)} µs, p99 ${g.p99us.toFixed(0)} µs; ${g.ops} checks, ${g.failed} not OK with a writ`);
  } finally {
    for (const c of children.reverse()) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await once(c, 'exit');
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await gatewayBench(process.argv.includes('--quick'));

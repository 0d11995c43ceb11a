/**
 * The latency Writ adds at an HTTP gateway (issue 12, point 5), in one run on this machine:
 *   nginx → upstream            Debian's nginx (/usr/sbin/nginx) straight to a node:http upstream
 *   nginx auth_request → Writ   the same nginx with `auth_request` to `writ up --gate <file>`
 *                               (the docs/http-gateway.md config, keepalive to Writ), the same
 *                               upstream handler behind writ/http-guard, which verifies and
 *                               consumes each writ; bearer JWT of a test issuer (jwksFile)
 *   gRPC Check                  envoy.service.auth.v3.Authorization/Check on the same writ up,
 *                               grpc-js client with the vendored protos (proto/)
 * autocannon, 16 connections, same request (GET /orders/7?expand=items with the JWT) on both
 * nginx paths; every answer must be 2xx, and every auth-path answer a writ the upstream verified.
 *
 *   npm run bench            (6 s per phase; `-- --quick`: 3 s)
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
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { initHome } from '../src/home/init.ts';
import { authoritySigningKeys, openHome } from '../src/home/open.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import { loadExtAuthzPackage } from '../src/server/ext-authz-grpc.ts';
import { FORWARD_AUTH_PATH } from '../src/server/forward-auth.ts';
import { WRIT_HEADER } from '../src/writ/http-request.ts';
import { row, summarize, type Stats } from './stats.ts';
import { freePort } from '../scripts/ports.ts';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const NGINX = '/usr/sbin/nginx';
const CONNECTIONS = 16;
const TARGET_ADDED_P50_US = 1000;
const ISSUER = 'https://idp.bench.example';
const PATH = '/orders/7?expand=items';
const POLICY = 'permit (principal == User::"alice", action == Action::"http:GET", resource == Route::"orders");\n';

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
  upstream writ { server 127.0.0.1:${o.writ}; keepalive 16; }
  server {
    listen 127.0.0.1:${o.direct};
    location /orders/ { proxy_pass http://127.0.0.1:${o.plain}; }
  }
  server {
    listen 127.0.0.1:${o.auth};
    location /orders/ {
      auth_request     /_writ;
      auth_request_set $writ $upstream_http_x_writ;
      proxy_set_header X-Writ $writ;
      proxy_pass       http://127.0.0.1:${o.guarded};
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

async function load(url: string, headers: Record<string, string>, seconds: number, connections = CONNECTIONS): Promise<Stats & { non2xx: number; errors: number }> {
  const started = performance.now();
  const r = await autocannon({ url, connections, duration: seconds, headers });
  return { ops: r.requests.total, perSecond: r.requests.total / ((performance.now() - started) / 1000), p50us: r.latency.p50 * 1000, p99us: r.latency.p99 * 1000, non2xx: r.non2xx, errors: r.errors + r.timeouts };
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
  const seconds = quick ? 3 : 6;
  const alone = process.argv[1]?.endsWith('gateway.ts') === true;
  const command = alone ? `node bench/gateway.ts${quick ? ' --quick' : ''}` : `npm run bench${quick ? ' -- --quick' : ''}`;
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`\nwrit gateway bench — nginx auth_request → writ up --gate vs nginx straight to the upstream; gRPC Check; ${CONNECTIONS} connections, ${seconds} s per phase after 1 s warm-up; ${cpus().length} × ${cpu}; node ${process.version}`);
  console.log(`command: ${command}   (${new Date().toISOString()}); autocannon latencies are whole milliseconds\n`);

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

    const extra = process.env.WRIT_BENCH_UP_FLAGS?.split(' ').filter((s) => s !== '') ?? [];
    const up = spawn(process.execPath, [...extra, CLI, 'up', '--home', home, '--port', '0', '--quiet', '--gate', join(work, 'gate.json')], { stdio: ['ignore', 'ignore', 'pipe'], cwd: work });
    children.push(up);
    const upErr = stderrOf(up);
    const writUrl = await until('writ up --gate', () => {
      if (up.exitCode !== null) throw new Error(`writ up exited: ${upErr()}`);
      return /listening on (http:\/\/\S+)/.exec(upErr())?.[1];
    });
    const grpcPort = Number(/ext_authz gRPC \S+ on [^\s:]+:(\d+)/.exec(upErr())?.[1]);

    const rows: [string, Stats & { bad: number }][] = [];
    if (!existsSync(NGINX)) {
      console.log(`nginx phases SKIPPED: no ${NGINX} (install Debian's nginx: scripts/ensure-nginx.sh, i.e. apt-get install --no-install-recommends nginx)`);
    } else {
      const upstream = spawn(process.execPath, [join(import.meta.dirname, 'gateway-upstream.ts'), join(work, 'writ-jwks.json'), 'orders'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
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
      await load(`http://127.0.0.1:${direct}${PATH}`, headers, 1);
      await load(`http://127.0.0.1:${auth}${PATH}`, headers, 1);
      const c0 = await counts();
      const d = await load(`http://127.0.0.1:${direct}${PATH}`, headers, seconds);
      const c1 = await counts();
      const a = await load(`http://127.0.0.1:${auth}${PATH}`, headers, seconds);
      const c2 = await counts();
      const verified = c2.verified - c1.verified;
      const refused = c2.refused - c1.refused;
      rows.push(['nginx → upstream', { ...d, bad: d.non2xx + d.errors }], ['nginx auth_request → writ → guard', { ...a, bad: a.non2xx + a.errors }]);
      const widths = [36, 9, 10, 10, 8];
      console.log(row(['path', 'req/s', 'p50 µs', 'p99 µs', 'bad'], widths));
      console.log(row(['nginx → upstream (no auth)', d.perSecond, d.p50us, d.p99us, d.non2xx + d.errors], widths));
      console.log(row(['nginx auth_request → writ → guard', a.perSecond, a.p50us, a.p99us, a.non2xx + a.errors], widths));
      const addedP50 = a.p50us - d.p50us;
      const addedP99 = a.p99us - d.p99us;
      console.log(row(['added by Writ', '', addedP50, addedP99, ''], widths));
      console.log(`direct phase: ${d.ops} responses, ${d.non2xx} non-2xx, ${d.errors} errors/timeouts; auth phase: ${a.ops} responses, ${a.non2xx} non-2xx, ${a.errors} errors/timeouts; upstream verified ${verified} writs, refused ${refused}; direct phase reached the plain upstream ${c1.plain - c0.plain} times`);
      const sound = a.non2xx === 0 && a.errors === 0 && refused === 0 && verified >= a.ops && d.non2xx === 0 && d.errors === 0;
      if (!sound) console.log(`WARNING: not every request was allowed and verified: the figures above do not measure the allowed path (${nginxErr()} ${upstreamErr()})`);
      // diagnostic: one connection, no queueing — what one request pays, apart from contention for this machine's CPUs
      const d1 = await load(`http://127.0.0.1:${direct}${PATH}`, headers, 3, 1);
      const a1 = await load(`http://127.0.0.1:${auth}${PATH}`, headers, 3, 1);
      console.log(row(['diagnostic, 1 conn: direct', d1.perSecond, d1.p50us, d1.p99us, d1.non2xx + d1.errors], widths));
      console.log(row(['diagnostic, 1 conn: auth', a1.perSecond, a1.p50us, a1.p99us, a1.non2xx + a1.errors], widths));
      // diagnostic: the forward-auth endpoint asked directly, as nginx asks it, without nginx or the upstream
      const w1 = await load(`${writUrl}${FORWARD_AUTH_PATH}`, { ...headers, 'x-original-method': 'GET', 'x-original-uri': PATH, 'x-forwarded-host': 'api.example.com' }, 3, 1);
      console.log(row(['diagnostic, 1 conn: writ forward-auth', w1.perSecond, w1.p50us, w1.p99us, w1.non2xx + w1.errors], widths));
      console.log(`target: added p50 ≤ ${TARGET_ADDED_P50_US} µs at ${CONNECTIONS} connections — ${sound && addedP50 <= TARGET_ADDED_P50_US ? 'met' : 'NOT met'} (${addedP50.toFixed(0)} µs p50, ${addedP99.toFixed(0)} µs p99 added)`);
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

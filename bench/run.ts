/**
 * `npm run bench`: the governed decision path, side by side with raw cedar-wasm, at
 * 10, 100 and 1,000 policies, in one run on this machine.
 *   governed (in process)  evaluate + durable SQLite record (fsync) + Ed25519 writ
 *   governed (HTTP)        the same through `writ up` in a child process, over loopback, driven by autocannon
 *   verify                 verifyWrit (signature, claims, intent, single use in memory)
 *   raw cedar-wasm         statefulIsAuthorized with every policy and entity, no evidence
 * then bench/ledger.ts, bench/mcp.ts, bench/gateway.ts (nginx auth_request, gRPC Check), bench/fleet.ts.
 */
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { initHome } from '../src/home/init.ts';
import { MemoryLedger } from '../src/ledger/memory-ledger.ts';
import { GovernanceNode } from '../src/node/node.ts';
import { authoritySigningKeys, openHome } from '../src/home/open.ts';
import { CallerStore } from '../src/node/callers.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import { loadPolicySource } from '../src/policy/source.ts';
import { memoryJtiStore, verifyWrit } from '../src/writ/verify.ts';
import { request, syntheticPolicyFolder } from './policies.ts';
import { measure, row, upFlags, type Stats } from './stats.ts';
import { ledgerBench } from './ledger.ts';
import { fleetBench, fleetConsoleBench } from './fleet.ts';
import { mcpBench } from './mcp.ts';
import { gatewayBench } from './gateway.ts';
import { cerbosBench } from './cerbos.ts';
import { ed25519Limit, fdatasyncLimit } from './limits.ts';
import { tmpdir, cpus } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';

const SIZES = [10, 100, 1000];
const QUICK = process.argv.includes('--quick');
/** `--only <section>[,<section>…]`: run only those sections (names in SECTIONS below) */
const ONLY = ((i) => (i >= 0 ? (process.argv[i + 1] ?? '').split(',') : null))(process.argv.indexOf('--only'));
const COUNT = QUICK ? 500 : 3000;
const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

/** the caller token of each bench home (both roles, any principal: the synthetic requests name many) */
const callerTokens = new Map<string, string>();

async function prepareHome(policyDir: string): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), 'writ-bench-home-'));
  await initHome({ home });
  const h = await openHome(home);
  const created = new Date();
  const bundle = await buildBundle(readPolicyFolder(policyDir), { domain: 'default', version: 1, created, expires: new Date(created.getTime() + 86400_000) }, await authoritySigningKeys(home, h.config));
  await h.node.policy.activate(new TextEncoder().encode(JSON.stringify(bundle)));
  callerTokens.set(home, new CallerStore(h.db).add('bench', { roles: ['authorize', 'verify'], principals: ['*'] }).token);
  h.close();
  return home;
}

async function httpBench(home: string, n: number): Promise<Stats> {
  const server = spawn(process.execPath, [...upFlags(), CLI, 'up', '--home', home, '--port', '0', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  server.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 100 && !err.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
  const address = /listening on (http:\/\/[^\s]+)/.exec(err)?.[1];
  if (!address) {
    server.kill('SIGKILL');
    throw new Error(`server did not start: ${err}`);
  }
  const load = async (seconds: number): Promise<Stats> => {
    let i = 0;
    const started = performance.now();
    const r = await autocannon({
      url: `${address}/v1/authorize`,
      connections: 64,
      duration: seconds,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${callerTokens.get(home) ?? ''}` },
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify(request(i++, n)) }) }],
    });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`HTTP bench: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return { ops: r.requests.total, perSecond: r.requests.total / ((performance.now() - started) / 1000), p50us: r.latency.p50 * 1000, p99us: r.latency.p99 * 1000 };
  };
  await load(1); // warm-up
  const s = await load(QUICK ? 3 : 8);
  server.kill('SIGTERM');
  await once(server, 'exit');
  return s;
}

async function decisionBench(): Promise<void> {
  const results: { n: number; name: string; s: Stats }[] = [];
  for (const n of SIZES) {
    const dir = syntheticPolicyFolder(n);
    const home = await prepareHome(dir);
    const h = await openHome(home, { writer: 'worker' });
    const authorize = async (i: number) => {
      const d = await h.node.authorize(request(i, n));
      if (d.decision !== 'allow') throw new Error(`unexpected deny: ${d.message}`);
      return d;
    };
    await measure(200, 1, authorize);
    if (n === SIZES[0]) {
      // the machine's limit, measured in this run beside the path it bounds (issue 14, point 1)
      results.push({ n, name: 'limit: 1.2 KB append + fdatasync', s: await fdatasyncLimit(home, COUNT) });
      results.push({ n, name: 'limit: Ed25519 sign (700 B)', s: await ed25519Limit(COUNT) });
    }
    results.push({ n, name: 'governed, in process, 1 caller', s: await measure(COUNT, 1, authorize) });
    // Diagnostic: the same path with evidence kept in memory, to show what the fsync costs.
    const volatile = new GovernanceNode({ identity: h.node.identity, limits: h.node.limits, policy: h.node.policy, ledger: new MemoryLedger(), state: h.state });
    results.push({ n, name: 'diagnostic: same, evidence not durable', s: await measure(COUNT, 1, (i) => volatile.authorize(request(i, n))) });
    results.push({ n, name: 'governed, in process, 64 callers', s: await measure(COUNT, 64, authorize) });

    const writs: { writ: string; args: unknown; aud: string }[] = [];
    for (let i = 0; i < COUNT; i++) {
      const r = request(i, n);
      const d = await authorize(i);
      writs.push({ writ: d.writ as string, args: r.args, aud: r.resource });
    }
    const consume = memoryJtiStore();
    results.push({ n, name: 'verifyWrit (memory jti store)', s: await measure(COUNT, 1, (i) => verifyWrit(writs[i]?.writ, { keys: h.jwks, audience: writs[i]?.aud ?? '', args: writs[i]?.args, consume })) });
    results.push({ n, name: 'node verify (SQLite jti, fsync)', s: await measure(COUNT, 1, (i) => h.node.verify(writs[i]?.writ, { audience: writs[i]?.aud ?? '', args: writs[i]?.args, consume: true })) });

    const src = loadPolicySource(readPolicyFolder(dir));
    const rawId = `raw-${n}`;
    cedar.preparsePolicySet(rawId, { staticPolicies: Object.fromEntries(src.policies.map((p) => [p.id, p.text])) });
    const raw = (i: number) => {
      const r = request(i, n);
      const [pt, pid] = r.principal.split('::');
      const [rt, rid] = r.resource.split('::');
      const a = cedar.statefulIsAuthorized({
        principal: { type: pt as string, id: JSON.parse(pid as string) as string },
        action: { type: 'Action', id: 'tools/call' },
        resource: { type: rt as string, id: JSON.parse(rid as string) as string },
        context: { args: r.args, now: Math.floor(Date.now() / 1000), lineage: { depth: 0, rootPrincipal: r.principal, parentAction: '', parent: '' }, attestation: { binaryDigest: '', domain: 'default', node: 'n' } },
        preparsedPolicySetId: rawId,
        entities: src.entities,
      });
      if (a.type !== 'success' || a.response.decision !== 'allow') throw new Error('raw cedar did not allow');
    };
    await measure(200, 1, raw);
    results.push({ n, name: 'raw cedar-wasm statefulIsAuthorized', s: await measure(COUNT, 1, raw) });
    h.close();
    // Opt-in decision threads (Cedar and signing on worker threads), side by side with the
    // row above: whether the thread hops pay on this machine is measured, not assumed.
    const threaded = await openHome(home, { writer: 'worker', decisionThreads: 2 });
    const authorizeThreaded = (i: number) => threaded.node.authorize(request(i, n));
    await measure(200, 64, authorizeThreaded);
    results.push({ n, name: 'same, 64 callers, 2 decision threads', s: await measure(COUNT, 64, authorizeThreaded) });
    threaded.close();
    results.push({ n, name: 'governed, HTTP (writ up), 64 conns', s: await httpBench(home, n) });
  }

  const widths = [38, 9, 12, 10, 10];
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`\nwrit bench — ${COUNT} operations per row; ${cpus().length} × ${cpu}; node ${process.version}`);
  console.log(`command: npm run bench${QUICK ? ' -- --quick' : ''}   (${new Date().toISOString()})\n`);
  console.log(row(['path', 'policies', 'ops/s', 'p50 µs', 'p99 µs'], widths));
  const names = [...new Set(results.map((r) => r.name))];
  for (const name of names) {
    for (const r of results.filter((x) => x.name === name)) console.log(row([r.name, r.n, r.s.perSecond, r.s.p50us, r.s.p99us], widths));
  }
  const fsync = results.find((r) => r.name.startsWith('limit: 1.2 KB'))?.s;
  const durable = results.find((r) => r.n === SIZES[0] && r.name === 'governed, in process, 1 caller')?.s;
  if (fsync && durable) {
    const over = durable.p50us - fsync.p50us;
    console.log(`\ndurable decision p50 at ${SIZES[0]} policies: ${Math.round(durable.p50us)} µs = fdatasync p50 ${Math.round(fsync.p50us)} µs + ${Math.round(over)} µs (issue 14 target: ≤ fdatasync + 150 µs — ${over <= 150 ? 'met' : 'NOT met'})`);
  }
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  console.log(`\ncedar-wasm ${cedar.getCedarVersion()} (${pkg.dependencies['@cedar-policy/cedar-wasm']}); targets: governed in-process p50 ≤ 150 µs at 1,000 policies; ≥ 5,000 governed decisions/s over HTTP.`);
}

const SECTIONS: Record<string, () => Promise<unknown>> = {
  decision: decisionBench,
  ledger: () => ledgerBench(QUICK),
  mcp: () => mcpBench(QUICK),
  gateway: () => gatewayBench(QUICK),
  fleet: () => fleetBench(QUICK),
  revocation: () => fleetBench(QUICK, { revocationOnly: true }),
  'fleet-console': () => fleetConsoleBench(QUICK),
  cerbos: () => cerbosBench(QUICK),
};

async function main(): Promise<void> {
  const unknown = (ONLY ?? []).filter((s) => !(s in SECTIONS));
  if (unknown.length > 0) throw new Error(`--only: unknown section ${unknown.join(', ')} (one of ${Object.keys(SECTIONS).join(', ')})`);
  // `revocation` is part of `fleet`: the full run does not run it twice
  for (const [name, run] of Object.entries(SECTIONS)) if (ONLY ? ONLY.includes(name) : name !== 'revocation') await run();
}

await main();

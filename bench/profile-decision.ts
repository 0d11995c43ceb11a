/**
 * The governed decision path on its own, for profiling and A/B runs (docs/performance.md):
 *   node bench/profile-decision.ts [memory|durable] [count] [callers] [threads]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile-decision.ts memory 5000
 * One home with the 100-policy synthetic bundle, `callers` concurrent callers after a warm-up;
 * `threads` decision threads (default 0, as a server opens its home).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initHome } from '../src/home/init.ts';
import { authoritySigningKeys, openHome } from '../src/home/open.ts';
import { MemoryLedger } from '../src/ledger/memory-ledger.ts';
import { GovernanceNode } from '../src/node/node.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import { request, syntheticPolicyFolder } from './policies.ts';
import { measure } from './stats.ts';

const mode = process.argv[2] ?? 'memory';
const count = Number(process.argv[3] ?? 5000);
const callers = Number(process.argv[4] ?? 1);
const threads = Number(process.argv[5] ?? 0);
const n = 100;
const home = mkdtempSync(join(tmpdir(), 'writ-prof-'));
await initHome({ home });
const setup = await openHome(home);
const created = new Date();
const bundle = await buildBundle(readPolicyFolder(syntheticPolicyFolder(n)), { domain: 'default', version: 1, created, expires: new Date(created.getTime() + 86400_000) }, await authoritySigningKeys(home, setup.config));
await setup.node.policy.activate(new TextEncoder().encode(JSON.stringify(bundle)));
setup.close();
const writer = process.env.WRIT_WRITER === 'inline' ? 'inline' : 'worker';
const h = await openHome(home, { writer, decisionThreads: threads });
const node = mode === 'memory' ? new GovernanceNode({ identity: h.node.identity, limits: h.node.limits, policy: h.node.policy, ledger: new MemoryLedger(), state: h.state }) : h.node;
const once = async (i: number) => {
  const d = await node.authorize(request(i, n));
  if (d.decision !== 'allow') throw new Error(d.message);
};
await measure(Math.min(2000, count), callers, once);
const cpu0 = process.cpuUsage();
const elu0 = performance.eventLoopUtilization();
const t0 = performance.now();
const s = await measure(count, callers, once);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const elu = performance.eventLoopUtilization(elu0);
const cores = (cpu.user + cpu.system) / 1000 / wall;
console.log(
  `${mode}: ${count} decisions, ${callers} callers, ${threads} decision threads: p50 ${s.p50us.toFixed(0)} µs, p99 ${s.p99us.toFixed(0)} µs, ${s.perSecond.toFixed(0)}/s; ` +
    `process CPU ${cores.toFixed(2)} cores (${(((cpu.user + cpu.system) / count)).toFixed(0)} µs/decision), event loop ${(elu.utilization * 100).toFixed(0)} % busy`,
);
h.close();

/**
 * Continuous governance of `writ exec --nats` on a real fleet (issue 13, points 4 and 6):
 * a node cut off from NATS (its own TCP proxy to NATS, partitioned) terminates the
 * command it runs once its beacon has expired and the freshness grace has passed
 * (stale_policy), and records the outcome once the partition heals; a bundle pushed to
 * the fleet that forbids the command terminates it on a connected node with the deny's
 * code, the re-decision and the outcome in the fleet's evidence stream.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { DEFAULT_LIMITS } from '../src/node/types.ts';
import { NATS_URL, NatsProxy, TestFleet, waitFor } from './fleet-harness.ts';
import { CLI, DEMO_POLICY, policyFolder } from './helpers.ts';
import { runsUnder } from './proc-tree.ts';

const TTL_MS = 2000;
const INTERVAL_MS = 250;
// configured below the node's default (DEFAULT_LIMITS.freshnessGraceMs, 5 s), so a run ended on the default is caught
const GRACE_MS = 2000;
const SLEEP = 'Binary::"/usr/bin/sleep"';

interface Leaf {
  type: string;
  id?: string;
  node?: string;
  reevaluates?: string;
  request?: { resource: string; parent: string | null };
  result?: { decision: string; reasons: string[] };
  policy?: { version: number } | null;
  writ?: { jti: string } | null;
  jti?: string;
  status?: string;
  reason?: string | null;
  endedBy?: { decisionId: string | null; policy: { version: number } | null };
}

/** The demo policy, and a forbid of `sleep` beside it. */
function forbiddingSleep(): string {
  const dir = policyFolder({ 'no-sleep.cedar': `@id("no-more-sleeping")\nforbid (principal, action == Action::"exec", resource == ${SLEEP});\n` });
  for (const file of readdirSync(DEMO_POLICY)) copyFileSync(join(DEMO_POLICY, file), join(dir, file));
  return dir;
}

describe('fleet: continuous governance of writ exec', { timeout: 180_000 }, () => {
  let f: TestFleet;
  before(async () => {
    f = await TestFleet.start({ nodes: 1, initialVersion: 1, beaconInterval: `${INTERVAL_MS}ms`, beaconTtl: `${TTL_MS / 1000}s` });
  });
  after(async () => {
    await f?.close();
  });

  /** Every leaf of the fleet's evidence stream, in order. */
  const stream = async (): Promise<Leaf[]> => {
    const jsm = await jetstreamManager(f.fleet.nc);
    const last = (await jsm.streams.info(f.fleet.stream)).state.last_seq;
    const out: Leaf[] = [];
    for (let seq = 1; seq <= last; seq++) {
      const m = await jsm.streams.getMessage(f.fleet.stream, { seq }).catch(() => null);
      if (m) out.push(JSON.parse(new TextDecoder().decode(m.data)) as Leaf);
    }
    return out;
  };
  const inStream = (what: string, pick: (l: Leaf) => boolean, timeoutMs = 10_000) => waitFor(what, async () => (await stream()).find(pick), timeoutMs, 200);

  /** `writ exec --nats URL -- /usr/bin/sleep 60` on a fresh node home `id`. */
  const startExec = async (id: string, nats: string) => {
    const home = join(f.dir, id);
    await f.cliOk(['fleet', 'add-node', '--home', f.authHome, '--node-id', id, '--out', home]);
    const child = spawn(process.execPath, [CLI, 'exec', '--home', home, '--fleet', f.name, '--nats', nats, '--principal', 'Agent::"a1"', '--grace', '1s', '--freshness-grace', `${GRACE_MS}ms`, '--', '/usr/bin/sleep', '60'], {
      env: f.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    after(() => void child.kill('SIGKILL'));
    await waitFor('/usr/bin/sleep 60 running under writ exec', () => runsUnder(child.pid as number, ['/usr/bin/sleep', '60']) || child.exitCode !== null, 20_000);
    assert.equal(child.exitCode, null, `writ exec is running (stderr: ${stderr})`);
    const allowed = await inStream(`${id}'s allow of the sleep in the evidence stream`, (l) => l.type === 'decision' && l.node === id && l.result?.decision === 'allow' && !l.reevaluates && l.request?.resource === SLEEP);
    const jti = allowed.writ?.jti;
    assert.ok(jti, 'the allow carries a writ');
    return { child, exited, jti, stderr: () => stderr };
  };

  it('a partitioned node terminates its running exec after the beacon TTL and the freshness grace (stale_policy), and records the outcome once healed', async (t) => {
    const proxy = new NatsProxy();
    await proxy.listen();
    after(() => proxy.close());
    const run = await startExec('p1', proxy.url);
    proxy.partition();
    const cutAt = performance.now();
    await waitFor('the termination (stale_policy) on the partitioned node', () => /terminating \/usr\/bin\/sleep .*stale_policy/.test(run.stderr()) || run.child.exitCode !== null, TTL_MS + GRACE_MS + 10_000, 50);
    const ms = performance.now() - cutAt;
    t.diagnostic(`terminated ${Math.round(ms)} ms after the cut (TTL ${TTL_MS} ms + grace ${GRACE_MS} ms)`);
    assert.match(run.stderr(), /terminating \/usr\/bin\/sleep .*stale_policy/);
    // the beacon last seen at most one interval before the cut, then the TTL, then the grace
    assert.ok(ms >= TTL_MS - INTERVAL_MS + GRACE_MS - 300, `terminated ${Math.round(ms)} ms after the cut: not before the TTL and the grace`);
    assert.ok(ms <= TTL_MS + GRACE_MS + 2000 && ms < TTL_MS + DEFAULT_LIMITS.freshnessGraceMs, `terminated ${Math.round(ms)} ms after the cut: by the configured grace, not the default`);
    await waitFor('the sleep gone', () => !runsUnder(run.child.pid as number, ['/usr/bin/sleep', '60']), 5000);
    // cut off, it cannot have recorded the outcome: it holds it until it can
    assert.equal(run.child.exitCode, null, `writ exec waits to record its outcome (stderr: ${run.stderr()})`);
    assert.equal((await stream()).find((l) => l.type === 'outcome' && l.jti === run.jti), undefined);

    proxy.heal();
    const code = await run.exited;
    assert.equal(code, 143, `terminated by SIGTERM (stderr: ${run.stderr()})`);
    const o = await inStream('the outcome in the evidence stream after healing', (l) => l.type === 'outcome' && l.jti === run.jti);
    assert.equal(o.status, 'terminated');
    assert.equal(o.reason, 'stale_policy');
    assert.equal(o.node, 'p1');
    assert.equal((await stream()).filter((l) => l.type === 'outcome' && l.jti === run.jti).length, 1, 'recorded once');
  });

  it('a bundle pushed to the fleet that forbids the command terminates a running `writ exec --nats` with the deny\'s code', async (t) => {
    const run = await startExec('x1', NATS_URL);
    const bundle = await f.sign(2, { policyDir: forbiddingSleep() });
    const pushedAt = performance.now();
    const pushed = await f.pushFile(bundle);
    const code = await run.exited;
    const ms = performance.now() - pushedAt;
    t.diagnostic(`exited ${Math.round(ms)} ms after writ policy push started`);
    assert.equal(code, 143, `terminated by SIGTERM (stderr: ${run.stderr()})`);
    assert.ok(ms < 10_000, `terminated ${Math.round(ms)} ms after writ policy push started`);
    assert.match(run.stderr(), /terminating \/usr\/bin\/sleep .*policy_forbid/);
    const deny = await inStream('the deny re-decision in the evidence stream', (l) => l.type === 'decision' && l.reevaluates === run.jti);
    assert.equal(deny.result?.decision, 'deny');
    assert.deepEqual(deny.result?.reasons, ['policy_forbid']);
    assert.equal(deny.policy?.version, pushed.version);
    assert.equal(deny.request?.parent, run.jti);
    const o = await inStream('the outcome in the evidence stream', (l) => l.type === 'outcome' && l.jti === run.jti);
    assert.equal(o.status, 'terminated');
    assert.equal(o.reason, 'policy_forbid');
    assert.equal(o.endedBy?.policy?.version, pushed.version);
    assert.equal(o.endedBy?.decisionId, deny.id, 'the outcome names the re-decision that ended it');
  });
});

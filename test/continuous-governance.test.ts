/**
 * Continuous governance of `writ exec` (issue 13): a policy change mid-run that now denies
 * terminates the process, recorded with the re-decision and the policy that ended it; one
 * that still allows leaves it running; a writ's `cons.maxRunSeconds` (the permit's
 * @maxRunSeconds) ends a run; `writ ps` lists it while it runs; replay agrees with every
 * re-decision.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { openHome, type OpenHome } from '../src/home/open.ts';
import { replayDecisions } from '../src/node/replay.ts';
import { bundleBytes, CLI, fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { waitFor } from './wait.ts';

const A1 = 'Agent::"a1"';
const SLEEP = 'Binary::"/usr/bin/sleep"';
const permit = (annotation = '') => `${annotation}
@id("a1-sleeps")
permit (principal == ${A1}, action == Action::"exec", resource == ${SLEEP});
`;
const FORBID = `${permit()}
@id("no-more-sleeping")
forbid (principal, action == Action::"exec", resource == ${SLEEP});
`;

interface Leaf {
  type: string;
  reevaluates?: string;
  request?: { parent: string | null };
  result?: { decision: string; reasons: string[] };
  policy?: { version: number } | null;
  jti?: string;
  status?: string;
  reason?: string | null;
  endedBy?: { decisionId: string | null; policy: { version: number } | null };
  writ?: { jti: string; cons?: { maxRunSeconds?: number } } | null;
}

const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.WRIT_HOME;
  return e;
}

function startExec(home: string, ...cmd: string[]) {
  const cwd = tempDir('writ-cwd-');
  scratch.push(cwd);
  const child = spawn(process.execPath, [CLI, 'exec', '--home', home, '--principal', A1, '--grace', '1s', '--', ...cmd], { env: env(), cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

describe('continuous governance: writ exec', { timeout: 120_000 }, () => {
  let f: Fixture;
  let version = 10;
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': permit() }) });
  });
  after(() => f?.cleanup());

  const activate = async (policy: string) => {
    await f.node.policy.activate(bundleBytes(await f.sign(policyFolder({ 'policy.cedar': policy }), { version: ++version })));
    return version;
  };
  /** the leaves of the home's ledger (read through a fresh handle: another process appends) */
  const leaves = (): Leaf[] => {
    const h: OpenHome = f;
    return h.ledger.entries(0, 100_000).map((e) => JSON.parse(new TextDecoder().decode(e.leaf)) as Leaf);
  };
  const runningJti = async (): Promise<string> =>
    waitFor('the command registered as running', () => f.running.list(() => true).find((r) => r.resource === SLEEP)?.jti);

  it('a new bundle that still allows leaves the run alone; one that denies terminates it, recorded with the policy that ended it', async () => {
    await activate(permit());
    const run = startExec(f.home, '/usr/bin/sleep', '30');
    try {
      const jti = await runningJti();
      // writ ps lists it while it runs
      const ps = spawnSync(process.execPath, [CLI, 'ps', '--home', f.home, '--json'], { encoding: 'utf8', env: env() });
      assert.equal(ps.status, 0, ps.stderr);
      assert.ok(ps.stdout.includes(jti), 'writ ps lists the running execution');

      const allowed = await activate(`// still allowed\n${permit()}`);
      const redecided = await waitFor('the allow re-decision', () => leaves().find((l) => l.reevaluates === jti && l.policy?.version === allowed));
      assert.equal(redecided.result?.decision, 'allow');
      assert.equal(redecided.request?.parent, jti, 'linked to the running writ');
      assert.equal(run.child.exitCode, null, 'still running after a bundle that allows it');

      const denying = await activate(FORBID);
      const code = await run.exited;
      assert.equal(code, 143, run.stderr());
      const deny = leaves().find((l) => l.reevaluates === jti && l.policy?.version === denying);
      assert.equal(deny?.result?.decision, 'deny');
      assert.deepEqual(deny?.result?.reasons, ['policy_forbid']);
      const outcome = await waitFor('the outcome', () => leaves().find((l) => l.type === 'outcome' && l.jti === jti));
      assert.equal(outcome.status, 'terminated');
      assert.equal(outcome.reason, 'policy_forbid');
      assert.equal(outcome.endedBy?.policy?.version, denying);
      assert.ok(outcome.endedBy?.decisionId);
      assert.equal(f.running.list(() => true).find((r) => r.jti === jti), undefined, 'no longer listed as running');
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('@maxRunSeconds on the permit: the writ carries cons.maxRunSeconds and the run is ended after it', async () => {
    await activate(permit('@maxRunSeconds("1")'));
    const started = performance.now();
    const run = startExec(f.home, '/usr/bin/sleep', '30');
    try {
      const jti = await runningJti();
      const code = await run.exited;
      const ranMs = performance.now() - started;
      assert.equal(code, 143, run.stderr());
      assert.ok(ranMs < 20_000, `ended after ${ranMs} ms, not after the sleep`);
      const decision = leaves().find((l) => l.type === 'decision' && l.writ?.jti === jti);
      assert.equal(decision?.writ?.cons?.maxRunSeconds, 1);
      const outcome = await waitFor('the outcome', () => leaves().find((l) => l.type === 'outcome' && l.jti === jti));
      assert.equal(outcome.status, 'terminated');
      assert.equal(outcome.reason, 'max_run_exceeded');
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('a bundle whose @maxRunSeconds is not a whole number of seconds is refused', async () => {
    await assert.rejects(() => activate(permit('@maxRunSeconds("soon")')), /@maxRunSeconds/);
  });

  it('replay agrees with every re-decision', async () => {
    const h = await openHome(f.home);
    try {
      const report = await replayDecisions(h.ledger, h.state, h.trust);
      assert.ok(leaves().filter((l) => l.reevaluates !== undefined).length >= 2);
      assert.deepEqual(report.differences, []);
    } finally {
      h.close();
    }
  });
});

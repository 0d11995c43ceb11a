/** `writ exec`, the process enforcement point, run as a child process. */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openHome, type OpenHome } from '../src/home/open.ts';
import type { LedgerEntry } from '../src/ledger/ledger.ts';
import { leafObject } from '../src/ledger/leaf.ts';
import { CLI, fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { runsUnder } from './proc-tree.ts';

const A1 = 'Agent::"a1"';

interface DecisionLeaf {
  type: 'decision';
  request: { principal: string; resource: string; args: { argv?: string[] } };
  result: { decision: 'allow' | 'deny'; reasons: string[] };
  writ: { jti: string } | null;
}
interface OutcomeLeaf {
  type: 'outcome';
  jti: string;
  status: 'ok' | 'failed' | 'terminated' | 'not_started';
  reason: string | null;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
}

const decode = <T>(e: LedgerEntry): T => JSON.parse(new TextDecoder().decode(e.leaf)) as T;

function decisionsSince(h: OpenHome, from: number): DecisionLeaf[] {
  return h.ledger
    .entries(from, 10_000)
    .filter((e) => e.type === 'decision')
    .map((e) => decode<DecisionLeaf>(e));
}

function outcomesOf(h: OpenHome, jti: string): OutcomeLeaf[] {
  return h.ledger.findByJti(jti, 'outcome').map((e) => decode<OutcomeLeaf>(e));
}

const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});
function scratchDir(prefix: string): string {
  const d = tempDir(prefix);
  scratch.push(d);
  return d;
}

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.WRIT_HOME;
  return e;
}

function writ(args: string[]): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: env(), cwd: scratchDir('writ-cwd-'), timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

interface Running {
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function writAsync(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env: env(), cwd: scratchDir('writ-cwd-'), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve, reject) => {
    child.once('error', reject);
    // 'exit', not 'close': a leaked grandchild may hold the pipes open
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  assert.ok(child.pid);
  return { pid: child.pid, stdout: () => out, stderr: () => err, exited };
}

async function until<T>(what: string, fn: () => T | null | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** The allowed decision of a running `writ exec` for this binary, once its writ has been consumed (the process is about to start). */
async function runningJti(h: OpenHome, from: number, resource: string): Promise<string> {
  return until(`an allowed decision for ${resource}`, () => {
    const d = decisionsSince(h, from).find((l) => l.result.decision === 'allow' && l.request.resource === resource && l.writ);
    const jti = d?.writ?.jti;
    return jti && h.state.isJtiConsumed(jti) ? jti : null;
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // a killed orphan may linger as a zombie until reaped: that is not running
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe('writ exec with the demo policy', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.cleanup());

  const exec = (...cmd: string[]) => writ(['exec', '--home', f.home, '--principal', A1, '--', ...cmd]);

  it('runs an allowed command, passes its output through and exits 0', () => {
    const from = f.ledger.size();
    const r = exec('/usr/bin/echo', 'hi');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    const allowed = decisionsSince(f, from).filter((l) => l.result.decision === 'allow');
    assert.equal(allowed.length, 1);
    const d = allowed[0] as DecisionLeaf;
    assert.equal(d.request.resource, 'Binary::"/usr/bin/echo"');
    assert.deepEqual(d.request.args.argv, ['/usr/bin/echo', 'hi']);
  });

  it('records the outcome, linked to the jti of the writ it ran under, and the writ is spent', () => {
    const from = f.ledger.size();
    const r = exec('/usr/bin/echo', 'outcome', 'test');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'outcome test\n');
    const d = decisionsSince(f, from).find((l) => l.result.decision === 'allow');
    const jti = d?.writ?.jti;
    assert.ok(jti, 'allowed decision with a writ');
    const outcomes = outcomesOf(f, jti);
    assert.equal(outcomes.length, 1);
    const o = outcomes[0] as OutcomeLeaf;
    assert.equal(o.type, 'outcome');
    assert.equal(o.jti, jti);
    assert.equal(o.exitCode, 0);
    assert.equal(o.status, 'ok');
    assert.equal(o.reason, null);
    assert.equal(typeof o.durationMs, 'number');
    assert.equal(f.state.isJtiConsumed(jti), true);
  });

  it('passes a failing exit code through and records the run as failed', () => {
    const from = f.ledger.size();
    const r = exec('/usr/bin/sleep', 'not-a-number');
    assert.equal(r.status, 1);
    const jti = decisionsSince(f, from).find((l) => l.result.decision === 'allow')?.writ?.jti;
    assert.ok(jti);
    const [o] = outcomesOf(f, jti);
    assert.equal(o?.status, 'failed');
    assert.equal(o?.exitCode, 1);
  });

  it('resolves a bare name on PATH to the binary the policy names', () => {
    const r = exec('echo', 'from-path');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'from-path\n');
  });

  it('never starts a denied command: exit 126, one "writ: denied" line, no side effect, no outcome', () => {
    const dir = scratchDir('writ-marker-');
    const marker = join(dir, 'MARKER');
    const from = f.ledger.size();
    const r = exec('/usr/bin/touch', marker);
    assert.equal(r.status, 126);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] as string, /^writ: denied/);
    assert.match(r.stderr, /no_permit/);
    assert.equal(existsSync(marker), false, 'nothing ran');
    const ds = decisionsSince(f, from);
    assert.equal(ds.length, 1);
    assert.equal(ds[0]?.result.decision, 'deny');
    assert.equal(ds[0]?.writ, null);
    assert.equal(
      f.ledger.entries(from, 100).filter((e) => e.type === 'outcome').length,
      0,
    );
  });

  it('a symlink named like an allowed binary is judged by its target', () => {
    const dir = scratchDir('writ-link-');
    const marker = join(dir, 'MARKER');
    symlinkSync('/usr/bin/touch', join(dir, 'echo'));
    const r = exec(join(dir, 'echo'), marker);
    assert.equal(r.status, 126);
    assert.equal(existsSync(marker), false);
  });

  it('--resource cannot relabel a denied binary as an allowed one', () => {
    const dir = scratchDir('writ-relabel-');
    const marker = join(dir, 'MARKER');
    const r = writ(['exec', '--home', f.home, '--principal', A1, '--resource', 'Binary::"/usr/bin/echo"', '--', '/usr/bin/touch', marker]);
    assert.equal(existsSync(marker), false, '/usr/bin/touch ran under a writ for Binary::"/usr/bin/echo"');
    assert.equal(r.status, 126);
  });

  it('a principal outside the ops team is denied', () => {
    const r = writ(['exec', '--home', f.home, '--principal', 'Agent::"stranger"', '--', '/usr/bin/echo', 'no']);
    assert.equal(r.status, 126);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^writ: denied/);
  });

  it('a nonexistent command exits 127 and nothing is allowed', () => {
    const from = f.ledger.size();
    const r = exec('/nonexistent/definitely-not-here', 'x');
    assert.equal(r.status, 127);
    assert.match(r.stderr, /not found/);
    const r2 = exec('definitely-not-a-command-on-path');
    assert.equal(r2.status, 127);
    assert.equal(decisionsSince(f, from).filter((l) => l.result.decision === 'allow').length, 0);
  });

  it('revoking the writ of a running command terminates it (143) and records why', async () => {
    const from = f.ledger.size();
    const run = writAsync(['exec', '--home', f.home, '--principal', A1, '--', '/usr/bin/sleep', '30']);
    try {
      const jti = await runningJti(f, from, 'Binary::"/usr/bin/sleep"');
      await until('the command running under writ exec', () => runsUnder(run.pid, ['/usr/bin/sleep', '30']) || null);
      const revokedAt = Date.now();
      const rv = writ(['revoke', '--home', f.home, jti]);
      assert.equal(rv.status, 0, rv.stderr);
      const { code, at } = await withTimeout(run.exited, 5000, 'writ exec after revocation');
      assert.equal(code, 143, run.stderr());
      assert.ok(at - revokedAt < 5000);
      assert.match(run.stderr(), /writ: terminating/);
      const outcomes = await until('the outcome leaf', () => {
        const o = outcomesOf(f, jti);
        return o.length > 0 ? o : null;
      });
      assert.equal(outcomes.length, 1);
      const o = outcomes[0] as OutcomeLeaf;
      assert.equal(o.status, 'terminated');
      assert.equal(o.reason, 'writ_revoked');
      assert.equal(o.signal, 'SIGTERM');
      assert.equal(o.exitCode, null);
    } finally {
      if (isAlive(run.pid)) process.kill(run.pid, 'SIGKILL');
    }
  });

  it('revoking the principal terminates its running command too', async () => {
    const g = await fixture();
    const from = g.ledger.size();
    const run = writAsync(['exec', '--home', g.home, '--principal', 'User::"root"', '--', '/usr/bin/sleep', '30']);
    try {
      const jti = await runningJti(g, from, 'Binary::"/usr/bin/sleep"');
      const rv = writ(['revoke', '--home', g.home, '--kind', 'principal', 'User::"root"']);
      assert.equal(rv.status, 0, rv.stderr);
      const { code } = await withTimeout(run.exited, 5000, 'writ exec after principal revocation');
      assert.equal(code, 143);
      const o = await until('the outcome leaf', () => outcomesOf(g, jti)[0]);
      assert.equal(o.status, 'terminated');
    } finally {
      if (isAlive(run.pid)) process.kill(run.pid, 'SIGKILL');
      g.cleanup();
    }
  });
});

describe('writ exec with a policy that allows any binary for a1', () => {
  let home: string;
  let h: OpenHome;
  before(async () => {
    const dir = scratchDir('writ-exec-any-');
    home = join(dir, 'home');
    const init = writ(['init', '--home', home]);
    assert.equal(init.status, 0, init.stderr);
    const folder = policyFolder({
      'policy.cedar': '@id("a1-runs-anything")\npermit (principal == Agent::"a1", action == Action::"exec", resource);\n',
    });
    scratch.push(folder);
    const bundle = join(dir, 'any.json');
    const s = writ(['policy', 'sign', folder, '--home', home, '--out', bundle, '--version', '2']);
    assert.equal(s.status, 0, s.stderr);
    const a = writ(['policy', 'activate', bundle, '--home', home]);
    assert.equal(a.status, 0, a.stderr);
    h = await openHome(home);
  });
  after(() => h.close());

  it('SIGKILLs a command that ignores SIGTERM once the grace period is over (137)', async () => {
    const from = h.ledger.size();
    // the shell ignores TERM and execs sleep, which inherits the ignored disposition
    const run = writAsync(['exec', '--home', home, '--principal', A1, '--grace', '1s', '--', '/bin/sh', '-c', 'trap "" TERM; exec /usr/bin/sleep 30']);
    try {
      const jti = await until('an allowed decision', () => {
        const d = decisionsSince(h, from).find((l) => l.result.decision === 'allow' && l.writ);
        const j = d?.writ?.jti;
        return j && h.state.isJtiConsumed(j) ? j : null;
      });
      // the trap is in place: the shell set it, then exec'd the sleep
      await until('the shell exec’d the sleep (after its trap)', () => runsUnder(run.pid, ['/usr/bin/sleep', '30']) || null);
      const rv = writ(['revoke', '--home', home, jti]);
      assert.equal(rv.status, 0, rv.stderr);
      // measured from the revocation's own record, not from before the revoke command started
      // (starting that CLI is no part of the grace period, and takes seconds on a loaded machine)
      const revocation = h.ledger.findByJti(jti, 'revocation')[0];
      assert.ok(revocation, 'the revocation is recorded');
      const revokedAt = Date.parse(String(leafObject(revocation.leaf).time));
      const { code, at } = await withTimeout(run.exited, 1000 + 4000, 'writ exec after grace');
      assert.equal(code, 137, run.stderr());
      assert.ok(at - revokedAt >= 900, `killed after ${at - revokedAt} ms: the grace period was not honoured`);
      assert.ok(at - revokedAt < 1000 + 2000 + 500, `killed after ${at - revokedAt} ms`);
      const o = await until('the outcome leaf', () => outcomesOf(h, jti)[0]);
      assert.equal(o.status, 'terminated');
      assert.equal(o.reason, 'writ_revoked');
      assert.equal(o.signal, 'SIGKILL');
    } finally {
      if (isAlive(run.pid)) process.kill(run.pid, 'SIGKILL');
    }
  });

  it('revocation terminates the whole execution, not just its first process', async () => {
    const from = h.ledger.size();
    // the shell forks a child and prints its pid; killing only the shell would orphan it
    const run = writAsync(['exec', '--home', home, '--principal', A1, '--grace', '1s', '--', '/bin/sh', '-c', '/usr/bin/sleep 30 & echo $!; wait']);
    let grandchild = 0;
    try {
      grandchild = await until('the grandchild pid', () => {
        const m = /^(\d+)$/m.exec(run.stdout());
        return m ? Number(m[1]) : null;
      });
      assert.ok(isAlive(grandchild));
      const jti = await until('an allowed decision', () => decisionsSince(h, from).find((l) => l.result.decision === 'allow' && l.writ)?.writ?.jti);
      const rv = writ(['revoke', '--home', home, jti]);
      assert.equal(rv.status, 0, rv.stderr);
      await withTimeout(run.exited, 5000, 'writ exec after revocation');
      const gone = await until('the grandchild to be gone', () => (isAlive(grandchild) ? null : true), 3000).catch(() => false);
      assert.equal(gone, true, `pid ${grandchild}, started under a revoked writ, is still running`);
    } finally {
      if (isAlive(run.pid)) process.kill(run.pid, 'SIGKILL');
      if (grandchild > 0 && isAlive(grandchild)) process.kill(grandchild, 'SIGKILL');
    }
  });
});

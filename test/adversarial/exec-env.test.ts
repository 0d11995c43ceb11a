/**
 * Issue 9, point 4: `writ exec` binds what it runs, not only argv. A caller who plants
 * BASH_ENV, LD_PRELOAD, NODE_OPTIONS or an evil directory first on PATH in the
 * environment of `writ exec` must not get code run under a writ decided for something
 * else: the process gets the fixed environment (plus what `--env` named, which the
 * policy sees and the writ binds) in the decided directory, nothing more.
 * Real processes throughout: the CLI runs as a child with the attacker's environment.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXED_ENV, FIXED_PATH } from '../../src/enforce/exec-env.ts';
import type { LedgerEntry } from '../../src/ledger/ledger.ts';
import { intentDigest } from '../../src/writ/intent.ts';
import { CLI, fixture, policyFolder, tempDir, type Fixture } from '../helpers.ts';

const A1 = 'Agent::"a1"';

interface DecisionLeaf {
  request: { principal: string; action: string; resource: string; args: { argv?: string[]; env?: Record<string, string>; envNames?: string[]; cwd?: string } };
  result: { decision: 'allow' | 'deny'; reasons: string[]; policies: string[] };
  writ: { jti: string; intent: string } | null;
}

const decode = (e: LedgerEntry): DecisionLeaf => JSON.parse(new TextDecoder().decode(e.leaf)) as DecisionLeaf;

const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});
function scratchDir(prefix: string): string {
  const d = realpathSync(tempDir(prefix));
  scratch.push(d);
  return d;
}

/** `writ …` as a child process, with the attacker's variables in its environment. */
function writ(args: string[], o: { env?: Record<string, string>; cwd?: string } = {}): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env };
  delete env.WRIT_HOME;
  // stdin not a socket: bash reads ~/.bashrc when it is (it takes itself to be run by rshd), which is not the environment
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, cwd: o.cwd ?? scratchDir('writ-cwd-'), stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

function decisionsSince(f: Fixture, from: number): DecisionLeaf[] {
  return f.ledger
    .entries(from, 10_000)
    .filter((e) => e.type === 'decision')
    .map(decode);
}

function onlyDecision(f: Fixture, from: number): DecisionLeaf {
  const ds = decisionsSince(f, from);
  assert.equal(ds.length, 1, JSON.stringify(ds));
  return ds[0] as DecisionLeaf;
}

/** `/usr/bin/env` output as a map (values here never contain newlines). */
function parseEnv(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** A directory of attacker files: each writes its name to `marker` when it runs. */
function attackerDir(marker: string): string {
  const dir = scratchDir('writ-evil-');
  const evil = (name: string) => `#!/bin/sh\necho ${name} >> '${marker}'\n`;
  writeFileSync(join(dir, 'evil.sh'), evil('BASH_ENV'), { mode: 0o644 });
  for (const bin of ['ls', 'bash', 'env', 'sh', 'cat']) writeFileSync(join(dir, bin), evil(bin), { mode: 0o755 });
  return dir;
}

const ANY_EXEC = `
@id("a1-runs-anything")
permit (principal == Agent::"a1", action == Action::"exec", resource);

@id("no-code-injecting-env")
forbid (principal, action == Action::"exec", resource)
when { context.args has envNames && context.args.envNames.containsAny(["BASH_ENV", "ENV", "LD_PRELOAD", "LD_AUDIT", "NODE_OPTIONS"]) };

@id("fixed-path")
forbid (principal, action == Action::"exec", resource)
when { context.args has env && context.args.env has PATH && context.args.env.PATH != "${FIXED_PATH}" };

@id("not-in-vault")
forbid (principal, action == Action::"exec", resource)
when { context.args has cwd && context.args.cwd like "*/vault*" };
`;

describe('writ exec binds the environment and the working directory it runs with', () => {
  let f: Fixture;
  before(async () => {
    const folder = policyFolder({ 'policy.cedar': ANY_EXEC });
    scratch.push(folder);
    f = await fixture({ policyDir: folder });
  });
  after(() => f.cleanup());
  const exec = (args: string[], o: { env?: Record<string, string>; cwd?: string } = {}) => writ(['exec', '--home', f.home, '--principal', A1, ...args], o);

  it('BASH_ENV planted in the caller environment never runs: bash gets the fixed environment', () => {
    const work = scratchDir('writ-work-');
    const marker = join(work, 'MARKER');
    const evil = attackerDir(marker);
    writeFileSync(join(work, 'safe.sh'), `echo safe > '${join(work, 'safe.out')}'\n/usr/bin/env > '${join(work, 'env.out')}'\n`);
    const from = f.ledger.size();
    const r = exec(['--', 'bash', 'safe.sh'], { cwd: work, env: { BASH_ENV: join(evil, 'evil.sh'), ENV: join(evil, 'evil.sh') } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(marker), false, `the attacker's BASH_ENV ran: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
    assert.equal(readFileSync(join(work, 'safe.out'), 'utf8'), 'safe\n', 'safe.sh ran, in the decided directory');
    const seen = parseEnv(readFileSync(join(work, 'env.out'), 'utf8'));
    assert.equal(seen.BASH_ENV, undefined);
    assert.equal(seen.ENV, undefined);
    assert.equal(seen.PATH, FIXED_PATH);
    const d = onlyDecision(f, from);
    assert.equal(d.result.decision, 'allow');
    assert.deepEqual(d.request.args.argv, ['/usr/bin/bash', 'safe.sh']);
    assert.deepEqual(d.request.args.env, FIXED_ENV);
    assert.equal(d.request.args.cwd, work);
  });

  it('LD_PRELOAD, NODE_OPTIONS, HOME, GIT_*, PYTHON* of the caller never reach the process: it sees exactly the decided env', () => {
    const from = f.ledger.size();
    const attacker = {
      LD_PRELOAD: join(scratchDir('writ-preload-'), 'evil.so'),
      LD_LIBRARY_PATH: '/tmp/evil-libs',
      NODE_OPTIONS: '--no-warnings',
      HOME: '/tmp/attacker-home',
      GIT_CONFIG_PARAMETERS: "'core.fsmonitor=touch /tmp/pwned'",
      GIT_DIR: '/tmp/evil-git',
      PYTHONPATH: '/tmp/evil-py',
      PYTHONSTARTUP: '/tmp/evil.py',
      PERL5OPT: '-Mevil',
      SECRET_TOKEN: 'hunter2',
    };
    const r = exec(['--', '/usr/bin/env'], { env: attacker });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parseEnv(r.stdout), FIXED_ENV, 'the process saw the fixed environment and nothing else');
    const d = onlyDecision(f, from);
    assert.deepEqual(d.request.args.env, FIXED_ENV);
    assert.deepEqual(d.request.args.envNames, Object.keys(FIXED_ENV).sort());
  });

  it('an evil directory first on the caller PATH is not searched: the real ls runs, and what it starts finds no fake either', () => {
    const work = scratchDir('writ-work-');
    const marker = join(work, 'MARKER');
    const evil = attackerDir(marker);
    const path = `${evil}:${process.env.PATH ?? ''}`;
    const from = f.ledger.size();
    const r = exec(['--', 'ls', '/'], { env: { PATH: path } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usr$/m, 'the real ls listed /');
    const r2 = exec(['--', 'bash', '-c', 'ls / > /dev/null && cat /dev/null && env > /dev/null && echo "$PATH"'], { env: { PATH: path } });
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(r2.stdout, `${FIXED_PATH}\n`);
    assert.equal(existsSync(marker), false, `a fake binary ran: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
    const ds = decisionsSince(f, from);
    assert.deepEqual(
      ds.map((d) => d.request.resource),
      ['Binary::"/usr/bin/ls"', 'Binary::"/usr/bin/bash"'],
    );
  });

  it('--env PATH=… is the PATH the command is resolved on, and the policy sees it (denied: nothing ran)', () => {
    const work = scratchDir('writ-work-');
    const marker = join(work, 'MARKER');
    const evil = attackerDir(marker);
    const from = f.ledger.size();
    const r = exec(['--env', `PATH=${evil}:${FIXED_PATH}`, '--', 'ls']);
    assert.equal(r.status, 126, r.stderr);
    assert.equal(existsSync(marker), false);
    const d = onlyDecision(f, from);
    assert.equal(d.request.resource, `Binary::${JSON.stringify(join(evil, 'ls'))}`, 'resolved on the PATH the process would get');
    assert.deepEqual(d.result.policies, ['fixed-path']);
  });

  it('--env NAME=VALUE and --env NAME are passed, recorded in the decision and bound by the writ intent', async () => {
    const from = f.ledger.size();
    const r = exec(['--env', 'GREETING=hello world', '--env', 'TERM', '--', '/usr/bin/env'], { env: { TERM: 'xterm-test', OTHER: 'not passed' } });
    assert.equal(r.status, 0, r.stderr);
    const expected = { ...FIXED_ENV, GREETING: 'hello world', TERM: 'xterm-test' };
    assert.deepEqual(parseEnv(r.stdout), expected);
    const d = onlyDecision(f, from);
    assert.equal(d.result.decision, 'allow');
    assert.deepEqual(d.request.args.env, expected);
    assert.deepEqual(d.request.args.envNames, ['GREETING', 'LANG', 'LC_ALL', 'PATH', 'TERM']);
    assert.ok(d.writ);
    const intent = await intentDigest({ principal: d.request.principal, action: d.request.action, resource: d.request.resource, args: d.request.args });
    assert.equal(d.writ.intent, intent, 'the writ binds argv, env and cwd');
    const withoutEnv = await intentDigest({ principal: d.request.principal, action: d.request.action, resource: d.request.resource, args: { argv: d.request.args.argv } });
    assert.notEqual(d.writ.intent, withoutEnv);
  });

  it('a policy forbidding a name denies --env with it: exit 126, nothing ran, the denial records the env', () => {
    const work = scratchDir('writ-work-');
    const marker = join(work, 'MARKER');
    const evil = attackerDir(marker);
    writeFileSync(join(work, 'safe.sh'), 'exit 0\n');
    const from = f.ledger.size();
    const r = exec(['--env', `BASH_ENV=${join(evil, 'evil.sh')}`, '--', 'bash', 'safe.sh'], { cwd: work });
    assert.equal(r.status, 126, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^writ: denied: policy_forbid/);
    assert.equal(existsSync(marker), false);
    const d = onlyDecision(f, from);
    assert.equal(d.result.decision, 'deny');
    assert.deepEqual(d.result.policies, ['no-code-injecting-env']);
    assert.equal(d.request.args.env?.BASH_ENV, join(evil, 'evil.sh'));
    assert.equal(d.writ, null);
    assert.equal(f.ledger.entries(from, 100).filter((e) => e.type === 'outcome').length, 0);
  });

  it('the working directory is decided: --cwd resolved through symlinks, relative commands found there, policy can forbid it', () => {
    const base = scratchDir('writ-cwd-');
    const real = join(base, 'real');
    mkdirSync(real);
    symlinkSync(real, join(base, 'link'));
    writeFileSync(join(real, 'where.sh'), '#!/bin/sh\n/usr/bin/pwd\n', { mode: 0o755 });
    const from = f.ledger.size();
    const r = exec(['--cwd', join(base, 'link'), '--', './where.sh']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${real}\n`);
    const d = onlyDecision(f, from);
    assert.equal(d.request.args.cwd, real);
    assert.equal(d.request.resource, `Binary::${JSON.stringify(join(real, 'where.sh'))}`);

    const vault = join(base, 'vault');
    mkdirSync(vault);
    const marker = join(vault, 'MARKER');
    const from2 = f.ledger.size();
    const denied = exec(['--', '/usr/bin/touch', 'MARKER'], { cwd: vault });
    assert.equal(denied.status, 126, denied.stderr);
    assert.equal(existsSync(marker), false);
    assert.deepEqual(onlyDecision(f, from2).result.policies, ['not-in-vault']);
  });

  it('a malformed --env or --cwd decides and runs nothing (exit 2)', () => {
    const from = f.ledger.size();
    for (const flags of [['--env', 'BAD-NAME=1'], ['--env', 'WRIT_SURELY_UNSET_VAR'], ['--env', 'A=1', '--env', 'A=2'], ['--cwd', '/nonexistent/dir']]) {
      const r = exec([...flags, '--', '/usr/bin/true']);
      assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^writ: /);
    }
    assert.equal(decisionsSince(f, from).length, 0);
  });
});

describe('the demo policy decides what --env may add', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.cleanup());
  const exec = (...args: string[]) => writ(['exec', '--home', f.home, '--principal', A1, ...args]);

  it('echo runs with the fixed environment or TERM added; LD_PRELOAD or another PATH is forbidden', () => {
    assert.equal(exec('--', 'echo', 'hello').stdout, 'hello\n');
    const term = exec('--env', 'TERM=dumb', '--', 'echo', 'term');
    assert.equal(term.status, 0, term.stderr);
    assert.equal(term.stdout, 'term\n');
    for (const [flag, policy] of [
      ['LD_PRELOAD=/tmp/evil.so', 'exec-env-allowlist'],
      ['BASH_ENV=/tmp/evil.sh', 'exec-env-allowlist'],
      ['PATH=/tmp:/usr/bin:/bin', 'exec-fixed-path'],
    ] as const) {
      const from = f.ledger.size();
      const r = exec('--env', flag, '--', 'echo', 'no');
      assert.equal(r.status, 126, `${flag}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.deepEqual(onlyDecision(f, from).result.policies, [policy], flag);
    }
  });
});

/**
 * Writ as a user installs it: the repository packed (`npm pack`), installed globally into a
 * temporary prefix and run from there with the system's Node 20 first on PATH — npm itself
 * and the `writ` launcher run on Node 20, the CLI on the Node 24 the package brings. Also
 * `npx` from a folder outside the repository. Takes about a minute and a half, most of it the
 * two installs (from the npm cache: --prefer-offline).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { tempDir } from './helpers.ts';

const REPO = join(import.meta.dirname, '..');
const NODE20_PATH = `/usr/bin:/bin:/usr/sbin:/sbin`;
const env: NodeJS.ProcessEnv = { ...process.env, PATH: NODE20_PATH };
// npm's own variables from an outer `npm test` would point the inner npm at this repository
for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];

let scratch: string;
let prefix: string;
let tarball: string;
let writ: string;
let files: string[];

function sh(cmd: string, args: string[], o: { cwd?: string; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: o.cwd ?? scratch, env, encoding: 'utf8', timeout: o.timeout ?? 60_000 });
}

before(() => {
  assert.match(execFileSync('/usr/bin/node', ['--version'], { encoding: 'utf8' }), /^v20\./, 'this test needs the system Node 20 at /usr/bin/node');
  // dist (the console) is built by the repository's prepare (npm ci); packing with
  // --ignore-scripts packs it as built instead of rebuilding it under the other tests' feet
  assert.ok(existsSync(join(REPO, 'dist', 'console', 'index.html')), 'dist/console is built (npm ci / npm run prepare)');
  scratch = tempDir('writ-install-');
  prefix = join(scratch, 'prefix');
  const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: REPO, env, encoding: 'utf8', timeout: 120_000 });
  const [info] = JSON.parse(packed.slice(packed.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  assert.ok(info !== undefined);
  tarball = join(scratch, info.filename);
  files = info.files.map((f) => f.path);
  const install = sh('npm', ['install', '-g', tarball, '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund'], { timeout: 240_000 });
  assert.equal(install.status, 0, `npm install -g: ${install.stderr}`);
  writ = join(prefix, 'bin', 'writ');
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the tarball holds what the installed CLI reads, not the console sources', () => {
  for (const f of ['bin/writ.js', 'bin/ts-hooks.js', 'src/cli/main.ts', 'dist/console/index.html', 'demo/policy/policy.cedar', 'proto/envoy/service/auth/v3/external_auth.proto']) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/console/web/')), 'the console is packed built (dist/console), not as source');
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('packages/')));
});

test('writ --help and --version work from the prefix with Node 20 first on PATH', () => {
  assert.match(sh('node', ['--version']).stdout, /^v20\./);
  const help = sh(writ, ['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: writ /);
  assert.match(help.stdout, /execution governance/);
  const version = sh(writ, ['--version']);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
});

test('it is the package\'s Node 24 that runs the CLI: without it, one line says what to install', () => {
  const bundled = join(prefix, 'lib', 'node_modules', 'writ', 'node_modules', 'node', 'bin', 'node');
  assert.match(execFileSync(bundled, ['--version'], { encoding: 'utf8' }), /^v24\./);
  renameSync(bundled, `${bundled}.away`);
  try {
    const r = sh(writ, ['--help']);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^writ: needs Node\.js 24 \(this is v20\.\d+\.\d+, .*install Node\.js 24\)\n$/);
  } finally {
    renameSync(`${bundled}.away`, bundled);
  }
});

test('writ init and writ demo run from the install (the demo spawns the filesystem server it depends on)', () => {
  const home = join(scratch, 'home');
  const init = sh(writ, ['init', '--home', home]);
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stdout + init.stderr, /initialized/);
  assert.ok(existsSync(join(home, 'config.json')) && existsSync(join(home, 'keys', 'admin.token')));
  const demo = sh(writ, ['demo', '--home', join(scratch, 'demo-home')], { timeout: 90_000 });
  assert.equal(demo.status, 0, demo.stdout + demo.stderr);
  assert.match(demo.stdout, /all 8 steps as expected/);
});

test('writ up --demo serves the API and the built console from the install, and stops on SIGTERM to the launcher', async () => {
  const child = spawn(writ, ['up', '--demo', '--quiet', '--port', '0', '--home', join(scratch, 'up-home')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`writ up did not start: ${err}`)), 60_000);
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        err += s;
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { ok: true });
    const consolePage = await fetch(`${url}/console/`);
    assert.equal(consolePage.status, 200);
    assert.match(await consolePage.text(), /<script[^>]+src="[^"]*assets\//);
    // the launcher passes a supervisor's SIGTERM on; writ up shuts down and the launcher follows
    child.kill('SIGTERM');
    const end = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
    assert.notEqual(end, 'hung', 'the launcher exits after its CLI');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('npx runs the tarball from a folder outside the repository', () => {
  const cwd = tempDir('writ-npx-');
  try {
    const r = sh('npx', ['--yes', '--prefer-offline', '--package', tarball, '--', 'writ', '--version'], { cwd, timeout: 240_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').at(-1), '0.1.0');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

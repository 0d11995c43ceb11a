/**
 * The README's quick start, run for real (issue 15, point 7): its first code block is
 * `npm ci && npm start` and `npm test`. `npm ci` is not run again (node_modules is what this
 * test runs from) and `npm test` is what runs this test; both must still be there. `npm start`
 * runs as the README documents it for another home and port (`WRIT_HOME=<dir> npm start --
 * --port <port>`, with a temporary home and a free port instead of the README's examples,
 * and a temporary HOME): the server must print where it listens, answer /healthz and /readyz
 * (the demo policy active), serve the console, and stop cleanly (exit 0) on Ctrl-C — SIGINT
 * to its process group, as a terminal sends it. The URL the block names must be the CLI's
 * default host and port.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, tempDir } from './helpers.ts';
import { canConnect as portOpen, freePort } from '../scripts/ports.ts';

const ROOT = join(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** the quick start: everything before the first second-level heading */
const QUICK = README.slice(0, README.search(/^## /m) === -1 ? undefined : README.search(/^## /m));
/** the quick start's first code block */
const BLOCK = /^```(?:sh|bash|console)?\n([\s\S]*?)^```/m.exec(QUICK)?.[1] ?? '';
/** its commands, line by line: `a && b` are two, comments dropped */
const LINES = BLOCK.split('\n')
  .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
  .filter(Boolean);
const COMMANDS = LINES.flatMap((l) => l.split('&&').map((c) => c.trim()));
/** what the block's comments say the server listens on */
const URL_IN_BLOCK = /https?:\/\/[\w.-]+:\d+/.exec(BLOCK)?.[0];



describe("the README's quick start", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is one code block of npm ci, npm start and npm test, and names the CLI default address', () => {
    assert.ok(BLOCK, 'README.md: no code block before the first ## heading');
    assert.deepEqual(COMMANDS, ['npm ci', 'npm start', 'npm test'], `README.md quick start: ${JSON.stringify(LINES)}`);
    assert.equal(LINES[0], 'npm ci && npm start', 'npm start follows npm ci on one line');
    // `npm start` is `writ up --demo`; the URL in the block is that command's default host and port
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts.start ?? '', /\bup --demo --demo-run\b/);
    assert.match(QUICK, /`npm start` runs `writ up --demo --demo-run`/);
    const help = spawnSync(process.execPath, [CLI, 'up', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    const port = /--port <port>.*\(default: "(\d+)"\)/.exec(help.stdout)?.[1];
    const host = /--host <host>.*\(default: "([^"]+)"\)/.exec(help.stdout)?.[1];
    assert.ok(port && host, help.stdout);
    assert.equal(URL_IN_BLOCK, `http://${host}:${port}`);
  });

  it('npm start serves the demo (health, readiness, console) on the documented home and port, and stops on Ctrl-C', async (t) => {
    // the documented form for another home and port, with this test's values
    const documented = /`(WRIT_HOME=(\S+) (npm start) -- --port (\d+))`/.exec(QUICK);
    assert.ok(documented, 'README.md quick start: no `WRIT_HOME=<dir> npm start -- --port <port>`');
    const [, form, exampleHome, start, examplePort] = documented as unknown as [string, string, string, string, string];
    assert.ok(COMMANDS.includes(start), `${start} is not a command of the quick-start block`);
    const dir = tempDir('writ-readme-');
    dirs.push(dir);
    const home = join(dir, 'home');
    const port = await freePort();
    const command = form.replace(`WRIT_HOME=${exampleHome}`, `WRIT_HOME=${home}`).replace(`--port ${examplePort}`, `--port ${port}`);
    t.diagnostic(command);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, npm_config_update_notifier: 'false' };
    delete env.WRIT_HOME;
    delete env.NODE_TEST_CONTEXT; // the server is no test runner
    // as a shell runs it (the leading NAME=value words are its environment), without a shell in
    // between, so that the exit status is npm's
    const words = command.split(/\s+/);
    while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) {
      const [name, ...value] = (words.shift() as string).split('=');
      env[name as string] = value.join('=');
    }
    const [file, ...args] = words as [string, ...string[]];
    // its own process group, as a shell job: Ctrl-C is SIGINT to the group
    const child = spawn(file, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const group = child.pid as number;
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-group, signal);
      } catch {
        // the group is gone
      }
    };
    try {
      const deadline = Date.now() + 60_000;
      let url: string | undefined;
      while (!(url = /writ: listening on (http:\/\/\S+)/.exec(out)?.[1])) {
        assert.equal(child.exitCode, null, `${command} exited (${child.exitCode}):\n${out}`);
        assert.ok(Date.now() < deadline, `${command}: no "listening on" within 60 s:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(url, `http://127.0.0.1:${port}`, out);
      assert.match(out, /activated the demo policy/);
      assert.ok(existsSync(join(home, 'config.json')), `${home} was not initialized:\n${out}`);

      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { ok: true });
      const ready = (await (await fetch(`${url}/readyz`)).json()) as { ready: boolean; version?: number };
      assert.equal(ready.ready, true, JSON.stringify(ready));
      assert.equal(typeof ready.version, 'number');
      // the first command shows governance working: the demo's transcript, every step as expected (issue 15, point 4)
      const transcriptBy = Date.now() + 60_000;
      while (!/demo: (all \d+ steps as expected|\d+ step\(s\) not as expected|the scenario failed)/.test(out)) {
        assert.ok(Date.now() < transcriptBy, `no demo transcript within 60 s:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(out, /writ: demo: all 8 steps as expected/, out);
      for (const step of ['read-allowed', 'write-denied', 'traversal-denied', 'approval', 'delegated-child', 'exec-allowed', 'exec-denied', 'revocation']) assert.match(out, new RegExp(`✔ ${step} `), out);
      assert.match(out, new RegExp(`console/#/demo`));
      const consolePage = await fetch(`${url}/console/`);
      assert.equal(consolePage.status, 200);
      assert.match(consolePage.headers.get('content-type') ?? '', /^text\/html/);
      const openapi = await fetch(`${url}/openapi.json`);
      assert.equal(openapi.status, 200);
      // the open demo: the demo's sandbox agent gets a decision without a caller token
      const decided = await fetch(`${url}/v1/authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/report.txt' } }),
      });
      const decision = (await decided.json()) as { decision?: string; writ?: string };
      assert.equal(decision.decision, 'allow', JSON.stringify(decision));
      assert.equal(typeof decision.writ, 'string');

      const before = out.length;
      kill('SIGINT');
      const timer = setTimeout(() => kill('SIGKILL'), 15_000);
      const [code, signal] = await exited;
      clearTimeout(timer);
      // npm ends as a Ctrl-C'd command does (killed by SIGINT, or 0), never with an error of its own or of the server
      assert.ok(signal === 'SIGINT' || code === 0, `${command} ended with ${code ?? signal} on SIGINT:\n${out.slice(-3000)}`);
      assert.doesNotMatch(out.slice(before), /npm error|Error|ERR_/, out.slice(before));
      // every process it started is gone, and the port closed
      for (let i = 0; ; i++) {
        try {
          process.kill(-group, 0);
        } catch {
          break;
        }
        assert.ok(i < 150, `processes of ${command} still running 15 s after SIGINT`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await portOpen(port), false, `port ${port} still open after the stop`);
      // and it left its home consistent: the decisions are in an intact log
      const audit = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--home', home], { encoding: 'utf8', env });
      assert.equal(audit.status, 0, audit.stdout + audit.stderr);
      // the test's own decision and the demo's, all replayed the same
      const decisions = /\b(\d+) decisions?: (\d+) replayed/.exec(audit.stdout);
      assert.ok(decisions && Number(decisions[1]) > 1 && decisions[1] === decisions[2], audit.stdout);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        kill('SIGKILL');
        await exited;
      }
    }
  });
});

/**
 * `writ demo`: the scenario in the terminal. A new home gets initialized and the demo policy;
 * one line per step, all as expected (exit 0), and the evidence verifies afterwards.
 * Colours only on a terminal (run under script(1) for a pty), never with NO_COLOR or
 * into a pipe; --reject refuses the approval; --json prints the chains; a home whose
 * policy does not allow the scenario exits 1 with the steps that were not as expected.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DemoChain } from '../src/demo/contract.ts';
import { DEMO_STEPS } from '../src/demo/steps.ts';
import { ok, scratchDir, writ } from './cli-fixture.ts';
import { CLI, fixture, policyFolder, type Fixture } from './helpers.ts';

const ESC = '\u001b[';
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const stepLines = (out: string) => out.split('\n').filter((l) => /^[✔✘]/u.test(l.replace(SGR, '')));

describe('writ demo', { timeout: 180_000 }, () => {
  const fixtures: Fixture[] = [];
  after(() => {
    for (const f of fixtures) f.cleanup();
  });

  it('initializes a new home, prints one line per step, all as expected, and the evidence verifies', () => {
    const home = join(scratchDir('writ-demo-'), 'home');
    const r = ok(writ(['demo', '--home', home]), 'writ demo');
    assert.ok(existsSync(join(home, 'config.json')), 'the home was initialized');
    const lines = stepLines(r.stdout);
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[1]), DEMO_STEPS.map((s) => s.id));
    assert.ok(lines.every((l) => l.startsWith('✔')), r.stdout);
    assert.match(r.stdout, /write-denied\s+deny\s+no_permit .*notes\/out\.txt absent: true/);
    assert.match(r.stdout, /revocation\s+allow .*→ terminated/);
    assert.match(r.stdout, /all 8 steps as expected/);
    assert.equal(r.stdout.includes(ESC), false, 'no colour into a pipe');
    ok(writ(['audit', 'verify', '--home', home]), 'writ audit verify after the demo');
  });

  it('colours on a terminal, and not with NO_COLOR', () => {
    const home = join(scratchDir('writ-demo-tty-'), 'home');
    const onPty = (env: Record<string, string>) => {
      // a terminal as a person has it: Node reads CI (set on CI machines), TERM=dumb and the colour variables as "no colours"
      const e: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', ...env };
      for (const k of ['FORCE_COLOR', 'NODE_DISABLE_COLORS', 'CI']) delete e[k];
      if (!('NO_COLOR' in env)) delete e.NO_COLOR;
      const r = spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} demo --home ${JSON.stringify(home)}`, '/dev/null'], { encoding: 'utf8', env: e, timeout: 60_000 });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      return r.stdout;
    };
    assert.ok(onPty({}).includes(`${ESC}32m✔`), 'green marks on a terminal');
    const plain = onPty({ NO_COLOR: '1' });
    assert.equal(plain.includes(ESC), false, 'NO_COLOR: no escape sequences');
    assert.equal(stepLines(plain).length, DEMO_STEPS.length);
  });

  it('--reject refuses the approval (approval_rejected, nothing written); --json prints every chain', () => {
    const home = join(scratchDir('writ-demo-reject-'), 'home');
    const r = ok(writ(['demo', '--home', home, '--reject']));
    assert.match(r.stdout, /✔ approval\s+deny\s+approval_rejected .*outbox\/report\.txt absent: true/);
    const j = ok(writ(['demo', '--home', home, '--json']));
    const chains = JSON.parse(j.stdout) as DemoChain[];
    assert.deepEqual(chains.map((c) => c.step), DEMO_STEPS.map((s) => s.id));
    assert.ok(chains.every((c) => c.ledger.length > 0 && typeof c.decision.decisionId === 'string'));
  });

  it('exits 1 when the home\'s policy does not allow the scenario, and says which steps', async () => {
    const f = await fixture({ policyDir: policyFolder({ 'policy.cedar': 'forbid (principal, action, resource);\n' }) });
    fixtures.push(f);
    const r = writ(['demo', '--home', f.home]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const failed = stepLines(r.stdout).filter((l) => l.startsWith('✘')).map((l) => l.split(/\s+/)[1]?.replace(/:$/, ''));
    // every step the scenario expects to be allowed is refused (the MCP steps already at their session),
    // and the delegated child cannot even begin: its parent, the read, was refused
    const expected = DEMO_STEPS.filter((x) => x.expect === 'allow' || x.id === 'delegated-child').map((x) => x.id);
    assert.deepEqual(failed, expected, r.stdout);
    assert.match(r.stdout, /✘ read-allowed .*the filesystem server received no call/);
    assert.match(r.stdout, /✘ exec-allowed .*no process was spawned/);
    assert.match(r.stdout, /step\(s\) not as expected/);
  });
});

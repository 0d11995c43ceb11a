/** The `writ` command: `writ init` (secrets, modes, --force, k-of-n authority), --help, usage errors, and how the home is found (--home, WRIT_HOME, ./.writ). */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEMO_POLICY } from './helpers.ts';
import { A1, CALL, json, ok, READ, scratchDir, writ, type AllowOut } from './cli-fixture.ts';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('writ init', () => {
  it('creates authority, node and admin secrets of mode 0600 and a config without secrets', () => {
    const home = join(scratchDir('writ-init-'), 'h');
    const r = ok(writ(['init', '--home', home]));
    assert.match(r.stdout, /initialized/);
    for (const f of ['keys/authority-1.key', 'keys/node.key', 'keys/admin.token']) {
      assert.ok(existsSync(join(home, f)), `${f} exists`);
      assert.equal(mode(join(home, f)), 0o600, `${f} mode`);
    }
    assert.equal(mode(join(home, 'keys')) & 0o077, 0, 'keys/ not group/other accessible');
    const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { format: string; authority: { threshold: number; keys: Record<string, unknown>[] }; admin: { tokenSha256: string } };
    assert.equal(config.format, 'writ-home/v1');
    assert.equal(config.authority.keys.length, 1);
    assert.equal(config.authority.threshold, 1);
    for (const k of config.authority.keys) assert.equal('d' in k, false, 'no private half in config');
    const token = readFileSync(join(home, 'keys', 'admin.token'), 'utf8').trim();
    const configText = readFileSync(join(home, 'config.json'), 'utf8');
    assert.ok(!configText.includes(token), 'admin token not in config');
    assert.match(config.admin.tokenSha256, /^[0-9a-f]{64}$/);
  });

  it('refuses to run again, mentioning --force, and leaves the keys byte-identical; --force replaces them', () => {
    const home = join(scratchDir('writ-init-'), 'h');
    ok(writ(['init', '--home', home]));
    const files = ['keys/authority-1.key', 'keys/node.key', 'keys/admin.token', 'config.json'];
    const before = files.map((f) => readFileSync(join(home, f)));
    const again = writ(['init', '--home', home]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /--force/);
    files.forEach((f, i) => assert.deepEqual(readFileSync(join(home, f)), before[i], `${f} unchanged`));

    ok(writ(['init', '--home', home, '--force']));
    files.forEach((f, i) => assert.notDeepEqual(readFileSync(join(home, f)), before[i], `${f} replaced`));
    for (const f of files.slice(0, 3)) assert.equal(mode(join(home, f)), 0o600, `${f} mode after --force`);
  });

  it('--authority-keys 3 --threshold 2 makes a 2-of-3 authority that bundles must satisfy', () => {
    const dir = scratchDir('writ-init-');
    const home = join(dir, 'h');
    ok(writ(['init', '--home', home, '--authority-keys', '3', '--threshold', '2']));
    for (let i = 1; i <= 3; i++) assert.equal(mode(join(home, 'keys', `authority-${i}.key`)), 0o600);
    const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { authority: { threshold: number; keys: unknown[] } };
    assert.equal(config.authority.keys.length, 3);
    assert.equal(config.authority.threshold, 2);

    const one = join(dir, 'one.json');
    ok(writ(['policy', 'sign', DEMO_POLICY, '--home', home, '--out', one, '--version', '2', '--keys', '2']));
    const refused = writ(['policy', 'activate', one, '--home', home]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /bundle_threshold_not_met/);
    const two = join(dir, 'two.json');
    ok(writ(['policy', 'sign', DEMO_POLICY, '--home', home, '--out', two, '--version', '3', '--keys', '1,3']));
    ok(writ(['policy', 'activate', two, '--home', home]));
  });

  it('refuses a threshold above the number of keys', () => {
    const home = join(scratchDir('writ-init-'), 'h');
    const r = writ(['init', '--home', home, '--authority-keys', '2', '--threshold', '3']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /threshold/);
    assert.equal(existsSync(join(home, 'config.json')), false);
  });
});

describe('writ --help and WRIT_HOME', () => {
  it('--help of the main command lists the commands', () => {
    const r = ok(writ(['--help']));
    for (const c of ['init', 'authorize', 'verify', 'exec', 'revoke', 'keys', 'policy', 'audit']) assert.match(r.stdout, new RegExp(`\\b${c}\\b`), c);
  });

  it('authorize --help lists its options', () => {
    const r = ok(writ(['authorize', '--help']));
    for (const o of ['--principal', '--action', '--resource', '--args', '--json', '--home', '--min-version']) assert.ok(r.stdout.includes(o), o);
    assert.match(r.stdout, /WRIT_HOME/);
  });

  it('exec --help and verify --help exit 0', () => {
    assert.match(ok(writ(['exec', '--help'])).stdout, /--grace/);
    assert.match(ok(writ(['verify', '--help'])).stdout, /--consume/);
  });

  it('an unknown command or option is a usage error (exit 2)', () => {
    assert.equal(writ(['frobnicate']).status, 2);
    assert.equal(writ(['authorize', '--bogus']).status, 2);
  });

  it('honours WRIT_HOME when --home is absent, and --home wins over it', () => {
    const dir = scratchDir('writ-env-');
    const envHome = join(dir, 'env-home');
    const cwd = scratchDir('writ-cwd-');
    ok(writ(['init'], { env: { WRIT_HOME: envHome }, cwd }));
    assert.ok(existsSync(join(envHome, 'config.json')));
    assert.equal(existsSync(join(cwd, '.writ')), false, 'did not use ./.writ');
    const bundle = join(dir, 'b.json');
    ok(writ(['policy', 'sign', DEMO_POLICY, '--out', bundle, '--version', '9'], { env: { WRIT_HOME: envHome }, cwd }));
    ok(writ(['policy', 'activate', bundle], { env: { WRIT_HOME: envHome }, cwd }));
    const status = json<{ active: boolean; version: number }>(ok(writ(['policy', 'status', '--json'], { env: { WRIT_HOME: envHome }, cwd })));
    assert.equal(status.version, 9);
    const allow = json<AllowOut>(ok(writ(['authorize', '--principal', A1, '--action', CALL, '--resource', READ, '--args', '{"path":"/srv/x"}', '--json'], { env: { WRIT_HOME: envHome }, cwd })));
    assert.equal(allow.decision, 'allow');

    const other = join(dir, 'flag-home');
    ok(writ(['init', '--home', other], { env: { WRIT_HOME: envHome }, cwd }));
    const otherStatus = json<{ active: boolean }>(ok(writ(['policy', 'status', '--home', other, '--json'], { env: { WRIT_HOME: envHome }, cwd })));
    assert.equal(otherStatus.active, false);
  });

  it('without --home or WRIT_HOME it uses ./.writ', () => {
    const cwd = scratchDir('writ-cwd-');
    ok(writ(['init'], { cwd }));
    assert.ok(existsSync(join(cwd, '.writ', 'config.json')));
  });
});

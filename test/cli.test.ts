/** The `writ` command, run as a child process against throwaway homes. */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { canonicalJson } from '../src/writ/intent.ts';
import { CLI, DEMO_POLICY, tempDir } from './helpers.ts';

const A1 = 'Agent::"a1"';
const CALL = 'Action::"tools/call"';
const READ = 'Tool::"fs/read"';
const WRITE = 'Tool::"fs/write"';

const scratch: string[] = [];
function scratchDir(prefix: string): string {
  const d = tempDir(prefix);
  scratch.push(d);
  return d;
}
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function writ(args: string[], o: { env?: Record<string, string>; cwd?: string } = {}): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env };
  if (!o.env?.WRIT_HOME) delete env.WRIT_HOME;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, cwd: o.cwd ?? scratchDir('writ-cwd-'), timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what = 'command'): SpawnSyncReturns<string> {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r;
}

function json<T>(r: SpawnSyncReturns<string>): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    assert.fail(`stdout is not JSON: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

interface AllowOut {
  decision: 'allow';
  writ: string;
  decisionId: string;
  policies: string[];
  ledgerIndex: number;
  claims: { jti: string; sub: string };
}
interface DenyOut {
  decision: 'deny';
  decisionId: string;
  reasons: string[];
  policies: string[];
  ledgerIndex: number | null;
  writ?: string;
}

/** A home with the demo policy signed and activated as version 5. */
function demoHome(): string {
  const home = join(scratchDir('writ-cli-'), 'home');
  ok(writ(['init', '--home', home]), 'init');
  const bundle = join(home, '..', 'bundle-5.json');
  ok(writ(['policy', 'sign', DEMO_POLICY, '--home', home, '--out', bundle, '--version', '5']), 'policy sign');
  ok(writ(['policy', 'activate', bundle, '--home', home]), 'policy activate');
  return home;
}

function authorizeArgs(home: string, resource: string, args: object): string[] {
  return ['authorize', '--home', home, '--principal', A1, '--action', CALL, '--resource', resource, '--args', JSON.stringify(args), '--json'];
}

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

describe('writ policy, authorize, verify, keys', () => {
  let home: string;
  before(() => {
    home = demoHome();
  });

  it('policy sign + activate, then activating the same version again is a rollback (exit 1)', () => {
    const dir = scratchDir('writ-bundles-');
    const f = join(dir, 'b.json');
    ok(writ(['policy', 'sign', DEMO_POLICY, '--home', home, '--out', f, '--version', '6']));
    assert.ok(existsSync(f));
    const a = ok(writ(['policy', 'activate', f, '--home', home, '--json']));
    assert.equal(json<{ activated: boolean; version: number }>(a).version, 6);
    const again = writ(['policy', 'activate', f, '--home', home]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /bundle_rollback/);
    const lower = join(dir, 'low.json');
    ok(writ(['policy', 'sign', DEMO_POLICY, '--home', home, '--out', lower, '--version', '4']));
    const low = writ(['policy', 'activate', lower, '--home', home, '--json']);
    assert.equal(low.status, 1);
    assert.match(low.stdout + low.stderr, /bundle_rollback/);
    const status = json<{ active: boolean; version: number }>(ok(writ(['policy', 'status', '--home', home, '--json'])));
    assert.deepEqual({ active: status.active, version: status.version }, { active: true, version: 6 });
  });

  it('authorize --json: allow exits 0 with the writ, decision id and policies', () => {
    const r = ok(writ(authorizeArgs(home, READ, { path: '/srv/a.txt' })));
    const out = json<AllowOut>(r);
    assert.equal(out.decision, 'allow');
    assert.equal(out.writ.split('.').length, 3);
    assert.match(out.decisionId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(out.policies, ['agents-read-srv']);
    assert.equal(out.claims.sub, A1);
  });

  it('authorize --json: deny exits 3 with reasons and no writ', () => {
    const r = writ(authorizeArgs(home, WRITE, { path: '/srv/a.txt' }));
    assert.equal(r.status, 3, r.stderr);
    const out = json<DenyOut>(r);
    assert.equal(out.decision, 'deny');
    assert.deepEqual(out.reasons, ['no_permit']);
    assert.equal(out.writ, undefined);
    const forbid = writ(authorizeArgs(home, READ, { path: '/srv/secret/k' }));
    assert.equal(forbid.status, 3);
    assert.deepEqual(json<DenyOut>(forbid).reasons, ['policy_forbid']);
  });

  it('authorize without --json prints the writ on stdout for an allow, nothing for a deny', () => {
    const allow = ok(writ(authorizeArgs(home, READ, { path: '/srv/b' }).filter((a) => a !== '--json')));
    assert.match(allow.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const deny = writ(authorizeArgs(home, WRITE, { path: '/srv/b' }).filter((a) => a !== '--json'));
    assert.equal(deny.status, 3);
    assert.equal(deny.stdout, '');
    assert.match(deny.stderr, /deny.*no_permit/);
  });

  it('authorize with bad flags is a usage error, never an allow', () => {
    const badJson = writ(['authorize', '--home', home, '--principal', A1, '--action', CALL, '--resource', READ, '--args', '{path:', '--json']);
    assert.equal(badJson.status, 2);
    assert.doesNotMatch(badJson.stdout, /allow/);
    const missing = writ(['authorize', '--home', home, '--principal', A1, '--action', CALL]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--resource/);
    const notUid = writ(['authorize', '--home', home, '--principal', 'a1', '--action', CALL, '--resource', READ, '--json']);
    assert.equal(notUid.status, 3);
    assert.deepEqual(json<DenyOut>(notUid).reasons, ['request_invalid']);
  });

  it('verify WRIT --args: exit 0 for the authorized args, exit 1 writ_intent_mismatch for others', () => {
    const out = json<AllowOut>(ok(writ(authorizeArgs(home, READ, { path: '/srv/v.txt' }))));
    const good = ok(writ(['verify', out.writ, '--home', home, '--args', JSON.stringify({ path: '/srv/v.txt' })]));
    assert.match(good.stdout, /valid/);
    const goodJson = json<{ valid: boolean; claims: { jti: string } }>(ok(writ(['verify', out.writ, '--home', home, '--args', '{"path":"/srv/v.txt"}', '--json'])));
    assert.equal(goodJson.valid, true);
    assert.equal(goodJson.claims.jti, out.claims.jti);

    const bad = writ(['verify', out.writ, '--home', home, '--args', JSON.stringify({ path: '/srv/other.txt' }), '--json']);
    assert.equal(bad.status, 1);
    const badOut = json<{ valid: boolean; reason: string }>(bad);
    assert.deepEqual({ valid: badOut.valid, reason: badOut.reason }, { valid: false, reason: 'writ_intent_mismatch' });
    const plain = writ(['verify', out.writ, '--home', home, '--args', '{}']);
    assert.equal(plain.status, 1);
    assert.match(plain.stderr, /writ_intent_mismatch/);
  });

  it('verify --consume makes a writ single-use; tampered writs fail', () => {
    const out = json<AllowOut>(ok(writ(authorizeArgs(home, READ, { path: '/srv/c.txt' }))));
    const args = JSON.stringify({ path: '/srv/c.txt' });
    ok(writ(['verify', out.writ, '--home', home, '--args', args, '--consume']));
    const again = writ(['verify', out.writ, '--home', home, '--args', args, '--consume', '--json']);
    assert.equal(again.status, 1);
    assert.equal(json<{ reason: string }>(again).reason, 'writ_replayed');

    const fresh = json<AllowOut>(ok(writ(authorizeArgs(home, READ, { path: '/srv/d.txt' }))));
    const [h, p, s] = fresh.writ.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, exp: (payload.exp as number) + 60 })).toString('base64url')}.${s}`;
    const f = writ(['verify', forged, '--home', home, '--args', '{"path":"/srv/d.txt"}', '--json']);
    assert.equal(f.status, 1);
    assert.equal(json<{ reason: string }>(f).reason, 'writ_signature_invalid');
    const g = writ(['verify', 'garbage', '--home', home, '--json']);
    assert.equal(g.status, 1);
    assert.equal(json<{ reason: string }>(g).reason, 'writ_malformed');
  });

  it('revoke JTI makes verify fail with writ_revoked', () => {
    const out = json<AllowOut>(ok(writ(authorizeArgs(home, READ, { path: '/srv/r.txt' }))));
    const r = ok(writ(['revoke', out.claims.jti, '--home', home, '--json']));
    assert.equal(json<{ created: boolean }>(r).created, true);
    const v = writ(['verify', out.writ, '--home', home, '--args', '{"path":"/srv/r.txt"}', '--json']);
    assert.equal(v.status, 1);
    assert.equal(json<{ reason: string }>(v).reason, 'writ_revoked');
    const bad = writ(['revoke', 'x', '--kind', 'everything', '--home', home]);
    assert.equal(bad.status, 2);
  });

  it('keys --jwks prints a JWKS with one public OKP Ed25519 key', () => {
    const jwks = json<{ keys: Record<string, unknown>[] }>(ok(writ(['keys', '--jwks', '--home', home])));
    assert.equal(jwks.keys.length, 1);
    const k = jwks.keys[0] as Record<string, unknown>;
    assert.equal(k.kty, 'OKP');
    assert.equal(k.crv, 'Ed25519');
    assert.equal(typeof k.kid, 'string');
    assert.equal(typeof k.x, 'string');
    assert.equal('d' in k, false);
    const authority = json<{ keys: Record<string, unknown>[] }>(ok(writ(['keys', '--authority', '--home', home])));
    assert.equal(authority.keys.length, 1);
    assert.equal('d' in (authority.keys[0] as Record<string, unknown>), false);
  });

  it('a directory that is not a home is an error that says to run init', () => {
    const empty = scratchDir('writ-nohome-');
    const r = writ(authorizeArgs(empty, READ, { path: '/srv/a' }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /writ init/);
    assert.doesNotMatch(r.stdout, /allow/);
  });
});

describe('writ audit replay', () => {
  let home: string;
  let allowIndex: number;
  let denyIndex: number;
  before(() => {
    home = demoHome();
    allowIndex = json<AllowOut>(ok(writ(authorizeArgs(home, READ, { path: '/srv/data.txt' })))).ledgerIndex;
    denyIndex = json<DenyOut>(writ(authorizeArgs(home, WRITE, { path: '/srv/data.txt' }))).ledgerIndex as number;
    ok(writ(authorizeArgs(home, READ, { path: '/srv/other.txt' })));
    writ(authorizeArgs(home, READ, { path: '/srv/secret/x' }));
  });

  interface Leaf {
    input: { context: { args: { path: string } } };
    result: { decision: string; reasons: string[]; policies: string[] };
  }
  interface Report {
    decisions: number;
    replayed: number;
    differences: { index: number; recorded: { decision: string }; replayed: { decision: string } | null }[];
  }

  /** Rewrites one leaf in place, as someone with write access to the SQLite file could. Returns the original bytes. */
  function tamper(index: number, edit: (leaf: Leaf) => void): Uint8Array {
    const db = new DatabaseSync(join(home, 'state.db'));
    try {
      const row = db.prepare('SELECT leaf FROM ledger_entries WHERE idx = ?').get(index) as { leaf: Uint8Array } | undefined;
      assert.ok(row, `leaf ${index} exists`);
      const original = new Uint8Array(row.leaf);
      const leaf = JSON.parse(new TextDecoder().decode(original)) as Leaf;
      edit(leaf);
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(new TextEncoder().encode(canonicalJson(leaf)), index);
      return original;
    } finally {
      db.close();
    }
  }

  function restore(index: number, bytes: Uint8Array): void {
    const db = new DatabaseSync(join(home, 'state.db'));
    try {
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(bytes, index);
    } finally {
      db.close();
    }
  }

  function replay(): { r: SpawnSyncReturns<string>; report: Report; text: SpawnSyncReturns<string> } {
    const r = writ(['audit', 'replay', '--home', home, '--json']);
    const text = writ(['audit', 'replay', '--home', home]);
    assert.equal(text.status, r.status);
    return { r, report: json<Report>(r), text };
  }

  it('exits 0 on an honest home, with every decision replayed', () => {
    const { r, report, text } = replay();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(report.decisions, 4);
    assert.equal(report.replayed, 4);
    assert.deepEqual(report.differences, []);
    assert.match(text.stdout, /0 differ/);
  });

  it('a recorded allow rewritten to deny is caught: exit 1 naming the index', () => {
    const original = tamper(allowIndex, (l) => {
      l.result = { decision: 'deny', reasons: ['no_permit'], policies: [], errors: [] } as Leaf['result'];
    });
    try {
      const { r, report, text } = replay();
      assert.equal(r.status, 1);
      assert.deepEqual(report.differences.map((d) => d.index), [allowIndex]);
      assert.equal(report.differences[0]?.recorded.decision, 'deny');
      assert.equal(report.differences[0]?.replayed?.decision, 'allow');
      assert.match(text.stdout, new RegExp(`#${allowIndex}\\b`));
    } finally {
      restore(allowIndex, original);
    }
    assert.equal(replay().r.status, 0);
  });

  it('a recorded deny rewritten to allow is caught', () => {
    const original = tamper(denyIndex, (l) => {
      l.result = { decision: 'allow', reasons: ['policy_permit'], policies: ['agents-read-srv'], errors: [] } as Leaf['result'];
    });
    try {
      const { r, report, text } = replay();
      assert.equal(r.status, 1);
      assert.deepEqual(report.differences.map((d) => d.index), [denyIndex]);
      assert.match(text.stdout, new RegExp(`#${denyIndex}\\b`));
    } finally {
      restore(denyIndex, original);
    }
  });

  it('swapped input arguments that the policy decides differently are caught', () => {
    const original = tamper(allowIndex, (l) => {
      l.input.context.args.path = '/srv/secret/keys';
    });
    try {
      const { r, report, text } = replay();
      assert.equal(r.status, 1);
      assert.deepEqual(report.differences.map((d) => d.index), [allowIndex]);
      assert.equal(report.differences[0]?.replayed?.decision, 'deny');
      assert.match(text.stdout, new RegExp(`#${allowIndex}\\b`));
    } finally {
      restore(allowIndex, original);
    }
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

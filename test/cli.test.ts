/** The `writ` command, run as a child process against a throwaway home: policy sign/activate/status, authorize, verify, revoke, keys. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { DEMO_POLICY } from './helpers.ts';
import { A1, authorizeArgs, CALL, demoHome, json, ok, READ, scratchDir, writ, WRITE, type AllowOut, type DenyOut } from './cli-fixture.ts';

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

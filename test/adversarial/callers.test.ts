/**
 * Issue 10, point 1 (the credential module): caller tokens issued by `writ caller add`,
 * stored as SHA-256 only, authenticated in constant time, each allowed a documented set of
 * principals (exact UIDs, `Type::"prefix*"`, `*`) and roles (authorize / verify).
 * Attacks: a guessed or altered token, the stored digest presented as the token
 * (pass-the-hash), another scheme, a removed caller's token, a prefix pattern stretched to
 * another type or to a shorter id, escapes that spell the same UID another way, patterns
 * that would match everything by accident.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CallerError, CallerStore, bearerToken, hasRole, mayAssert, parsePrincipalPattern, parseRoles } from '../../src/node/callers.ts';
import { sha256Hex } from '../../src/util.ts';
import { json, ok, scratchDir, writ } from '../cli-fixture.ts';

const store = () => new CallerStore(new DatabaseSync(':memory:'));

describe('callers: tokens', () => {
  it('issues writ_<random> tokens, stores only their SHA-256, and authenticates the Bearer header', () => {
    const db = new DatabaseSync(':memory:');
    const s = new CallerStore(db);
    const { token, caller } = s.add('agent-1', { roles: ['authorize'], principals: ['Agent::"a1"'] });
    assert.match(token, /^writ_[A-Za-z0-9_-]{43}$/);
    const rows = db.prepare('SELECT * FROM callers').all() as { token_sha256: string }[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.token_sha256, sha256Hex(token));
    assert.ok(!JSON.stringify(rows).includes(token.slice(5)), 'the token itself is not stored');
    assert.deepEqual(s.authenticate(`Bearer ${token}`), caller);
    assert.notEqual(s.add('agent-2', { roles: ['authorize'], principals: ['Agent::"a2"'] }).token, token);
  });

  it('refuses a missing, malformed, altered or guessed token, another scheme and the stored digest', () => {
    const s = store();
    const { token } = s.add('ep', { roles: ['verify'], principals: [] });
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    for (const h of [undefined, '', 'Bearer', 'Bearer ', token, `Basic ${token}`, `bearer${token}`, `Bearer ${flipped}`, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Bearer ${sha256Hex(token)}`, `Bearer writ_${sha256Hex(token)}`, `Bearer ${token} ${token}`]) {
      assert.equal(s.authenticate(h), null, `accepted ${JSON.stringify(h)}`);
    }
    assert.equal(bearerToken(`Bearer ${token}`), token);
  });

  it('a removed caller is refused at once, also by a store opened before the removal (another process)', () => {
    const dir = scratchDir('writ-callers-');
    const file = join(dir, 'state.db');
    const running = new CallerStore(new DatabaseSync(file));
    const cli = new CallerStore(new DatabaseSync(file));
    const { token } = cli.add('agent', { roles: ['authorize'], principals: ['Agent::"a1"'] });
    assert.equal(running.authenticate(`Bearer ${token}`)?.name, 'agent');
    assert.equal(cli.remove('agent'), true);
    assert.equal(running.authenticate(`Bearer ${token}`), null);
    assert.equal(cli.remove('agent'), false, 'nothing left to remove');
    const listed = running.list();
    assert.equal(listed.length, 1);
    assert.ok(listed[0]?.revoked, 'the removed caller stays on record with its revocation time');
    // the name can be issued again, with a new token; the old one stays dead
    const again = cli.add('agent', { roles: ['authorize'], principals: ['Agent::"a1"'] });
    assert.equal(running.authenticate(`Bearer ${again.token}`)?.name, 'agent');
    assert.equal(running.authenticate(`Bearer ${token}`), null);
  });

  it('refuses a second live caller of one name, bad names, no roles, and an authorize caller without principals', () => {
    const s = store();
    s.add('a', { roles: ['authorize'], principals: ['Agent::"a1"'] });
    assert.throws(() => s.add('a', { roles: ['authorize'], principals: ['Agent::"a2"'] }), CallerError);
    for (const name of ['', ' a', 'a b', '-a', 'x'.repeat(65), 'a/b']) assert.throws(() => s.add(name, { roles: ['verify'], principals: [] }), CallerError, name);
    assert.throws(() => s.add('b', { roles: [], principals: ['*'] }), CallerError);
    assert.throws(() => s.add('c', { roles: ['authorize'], principals: [] }), CallerError);
    assert.throws(() => parseRoles('admin'), CallerError);
    assert.deepEqual(parseRoles('both'), ['authorize', 'verify']);
  });
});

describe('callers: which principals a caller may assert', () => {
  const caller = (principals: string[], roles: ('authorize' | 'verify')[] = ['authorize']) => store().add('c', { roles, principals }).caller;

  it('an exact UID matches that UID only, however its id is escaped', () => {
    const c = caller(['Agent::"a1"']);
    assert.equal(mayAssert(c, 'Agent::"a1"'), true);
    assert.equal(mayAssert(c, 'Agent::"\\u00611"'), true, 'the same UID spelled with an escape');
    assert.equal(mayAssert(c, ' Agent::"a1" '), true, 'read as the node reads it (parseUid), surrounding blanks and all');
    for (const p of ['Agent::"a10"', 'Agent::"a"', 'Agent::"A1"', 'Agentx::"a1"', 'Acme::Agent::"a1"', 'User::"a1"', '*', 'Agent::*', 'garbage']) {
      assert.equal(mayAssert(c, p), false, p);
    }
  });

  it('Type::"prefix*" matches ids with that prefix of exactly that type', () => {
    const c = caller(['Agent::"team-a/*"']);
    for (const p of ['Agent::"team-a/"', 'Agent::"team-a/bot"', 'Agent::"team-a/x/y"']) assert.equal(mayAssert(c, p), true, p);
    for (const p of ['Agent::"team-a"', 'Agent::"team-b/bot"', 'User::"team-a/bot"', 'Ns::Agent::"team-a/bot"', 'Agent::"TEAM-A/bot"']) assert.equal(mayAssert(c, p), false, p);
  });

  it('* matches any principal; several patterns are alternatives', () => {
    assert.equal(mayAssert(caller(['*']), 'Anything::"x"'), true);
    const c = caller(['Agent::"a1"', 'Service::"ci-*"']);
    assert.equal(mayAssert(c, 'Service::"ci-42"'), true);
    assert.equal(mayAssert(c, 'Agent::"a1"'), true);
    assert.equal(mayAssert(c, 'Agent::"a2"'), false);
  });

  it('a verify-only caller (an enforcement point) asserts no principal; a removed caller nothing', () => {
    const ep = caller(['*'], ['verify']);
    assert.equal(mayAssert(ep, 'Agent::"a1"'), false);
    assert.equal(hasRole(ep, 'verify'), true);
    assert.equal(hasRole(ep, 'authorize'), false);
    const gone = { ...caller(['*'], ['authorize', 'verify']), revoked: new Date().toISOString() };
    assert.equal(mayAssert(gone, 'Agent::"a1"'), false);
    assert.equal(hasRole(gone, 'verify'), false);
  });

  it('refuses patterns that are not one of the three forms, or would match more than they say', () => {
    for (const p of ['', 'a1', 'Agent::a1', 'Agent::"a1', 'Agent::"*"', 'Agent::""', 'Agent::"a*b"', 'Agent::"*a"', '**', 'Agent::*', '*::"a"']) {
      assert.throws(() => parsePrincipalPattern(p), CallerError, p);
    }
    assert.equal(parsePrincipalPattern(' Agent::"\\u0061*" '), 'Agent::"a*"');
  });
});

describe('callers: writ caller add | list | remove', () => {
  it('adds (the token printed once), lists without tokens, removes; refuses bad patterns and roles', () => {
    const home = join(scratchDir('writ-caller-cli-'), 'home');
    ok(writ(['init', '--home', home]), 'init');
    const added = json<{ name: string; roles: string[]; principals: string[]; token: string }>(
      ok(writ(['caller', 'add', 'agent-1', '--home', home, '--principals', 'Agent::"a1"', '--principals', 'Agent::"team-*"', '--json'])),
    );
    assert.deepEqual(added.roles, ['authorize']);
    assert.deepEqual(added.principals, ['Agent::"a1"', 'Agent::"team-*"']);
    const plain = ok(writ(['caller', 'add', 'gateway', '--home', home, '--role', 'verify'])).stdout.trim();
    assert.match(plain, /^writ_[A-Za-z0-9_-]{43}$/);
    const listed = ok(writ(['caller', 'list', '--home', home, '--json'])).stdout;
    assert.ok(!listed.includes(added.token) && !listed.includes(plain), 'list never shows a token');
    assert.deepEqual(json<{ name: string; roles: string[] }[]>(ok(writ(['caller', 'list', '--home', home, '--json']))).map((c) => [c.name, c.roles]), [['agent-1', ['authorize']], ['gateway', ['verify']]]);
    assert.equal(writ(['caller', 'add', 'bad', '--home', home, '--principals', 'a1']).status, 2);
    assert.equal(writ(['caller', 'add', 'bad', '--home', home, '--role', 'admin', '--principals', '*']).status, 2);
    assert.equal(writ(['caller', 'add', 'agent-1', '--home', home, '--principals', '*']).status, 2, 'a live name is not issued twice');
    ok(writ(['caller', 'remove', 'agent-1', '--home', home]));
    assert.equal(writ(['caller', 'remove', 'agent-1', '--home', home]).status, 1);
    assert.match(ok(writ(['caller', 'list', '--home', home])).stdout, /agent-1 .* removed /);
  });
});

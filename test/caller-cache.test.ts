/**
 * The live callers kept in memory (src/node/callers.ts, CallerStore.live): a request reads
 * one counter row, not every caller, and any change to the table — through a CallerStore or
 * raw SQL, on this connection or another — is seen at the very next request. Also: the copy
 * really is used (a write that bypasses the triggers is not seen: proof there is a cache, and
 * that the triggers are what keeps it honest), and it is bounded (MAX_CACHED_CALLERS).
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CallerStore, MAX_CACHED_CALLERS } from '../src/node/callers.ts';
import { sha256Hex } from '../src/util.ts';
import { scratchDir } from './cli-fixture.ts';

const AGENT = { roles: ['authorize' as const], principals: ['Agent::"a1"'] };

describe('callers in memory', () => {
  it('a caller revoked, deleted or altered by raw SQL on the same connection is seen at the next request', () => {
    const db = new DatabaseSync(':memory:');
    const s = new CallerStore(db);
    const a = s.add('a', AGENT).token;
    const b = s.add('b', AGENT).token;
    const c = s.add('c', AGENT).token;
    for (const t of [a, b, c]) assert.ok(s.authenticate(`Bearer ${t}`));
    db.prepare("UPDATE callers SET revoked = '2026-01-01T00:00:00.000Z' WHERE name = 'a'").run();
    assert.equal(s.authenticate(`Bearer ${a}`), null, 'revoked by raw UPDATE');
    db.prepare("DELETE FROM callers WHERE name = 'b'").run();
    assert.equal(s.authenticate(`Bearer ${b}`), null, 'row deleted');
    db.prepare(`UPDATE callers SET principals = '["Agent::\\"other\\""]' WHERE name = 'c'`).run();
    assert.deepEqual(s.authenticate(`Bearer ${c}`)?.principals, ['Agent::"other"'], 'altered patterns are used at once');
    db.prepare("UPDATE callers SET roles = '[\"verify\"]' WHERE name = 'c'").run();
    assert.deepEqual(s.authenticate(`Bearer ${c}`)?.roles, ['verify']);
  });

  it('another connection (writ caller remove in another process) revokes at once, and adds at once', () => {
    const file = join(scratchDir('writ-caller-cache-'), 'state.db');
    const server = new CallerStore(new DatabaseSync(file));
    const cliDb = new DatabaseSync(file);
    const cli = new CallerStore(cliDb);
    const { token } = cli.add('agent', AGENT);
    assert.equal(server.authenticate(`Bearer ${token}`)?.name, 'agent');
    assert.equal(server.authenticate(`Bearer ${token}`)?.name, 'agent', 'served from memory');
    assert.equal(cli.remove('agent'), true);
    assert.equal(server.authenticate(`Bearer ${token}`), null, 'revoked at the next request');
    const later = cli.add('later', AGENT).token;
    assert.equal(server.authenticate(`Bearer ${later}`)?.name, 'later', 'a new caller at the next request');
    cliDb.prepare("UPDATE callers SET revoked = 'x' WHERE name = 'later'").run();
    assert.equal(server.authenticate(`Bearer ${later}`), null, 'raw SQL from another connection');
  });

  it('the copy is used: a write that bypasses the triggers is not seen (what keeps it honest is the triggers)', () => {
    const db = new DatabaseSync(':memory:');
    const s = new CallerStore(db);
    const { token } = s.add('a', AGENT);
    assert.ok(s.authenticate(`Bearer ${token}`));
    db.exec('DROP TRIGGER callers_version_update');
    db.prepare("UPDATE callers SET revoked = 'x' WHERE name = 'a'").run();
    assert.ok(s.authenticate(`Bearer ${token}`), 'served from memory, not re-read');
    // a later counted change re-reads everything, the uncounted change with it
    s.add('b', AGENT);
    assert.equal(s.authenticate(`Bearer ${token}`), null);
  });

  it('fails closed when the counter cannot be read', () => {
    const db = new DatabaseSync(':memory:');
    const s = new CallerStore(db);
    const { token } = s.add('a', AGENT);
    assert.ok(s.authenticate(`Bearer ${token}`));
    db.exec('DELETE FROM callers_version');
    assert.throws(() => s.authenticate(`Bearer ${token}`), /callers_version/);
  });

  it(`is bounded: with more than ${MAX_CACHED_CALLERS} live callers every request reads the table`, () => {
    const db = new DatabaseSync(':memory:');
    const s = new CallerStore(db);
    const { token } = s.add('a', AGENT);
    const insert = db.prepare("INSERT INTO callers (name, token_sha256, roles, principals, created) VALUES (?, ?, '[\"verify\"]', '[]', 'now')");
    db.exec('BEGIN');
    for (let i = 0; i < MAX_CACHED_CALLERS; i++) insert.run(`n${i}`, sha256Hex(`t${i}`));
    db.exec('COMMIT');
    assert.ok(s.authenticate(`Bearer ${token}`));
    db.exec('DROP TRIGGER callers_version_update');
    db.prepare("UPDATE callers SET revoked = 'x' WHERE name = 'a'").run();
    assert.equal(s.authenticate(`Bearer ${token}`), null, 'not kept in memory: the uncounted write is seen');
  });

  it('certificate callers come from the same copy, and a removal is seen at once', () => {
    const db = new DatabaseSync(':memory:');
    const s = new CallerStore(db);
    s.addCertificate('svc', { roles: ['verify'], principals: [], spiffeId: 'spiffe://example.org/svc' });
    assert.deepEqual(s.certificateCallers().map((c) => c.name), ['svc']);
    new CallerStore(db).remove('svc');
    assert.deepEqual(s.certificateCallers(), []);
  });
});

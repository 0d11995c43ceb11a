/**
 * Running executions (issue 13, points 1 and 5): the SQLite registry (register, unregister,
 * list, get, rows of dead processes pruned, bounded rows), `writ ps` (table, --json, empty,
 * --terminate = revoking the writ, recorded) and the console's API (the list, and the
 * admin-only terminate). Rows are put in through the store, as an enforcement point would.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { paths } from '../src/home/config.ts';
import { openHome } from '../src/home/open.ts';
import { processAlive } from '../src/home/running.ts';
import { openDatabase } from '../src/ledger/sqlite-batch.ts';
import { leafObject } from '../src/ledger/leaf.ts';
import { nodeConsoleSource } from '../src/console/node-source.ts';
import { registerConsole } from '../src/console/routes.ts';
import type { RunningExecution } from '../src/node/running.ts';
import { RUNNING_MAX_BYTES, RunningRegistryError, SqliteRunningRegistry } from '../src/node/sqlite-running.ts';
import { A1, authorizeArgs, CALL, demoHome, json, ok, READ, writ, type AllowOut } from './cli-fixture.ts';
import { fixture, type Fixture } from './helpers.ts';

/** The pid of a process that ran and was waited for: no process has it now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  assert.equal(r.status, 0);
  assert.equal(processAlive(r.pid), false, 'the waited-for child is gone');
  return r.pid;
}

function row(o: Partial<RunningExecution> = {}): RunningExecution {
  return {
    jti: 'jti-1',
    node: 'node-1',
    kind: 'exec',
    principal: A1,
    action: 'Action::"exec"',
    resource: 'Binary::"/usr/bin/sleep"',
    writ: 'a.b.c',
    request: { principal: A1, action: 'Action::"exec"', resource: 'Binary::"/usr/bin/sleep"', args: { argv: ['sleep', '30'] }, context: {} },
    started: new Date(Date.now() - 5000).toISOString(),
    maxRunSeconds: null,
    pid: process.pid,
    ...o,
  };
}

describe('SqliteRunningRegistry', () => {
  const alive = () => true;

  it('registers, gets, lists oldest first, replaces a jti registered again, unregisters', () => {
    const r = new SqliteRunningRegistry(new DatabaseSync(':memory:'));
    const older = row({ jti: 'b', started: new Date(Date.now() - 60_000).toISOString(), maxRunSeconds: 30, kind: 'mcp' });
    r.register(row({ jti: 'a' }));
    r.register(older);
    assert.deepEqual(r.get('b'), older, 'stored exactly, the request as JSON');
    assert.deepEqual(r.list(alive).map((x) => x.jti), ['b', 'a']);
    r.register({ ...older, pid: older.pid + 1 });
    assert.equal(r.get('b')?.pid, older.pid + 1);
    assert.equal(r.list(alive).length, 2);
    r.unregister('b');
    assert.equal(r.get('b'), null);
    assert.deepEqual(r.list(alive).map((x) => x.jti), ['a']);
    r.unregister('nothing'); // no error
  });

  it('list removes the rows of processes that are gone, and only those', () => {
    const db = new DatabaseSync(':memory:');
    const r = new SqliteRunningRegistry(db);
    const dead = deadPid();
    r.register(row({ jti: 'live' }));
    r.register(row({ jti: 'gone', pid: dead }));
    assert.equal(r.list(alive).length, 2, 'kept while isAlive says so');
    assert.deepEqual(r.list(processAlive).map((x) => x.jti), ['live']);
    assert.equal(r.get('gone'), null, 'deleted, not only hidden');
    assert.deepEqual(new SqliteRunningRegistry(db).list(alive).map((x) => x.jti), ['live'], 'another instance on the database sees the same');
  });

  it('refuses rows too large or malformed, with a clear error', () => {
    const r = new SqliteRunningRegistry(new DatabaseSync(':memory:'));
    r.register(row({ jti: 'max', writ: 'x'.repeat(RUNNING_MAX_BYTES) }));
    assert.equal(r.get('max')?.writ.length, RUNNING_MAX_BYTES, 'a writ of exactly the limit is fine');
    const refused = (o: Partial<RunningExecution>, message: RegExp) =>
      assert.throws(() => r.register(row({ jti: 'bad', ...o })), (err: unknown) => err instanceof RunningRegistryError && err.code === 'running_invalid' && message.test(err.message));
    refused({ writ: 'x'.repeat(RUNNING_MAX_BYTES + 1) }, /writ is 65537 bytes, more than 65536/);
    refused({ request: { args: { blob: 'y'.repeat(RUNNING_MAX_BYTES) } } }, /request is \d+ bytes as JSON, more than 65536/);
    refused({ request: { n: 1n } }, /request is not JSON/);
    refused({ principal: 'p'.repeat(5000) }, /principal is 5000 bytes/);
    refused({ jti: '' }, /jti must be a non-empty string/);
    refused({ kind: 'shell' as RunningExecution['kind'] }, /kind must be one of exec, mcp, http/);
    refused({ pid: 0 }, /pid must be a positive integer/);
    refused({ maxRunSeconds: -1 }, /maxRunSeconds/);
    refused({ started: 'yesterday' }, /started must be an ISO 8601 time/);
    assert.equal(r.get('bad'), null, 'nothing refused was stored');
  });
});

describe('writ ps', () => {
  let home: string;
  let allowed: AllowOut;
  const args = { path: '/srv/data/ps.txt' };

  before(() => {
    home = demoHome();
    allowed = json<AllowOut>(ok(writ(authorizeArgs(home, READ, args))));
    const db = openDatabase(paths(home).db);
    try {
      const r = new SqliteRunningRegistry(db);
      r.register(row({ jti: allowed.claims.jti, kind: 'mcp', action: CALL, resource: READ, writ: allowed.writ, started: new Date(Date.now() - 75_000).toISOString(), maxRunSeconds: 300 }));
      r.register(row({ jti: 'dead-one', pid: deadPid() }));
    } finally {
      db.close();
    }
  });

  it('says so when nothing runs', () => {
    const r = ok(writ(['ps', '--home', demoHome()]));
    assert.equal(r.stdout, 'no running executions\n');
  });

  it('prints jti, kind, principal, action → resource, age, constraint, pid, node; rows of dead processes are gone', () => {
    const out = ok(writ(['ps', '--home', home])).stdout;
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 2, out);
    assert.match(lines[0] ?? '', /^JTI\s+KIND\s+PRINCIPAL\s+ACTION → RESOURCE\s+AGE\s+CONSTRAINT\s+PID\s+NODE$/);
    const line = lines[1] ?? '';
    assert.ok(line.startsWith(allowed.claims.jti), line);
    const m = / mcp +Agent::"a1" +Action::"tools\/call" → Tool::"fs\/read" +(\d+)m(\d+)s +max 5m \((\d+)m(\d+)s left\) +\d+ +node-1$/.exec(line);
    assert.ok(m, line);
    // registered 75 s ago; a slow machine may take a while to get here
    const age = Number(m[1]) * 60 + Number(m[2]);
    const left = Number(m[3]) * 60 + Number(m[4]);
    assert.ok(age >= 75 && age < 180, `age ${age} s`);
    assert.equal(age + left, 300, 'the time left is the constraint less the age');
    assert.ok(line.includes(` ${process.pid} `));
    assert.doesNotMatch(out, /dead-one/);
  });

  it('--json: the same rows, with neither the writ nor the request', () => {
    const out = json<{ running: Record<string, unknown>[] }>(ok(writ(['ps', '--home', home, '--json'])));
    assert.equal(out.running.length, 1);
    const r = out.running[0] ?? {};
    assert.deepEqual(Object.keys(r).sort(), ['action', 'ageSeconds', 'jti', 'kind', 'maxRunSeconds', 'node', 'pid', 'principal', 'resource', 'secondsLeft', 'started'].sort());
    assert.equal(r.jti, allowed.claims.jti);
    assert.equal(r.pid, process.pid);
    assert.equal(r.maxRunSeconds, 300);
    assert.ok(typeof r.ageSeconds === 'number' && r.ageSeconds >= 75 && r.ageSeconds < 180, String(r.ageSeconds));
    assert.equal(r.secondsLeft, 300 - Math.floor(r.ageSeconds as number));
    assert.doesNotMatch(JSON.stringify(out), new RegExp(allowed.writ.split('.')[2] ?? 'never'));
  });

  it('--terminate refuses a jti that is not running, and --reason alone', () => {
    const r = writ(['ps', '--home', home, '--terminate', 'not-running']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no running execution under writ not-running/);
    assert.equal(writ(['ps', '--home', home, '--reason', 'x']).status, 2);
  });

  it('--terminate revokes the writ: verification refuses it (writ_revoked), the revocation leaf is in the ledger', async () => {
    const v0 = writ(['verify', allowed.writ, '--home', home, '--args', JSON.stringify(args), '--json']);
    assert.equal(v0.status, 0, `valid before: ${v0.stdout}`);
    const out = json<{ revoked: boolean; created: boolean; ledgerIndex: number }>(ok(writ(['ps', '--home', home, '--terminate', allowed.claims.jti, '--reason', 'runaway job', '--json'])));
    assert.equal(out.revoked, true);
    assert.equal(out.created, true);
    const v = writ(['verify', allowed.writ, '--home', home, '--args', JSON.stringify(args), '--json']);
    assert.equal(v.status, 1);
    assert.equal(json<{ reason: string }>(v).reason, 'writ_revoked');
    const h = await openHome(home);
    try {
      const e = h.ledger.entries(out.ledgerIndex, 1)[0];
      assert.equal(e?.type, 'revocation');
      const leaf = leafObject(e.leaf);
      assert.equal(leaf.kind, 'writ');
      assert.equal(leaf.value, allowed.claims.jti);
      assert.equal(leaf.reason, 'terminated by cli: runaway job');
    } finally {
      h.close();
    }
  });
});

describe('console API: running executions', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let fleetApp: FastifyInstance;
  let jti: string;
  let writText: string;
  const READ_REQ = { principal: A1, action: CALL, resource: READ };

  before(async () => {
    f = await fixture();
    app = Fastify();
    await registerConsole(app, { source: nodeConsoleSource({ node: f.node, ledger: f.ledger, state: f.state, log: f.log, software: 'test', running: f.running }), adminTokenSha256: f.config.admin.tokenSha256, consoleAssets: '/nonexistent' });
    fleetApp = Fastify();
    await registerConsole(fleetApp, { source: nodeConsoleSource({ node: f.node, ledger: f.ledger, state: f.state, log: f.log, software: 'test', running: f.running, fleet: 'f1' }), adminTokenSha256: f.config.admin.tokenSha256, consoleAssets: '/nonexistent' });
    const d = await f.node.authorize({ ...READ_REQ, args: { path: '/srv/data/c.txt' } });
    assert.equal(d.decision, 'allow', d.message);
    jti = d.claims?.jti as string;
    writText = d.writ as string;
    f.running.register(row({ jti, kind: 'mcp', ...READ_REQ, writ: writText, maxRunSeconds: 60 }));
    f.running.register(row({ jti: 'gone', pid: deadPid() }));
  });
  after(async () => {
    await app.close();
    await fleetApp.close();
    f.cleanup();
  });

  it('GET /console/api/running lists what runs (no writ), and the page is offered', async () => {
    const r = await app.inject({ method: 'GET', url: '/console/api/running' });
    assert.equal(r.statusCode, 200);
    const body = r.json<{ running: { jti: string; kind: string; principal: string; maxRunSeconds: number; secondsLeft: number; ageSeconds: number }[]; terminate: boolean }>();
    assert.deepEqual(body.running.map((x) => x.jti), [jti]);
    assert.equal(body.running[0]?.kind, 'mcp');
    assert.equal(body.running[0]?.principal, A1);
    assert.equal(body.running[0]?.maxRunSeconds, 60);
    assert.ok((body.running[0]?.ageSeconds ?? -1) >= 5);
    assert.equal(body.terminate, true);
    assert.ok(!r.body.includes(writText.split('.')[2] as string), 'the writ is not served');
    assert.ok(!r.body.includes('/srv/data/c.txt') && !r.body.includes('argv'), 'nor the request arguments');
    assert.ok((await app.inject({ method: 'GET', url: '/console/api/about' })).json<{ pages: string[] }>().pages.includes('running'));
  });

  it('POST terminate needs the admin credential and changes nothing without it', async () => {
    const url = `/console/api/running/${jti}/terminate`;
    const none = await app.inject({ method: 'POST', url, payload: {} });
    assert.equal(none.statusCode, 401);
    const wrong = await app.inject({ method: 'POST', url, payload: {}, headers: { authorization: 'Bearer writ_admin_wrong' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(f.state.isRevoked('writ', jti), false);
    const unknown = await app.inject({ method: 'POST', url: '/console/api/running/nope/terminate', payload: {}, headers: { authorization: `Bearer ${f.adminToken}` } });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json<{ error: string }>().error, 'not_running');
  });

  it('a fleet node lists but does not terminate: its authority revokes', async () => {
    assert.equal((await fleetApp.inject({ method: 'GET', url: '/console/api/running' })).json<{ terminate: boolean }>().terminate, false);
    const r = await fleetApp.inject({ method: 'POST', url: `/console/api/running/${jti}/terminate`, payload: {}, headers: { authorization: `Bearer ${f.adminToken}` } });
    assert.equal(r.statusCode, 404);
    assert.match(r.json<{ message: string }>().message, /signed by the fleet's authority/);
    assert.equal(f.state.isRevoked('writ', jti), false);
  });

  it('POST terminate with the admin credential revokes the writ, recorded, and returns its ledger index', async () => {
    const r = await app.inject({ method: 'POST', url: `/console/api/running/${jti}/terminate`, payload: { reason: 'stuck' }, headers: { authorization: `Bearer ${f.adminToken}` } });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json<{ terminated: boolean; jti: string; ledgerIndex: number }>();
    assert.equal(body.terminated, true);
    assert.equal(body.jti, jti);
    const e = f.ledger.entries(body.ledgerIndex, 1)[0];
    assert.equal(e?.type, 'revocation');
    const leaf = leafObject(e.leaf);
    assert.equal(leaf.value, jti);
    assert.equal(leaf.reason, 'terminated by console-admin: stuck');
    assert.equal(leaf.by, 'console-admin');
    await assert.rejects(f.node.verify(writText, { audience: READ, args: { path: '/srv/data/c.txt' }, consume: false }), (err: unknown) => (err as { code?: string }).code === 'writ_revoked');
  });
});

/**
 * Issue 10, point 1: TLS client certificates as caller credentials (src/server/tls-auth.ts),
 * over real HTTPS with certificates made by the openssl CLI. A certificate registered by
 * fingerprint (`writ caller add --cert`) or SPIFFE ID (`--spiffe-id`) and issued by the
 * node's --client-ca authenticates its caller; a certificate from another CA (self-signed, or
 * a rogue CA of the same name), a CA-valid one nobody registered or whose caller was removed,
 * and no certificate at all are recorded 401s; a certificate caller naming a principal
 * outside its patterns is a recorded 403.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readTlsOptions } from '../../src/cli/tls-options.ts';
import { CallerStore } from '../../src/node/callers.ts';
import { buildApp } from '../../src/server/app.ts';
import { homeCallerAccess } from '../../src/server/caller-access.ts';
import { certificateSha256 } from '../../src/server/tls-auth.ts';
import { sha256Hex } from '../../src/util.ts';
import { CLI, fixture, tempDir, type Fixture } from '../helpers.ts';
import { json, ok, writ } from '../cli-fixture.ts';
import { AUD, leafAt, READ } from '../server-fixture.ts';

const TD = 'spiffe://test.example';
const dir = tempDir('writ-mtls-');
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function selfSigned(name: string, cn: string, ext: string[] = []): void {
  openssl('req', '-x509', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`, ...ext.flatMap((e) => ['-addext', e]));
}

/** A certificate for `name`, issued by the CA in <ca>.pem/<ca>.key, with these extensions. */
function issue(name: string, ca: string, ext: string): void {
  writeFileSync(file(`${name}.ext`), `basicConstraints=CA:FALSE\n${ext}\n`);
  openssl('req', '-new', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}
const client = (name: string, ca: string, ...uris: string[]) => issue(name, ca, `extendedKeyUsage=clientAuth\nsubjectAltName=${uris.map((u) => `URI:${u}`).join(',')}`);

before(() => {
  selfSigned('ca', 'writ-test-ca');
  // another CA with the same name: a certificate it issues must not pass for one of ours
  selfSigned('rogue-ca', 'writ-test-ca');
  issue('server', 'ca', 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost');
  client('a1', 'ca', `${TD}/agent/a1`);
  client('ep', 'ca', `${TD}/ep`);
  client('ep-reissued', 'ca', `${TD}/ep`);
  client('stranger', 'ca', `${TD}/stranger`);
  client('two-uris', 'ca', `${TD}/ep`, `${TD}/other`);
  client('temp', 'ca', `${TD}/temp`);
  client('rogue-ep', 'rogue-ca', `${TD}/ep`);
  selfSigned('self', 'a1', [`subjectAltName=URI:${TD}/agent/a1`, 'extendedKeyUsage=clientAuth']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, unknown>;
}

/** POST over HTTPS, a new connection each time (no session or keep-alive shared between identities). */
function post(url: string, path: string, body: object, o: { cert?: string; authorization?: string } = {}): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname, port: u.port, path, method: 'POST', agent: false, ca: readFileSync(file('ca.pem')),
        ...(o.cert !== undefined && { cert: readFileSync(file(`${o.cert}.pem`)), key: readFileSync(file(`${o.cert}.key`)) }),
        headers: { 'content-type': 'application/json', ...(o.authorization !== undefined && { authorization: o.authorization }) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const tls = () => readTlsOptions({ tlsCert: file('server.pem'), tlsKey: file('server.key'), clientCa: file('ca.pem') });
const read = (path: string) => ({ ...READ, args: { path } });

describe('callers: TLS client certificates', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let url: string;
  let store: CallerStore;
  before(async () => {
    f = await fixture();
    store = new CallerStore(f.db);
    store.addCertificate('agent-a1', { roles: ['authorize'], principals: ['Agent::"a1"'], sha256: certificateSha256(readFileSync(file('a1.pem'))) });
    store.addCertificate('ep', { roles: ['verify'], principals: [], spiffeId: `${TD}/ep` });
    store.addCertificate('temp', { roles: ['authorize'], principals: ['*'], spiffeId: `${TD}/temp` });
    const https = tls();
    assert.ok(https);
    app = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, callers: homeCallerAccess(f.db), https });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });
  const last = () => leafAt(f, f.ledger.size() - 1).result;

  async function refused(status: 401 | 403, o: { cert?: string; authorization?: string }, why: string, expected: RegExp, body: object = read('/srv/r.txt')): Promise<void> {
    const size = f.ledger.size();
    const r = await post(url, '/v1/authorize', body, o);
    assert.equal(r.status, status, `${why}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(r.body.reasons, [status === 401 ? 'caller_unauthenticated' : 'caller_not_permitted'], why);
    assert.equal(r.body.writ, undefined);
    assert.match(String(r.body.errors), expected, why);
    assert.equal(f.ledger.size(), size + 1, `${why}: recorded`);
    assert.equal(last()?.decision, 'deny');
  }

  it('a registered certificate from the client CA is its caller: allowed, and the writ verified by a SPIFFE-ID caller (also with a reissued certificate)', async () => {
    const size = f.ledger.size();
    const r = await post(url, '/v1/authorize', read('/srv/data/m.txt'), { cert: 'a1' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.decision, 'allow');
    assert.equal(f.ledger.size(), size + 1);
    assert.equal(last()?.decision, 'allow');
    const writ = String(r.body.writ);
    // the agent's certificate does not have the verify role
    const asAgent = await post(url, '/v1/verify', { writ, audience: AUD, args: { path: '/srv/data/m.txt' } }, { cert: 'a1' });
    assert.equal(asAgent.status, 403);
    assert.equal(asAgent.body.reason, 'caller_not_permitted');
    const v = await post(url, '/v1/verify', { writ, audience: AUD, args: { path: '/srv/data/m.txt' } }, { cert: 'ep' });
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.valid, true);
    // verify consumed that writ: a fresh one for the reissued certificate
    const second = String((await post(url, '/v1/authorize', read('/srv/data/m.txt'), { cert: 'a1' })).body.writ);
    const again = await post(url, '/v1/verify', { writ: second, audience: AUD, args: { path: '/srv/data/m.txt' } }, { cert: 'ep-reissued' });
    assert.equal(again.status, 200, `a SPIFFE ID names any CA-issued certificate that carries it: ${JSON.stringify(again.body)}`);
  });

  it('a certificate not from the client CA (self-signed, or a rogue CA of the same name): 401, recorded', async () => {
    await refused(401, { cert: 'self' }, 'self-signed with a registered SPIFFE ID', /not issued by this node's client CA/);
    await refused(401, { cert: 'rogue-ep' }, 'rogue CA', /not issued by this node's client CA/);
    const v = await post(url, '/v1/verify', { writ: 'a.b.c', audience: AUD }, { cert: 'rogue-ep' });
    assert.equal(v.status, 401);
    assert.equal(v.body.reason, 'caller_unauthenticated');
  });

  it('a CA-valid certificate nobody registered, or with two URI SANs: 401, recorded', async () => {
    await refused(401, { cert: 'stranger' }, 'unregistered', /no caller is registered for this client certificate/);
    await refused(401, { cert: 'two-uris' }, 'two URI SANs is no SPIFFE ID', /no caller is registered/);
  });

  it('no certificate and no token: 401, recorded; a token still works over TLS; a token decides even beside an unknown certificate', async () => {
    await refused(401, {}, 'nothing', /a caller credential is required/);
    const { token } = store.add('token-caller', { roles: ['authorize'], principals: ['Agent::"a1"'] });
    assert.equal((await post(url, '/v1/authorize', read('/srv/data/t.txt'), { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await post(url, '/v1/authorize', read('/srv/data/t.txt'), { authorization: `Bearer ${token}`, cert: 'stranger' })).status, 200);
    await refused(401, { authorization: 'Bearer writ_' + 'A'.repeat(43), cert: 'a1' }, 'a wrong token is not rescued by a good certificate', /unknown, altered or removed/);
  });

  it('a certificate caller naming a principal outside its patterns: 403, recorded', async () => {
    await refused(403, { cert: 'a1' }, 'another agent', /caller agent-a1 may not assert principal Agent::"a2"/, { ...read('/srv/r.txt'), principal: 'Agent::"a2"' });
    await refused(403, { cert: 'ep' }, 'a verify-only caller', /does not have the authorize role/);
  });

  it('a removed certificate caller is refused at the next request', async () => {
    assert.equal((await post(url, '/v1/authorize', read('/srv/data/x.txt'), { cert: 'temp' })).status, 200);
    assert.ok(store.remove('temp'));
    await refused(401, { cert: 'temp' }, 'removed', /no caller is registered/);
  });
});

describe('callers: certificate registration', () => {
  it('pins the DER SHA-256 or a SPIFFE ID; refuses malformed ones and a second caller for the same certificate; token lookups never see such rows', () => {
    const s = new CallerStore(new DatabaseSync(':memory:'));
    const sha256 = certificateSha256(readFileSync(file('a1.pem')));
    assert.equal(sha256, execFileSync('/usr/bin/openssl', ['x509', '-in', file('a1.pem'), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().split('=')[1]?.replaceAll(':', '').toLowerCase());
    const c = s.addCertificate('a', { roles: ['authorize'], principals: ['Agent::"a1"'], sha256 });
    assert.deepEqual(c.certificate, { sha256, spiffeId: null });
    assert.throws(() => s.addCertificate('b', { roles: ['verify'], principals: [], sha256 }), /has this certificate/);
    assert.throws(() => s.addCertificate('b', { roles: ['verify'], principals: [] }), /needs --cert/);
    assert.throws(() => s.addCertificate('b', { roles: ['verify'], principals: [], sha256: 'abc' }), /64 hex/);
    for (const id of ['spiffe://Test.example/x', 'spiffe://test.example', 'spiffe://test.example/', 'https://test.example/x', 'spiffe://test.example/x?y', 'spiffe://test.example/a//b']) {
      assert.throws(() => s.addCertificate('b', { roles: ['verify'], principals: [], spiffeId: id }), /is not spiffe:/, id);
    }
    assert.equal(s.authenticate(`Bearer writ_${'A'.repeat(43)}`), null);
    assert.deepEqual(s.certificateCallers().map((x) => x.name), ['a']);
    assert.equal(s.list()[0]?.certificate?.sha256, sha256);
  });

  it('a callers table from before certificates gains the columns; its tokens still work', () => {
    const db = new DatabaseSync(':memory:');
    db.exec(`CREATE TABLE callers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
      roles TEXT NOT NULL, principals TEXT NOT NULL, created TEXT NOT NULL, revoked TEXT, audiences TEXT NOT NULL DEFAULT '[]')`);
    const token = `writ_${'B'.repeat(43)}`;
    db.prepare("INSERT INTO callers (name, token_sha256, roles, principals, created) VALUES ('old', ?, '[\"verify\"]', '[]', '2026-01-01T00:00:00.000Z')").run(sha256Hex(token));
    const s = new CallerStore(db);
    assert.equal(s.authenticate(`Bearer ${token}`)?.name, 'old');
    assert.equal(s.authenticate(`Bearer ${token}`)?.certificate, undefined);
    s.addCertificate('new', { roles: ['verify'], principals: [], spiffeId: `${TD}/ep` });
    assert.deepEqual(s.list().map((c) => [c.name, c.certificate?.spiffeId ?? null]), [['old', null], ['new', `${TD}/ep`]]);
  });
});

describe('callers: writ up --tls-cert --tls-key --client-ca', () => {
  it('serves HTTPS and authenticates a certificate registered with writ caller add --cert, until it is removed', async () => {
    const f = await fixture();
    f.close();
    const home = f.home;
    const child = spawn(process.execPath, [CLI, 'up', '--home', home, '--port', '0', '--quiet', '--tls-cert', file('server.pem'), '--tls-key', file('server.key'), '--client-ca', file('ca.pem')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    try {
      const added = ok(writ(['caller', 'add', 'agent-a1', '--home', home, '--cert', file('a1.pem'), '--principals', 'Agent::"a1"']));
      assert.doesNotMatch(added.stdout, /writ_/, 'no token is issued');
      assert.match(added.stdout, /certificate sha256:[0-9a-f]{64}/);
      ok(writ(['caller', 'add', 'ep', '--home', home, '--spiffe-id', `${TD}/ep`, '--role', 'verify']));
      const listed = json<{ name: string; credential: string }[]>(ok(writ(['caller', 'list', '--home', home, '--json'])));
      assert.deepEqual(listed.map((c) => [c.name, c.credential]), [['agent-a1', 'certificate'], ['ep', 'certificate']]);
      assert.match(ok(writ(['caller', 'list', '--home', home])).stdout, new RegExp(`^ep {2}certificate ${TD}/ep {2}verify`, 'm'));
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`writ up did not start: ${err}`)), 30_000);
        child.stderr?.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          const m = /listening on (https:\/\/\S+)/.exec(err);
          if (m?.[1]) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
      });
      const r = await post(url, '/v1/authorize', read('/srv/data/up.txt'), { cert: 'a1' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const v = await post(url, '/v1/verify', { writ: String(r.body.writ), audience: AUD, args: { path: '/srv/data/up.txt' } }, { cert: 'ep' });
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.equal((await post(url, '/v1/authorize', read('/srv/data/up.txt'))).status, 401, 'no certificate');
      assert.equal((await post(url, '/v1/authorize', read('/srv/data/up.txt'), { cert: 'self' })).status, 401, 'not from the CA');
      ok(writ(['caller', 'remove', 'agent-a1', '--home', home]));
      const removed = await post(url, '/v1/authorize', read('/srv/data/up.txt'), { cert: 'a1' });
      assert.equal(removed.status, 401, 'removed in the running node');
      assert.deepEqual(removed.body.reasons, ['caller_unauthenticated']);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses --client-ca without --tls-cert, a key without its certificate, and a key that does not fit it', () => {
    const home = tempDir('writ-mtls-flags-');
    try {
      ok(writ(['init', '--home', home]));
      for (const [args, message] of [
        [['--client-ca', file('ca.pem')], /--client-ca needs --tls-cert/],
        [['--tls-key', file('server.key')], /go together/],
        [['--tls-cert', file('server.pem'), '--tls-key', file('a1.key')], /--tls-cert\/--tls-key\/--client-ca:/],
      ] as const) {
        const r = writ(['up', '--home', home, '--port', '0', ...args]);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, message);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

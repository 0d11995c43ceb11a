/**
 * Issue 10, point 5, in a fleet (real `writ authority` and `writ node` processes on the real
 * NATS JetStream): the authority signs the revocation list and pushes it in the fleet's
 * `revocation_list` bucket; every node relays the newest at GET /v1/revocations. An executor
 * polling any node, verifying offline with `writ/verify`, sees a fleet-wide revocation. A list
 * put in the bucket by someone else — signed by another key, or an older list of the authority
 * replayed — changes nothing at the nodes. An executor that verified a writ itself reports its
 * outcome to a node, and the writ is then spent at every node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newKeyPair } from '../../src/authority/keys.ts';
import { readConfig } from '../../src/home/config.ts';
import { authoritySigningKeys } from '../../src/home/open.ts';
import { signRevocationList } from '../../src/node/revocation-list.ts';
import { REVOCATION_LIST_KEY } from '../../src/sync/nats/connection.ts';
import { memoryJtiStore, reportOutcome, RevocationListPoller, verifyRevocationList, verifyWrit, WritVerificationError } from '../../src/writ/verify.ts';
import { allowedRequest, callerHeaders, decodeClaims, READ, TestFleet, waitFor, type FleetNodeProc } from '../fleet-harness.ts';

describe('fleet: the signed revocation list, relayed by every node, for executors that verify offline', { timeout: 180_000 }, () => {
  let f: TestFleet;
  let n1: FleetNodeProc;
  let n2: FleetNodeProc;
  before(async () => {
    f = await TestFleet.start({ nodes: 2 });
    [n1, n2] = f.nodes as [FleetNodeProc, FleetNodeProc];
  });
  after(async () => {
    await f?.close();
  });

  const authorityKeys = () => ({ keys: readConfig(f.authHome).authority.keys });
  const fetchList = async (n: FleetNodeProc, etag?: string) => {
    const res = await fetch(`${n.url}/v1/revocations`, { headers: etag === undefined ? {} : { 'if-none-match': etag } });
    return { status: res.status, etag: res.headers.get('etag'), type: res.headers.get('content-type'), body: await res.text() };
  };
  const offline = async (writ: string, args: object, list: () => ReturnType<RevocationListPoller['current']>) => {
    const jwks = (await (await fetch(`${n1.url}/.well-known/jwks.json`)).json()) as { keys: [] };
    try {
      await verifyWrit(writ, { keys: jwks, audience: READ, args, consume: memoryJtiStore(), revocationList: list });
      return 'valid';
    } catch (err) {
      if (err instanceof WritVerificationError) return err.code;
      throw err;
    }
  };

  it('both nodes serve the list the authority signed (iss authority:<fleet>, verified with the authority keys), with its embedded ETag and 304', async () => {
    const a = await waitFor('n1 serves a list', async () => ((await fetchList(n1)).status === 200 ? fetchList(n1) : undefined));
    assert.equal(a.type, 'application/jwt');
    const list = await verifyRevocationList(a.body, { keys: authorityKeys(), issuer: `authority:${f.name}` });
    assert.equal(a.etag, list.etag);
    assert.equal((await fetchList(n1, list.etag)).status, 304);
    // the node's own writ key does not sign lists in a fleet: only the authority's does
    const nodeKeys = (await (await fetch(`${n1.url}/.well-known/jwks.json`)).json()) as { keys: [] };
    await assert.rejects(verifyRevocationList(a.body, { keys: nodeKeys }), (e: unknown) => e instanceof WritVerificationError && e.code === 'stale_policy');
    const b = await waitFor('n2 serves the same list', async () => {
      const r = await fetchList(n2);
      return r.status === 200 && r.etag === a.etag ? r : undefined;
    });
    assert.equal(b.body, a.body);
  });

  it('a writ revoked fleet-wide: an executor polling n2 refuses it offline (writ_revoked), a list at the same seq but older iat is never taken back', async () => {
    const req = allowedRequest(11);
    const d = await f.authorize(n1, req);
    assert.equal(d.body.decision, 'allow');
    const writ = d.body.writ as string;
    const poller = new RevocationListPoller({ url: `${n2.url}/v1/revocations`, keys: authorityKeys(), issuer: `authority:${f.name}` });
    const before = await poller.refresh();
    assert.equal(await offline(writ, req.args ?? {}, poller.current), 'valid');
    const jti = decodeClaims(writ).jti;
    await f.revoke('writ', jti);
    const after = await waitFor('the list at n2 names the writ', async () => {
      const l = await poller.refresh();
      return l.has('writ', jti) ? l : undefined;
    }, 10_000, 50);
    assert.ok(after.claims.seq > before.claims.seq, 'a new version');
    assert.equal(await offline(writ, req.args ?? {}, poller.current), 'writ_revoked');
    await assert.rejects(poller.offer(before.jws), /older than the held version/);
    assert.equal(poller.current()?.etag, after.etag, 'the newer list is still held');
  });

  it('a list put in the bucket signed by another key, or an older authority list replayed, is not relayed', async () => {
    const held = await waitFor('a current list', async () => {
      const r = await fetchList(n1);
      return r.status === 200 ? await verifyRevocationList(r.body, { keys: authorityKeys() }) : undefined;
    });
    const now = Math.floor(Date.now() / 1000);
    const [authority] = await authoritySigningKeys(f.authHome, readConfig(f.authHome));
    assert.ok(authority);
    // an attacker with write access to the bucket: a list of its own (under the authority's kid) that revokes nothing, at a higher version
    const mallory = await newKeyPair();
    const forged = await signRevocationList({ v: 1, iss: `authority:${f.name}`, seq: held.claims.seq + 100, iat: now, exp: now + 60, entries: [] }, { kid: authority.kid, key: mallory.privateKey });
    // each node logs a list it refuses: that line is the witness that it processed the put
    const refusals = (n: FleetNodeProc) => n.output.split('\n').filter((l) => l.startsWith('writ node: revocation list ')).length;
    const put = async (jws: string) => {
      const seen = new Map(f.nodes.map((n) => [n, refusals(n)]));
      await f.fleet.kv.revocation_list.put(REVOCATION_LIST_KEY, jws);
      // refused (logged), or else taken (served, which fails below); each before the next put replaces it
      for (const n of f.nodes) await waitFor(`${n.id} to process the put`, async () => refusals(n) > (seen.get(n) ?? 0) || (await fetchList(n)).body === jws, 10_000, 50);
    };
    await put(forged);
    // the authority's own key, but an older version: a rollback of the list
    const old = await signRevocationList({ v: 1, iss: `authority:${f.name}`, seq: Math.max(0, held.claims.seq - 1), iat: now, exp: now + 60, entries: [] }, authority);
    await put(old);
    for (const n of f.nodes) {
      const r = await fetchList(n);
      assert.equal(r.status, 200);
      const l = await verifyRevocationList(r.body, { keys: authorityKeys() });
      assert.ok(l.claims.seq >= held.claims.seq, `${n.id} kept version ${held.claims.seq} or newer, serves ${l.claims.seq}`);
      assert.notEqual(r.body, forged);
      assert.notEqual(r.body, old);
    }
  });

  it('an executor reports the outcome of a writ it verified itself at n1: recorded with reportedBy, and the writ is spent at n2 too', async () => {
    const token = (await f.cliOk(['caller', 'add', 'offline-ep', '--home', n1.home, '--role', 'verify', '--audiences', READ])).stdout.trim();
    const req = allowedRequest(12);
    const d = await f.authorize(n1, req);
    const writ = d.body.writ as string;
    const poller = new RevocationListPoller({ url: `${n1.url}/v1/revocations`, keys: authorityKeys() });
    await poller.refresh();
    assert.equal(await offline(writ, req.args ?? {}, poller.current), 'valid');
    const r = await reportOutcome({ url: n1.url, token, writ, status: 'ok', exitCode: 0, durationMs: 4 });
    assert.equal(r.jti, decodeClaims(writ).jti);
    // spent fleet-wide: the other node refuses to let an enforcement point use it now
    const again = await fetch(`${n2.url}/v1/verify`, { method: 'POST', headers: callerHeaders(n2), body: JSON.stringify({ writ, audience: READ, args: req.args, consume: true }) });
    assert.equal(again.status, 403);
    assert.equal(((await again.json()) as { reason: string }).reason, 'writ_replayed');
    await assert.rejects(reportOutcome({ url: n1.url, token, writ, status: 'ok', durationMs: 4 }), (e: unknown) => (e as { code?: string }).code === 'writ_already_used');
  });
});

/**
 * Node certificates over time, as every fleet node applies them: a writ verifies only
 * while its issuing node's certificate is valid, a rotated certificate retires the old
 * key, and an older certificate put again does not bring that key back. Real `writ node`
 * processes on the real NATS.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueNodeCertificate, newKeyPair } from '../src/authority/keys.ts';
import { readConfig } from '../src/home/config.ts';
import { authoritySigningKeys } from '../src/home/open.ts';
import { kvKey } from '../src/sync/nats/connection.ts';
import { allowedRequest, NATS_URL, Proc, READ, sleep, TestFleet, waitFor, type FleetNodeProc } from './fleet-harness.ts';

describe('fleet: node certificates over time', { timeout: 120_000 }, () => {
  let f: TestFleet;
  let n1: FleetNodeProc;
  const extra: Proc[] = [];
  let rotatedKid = '';

  before(async () => {
    f = await TestFleet.start({ nodes: 1 });
    n1 = f.node('n1');
  });
  after(async () => {
    for (const p of extra) await p.kill();
    await f?.close();
  });

  /** A node certified for `valid`, started, ready; returns it and a writ it issued. */
  async function startNode(id: string, valid: string): Promise<{ proc: FleetNodeProc; writ: string; args: Record<string, unknown> }> {
    const home = join(f.dir, id);
    await f.cliOk(['fleet', 'add-node', '--home', f.authHome, '--node-id', id, '--out', home, '--valid', valid]);
    const callerToken = (await f.cliOk(['caller', 'add', 'test-harness', '--home', home, '--role', 'both', '--principals', '*'])).stdout.trim();
    const proc = Object.assign(new Proc(id, () => ['node', '--home', home, '--fleet', f.name, '--nats', NATS_URL, '--port', '0'], /listening on (http:\/\/\S+)/, f.env), { id, home, proxy: null, callerToken });
    extra.push(proc);
    await proc.start();
    await f.waitReady(1, [proc]);
    const req = allowedRequest(7);
    const d = await f.authorize(proc, req);
    assert.equal(d.body.decision, 'allow', JSON.stringify(d.body));
    return { proc, writ: d.body.writ as string, args: req.args ?? {} };
  }

  it('a writ stops verifying at the other nodes once its issuer’s certificate expires', async () => {
    // long enough for the node to start on a loaded machine (it refuses to start with an expired certificate)
    const { writ, args } = await startNode('n8', '15s');
    const v = await f.verify(n1, writ, READ, args);
    assert.equal(v.body.valid, true, JSON.stringify(v.body));
    await waitFor('n8’s certificate expired at n1', async () => (await f.verify(n1, writ, READ, args)).body.reason === 'writ_unknown_key', 25_000, 200);
  });

  it('a rotated certificate retires the old key; the older certificate put again does not bring it back', async () => {
    const { writ, args } = await startNode('n9', '1h');
    assert.equal((await f.verify(n1, writ, READ, args)).body.valid, true);
    const old = (await f.fleet.kv.nodes.get(kvKey('n9')))?.string() ?? '';
    assert.ok(old);
    await sleep(1100); // a later iat
    const config = readConfig(f.authHome);
    const [authority] = await authoritySigningKeys(f.authHome, config);
    const rotated = await newKeyPair();
    rotatedKid = rotated.kid;
    await f.fleet.kv.nodes.put(kvKey('n9'), await issueNodeCertificate({ id: 'n9', domain: config.domain, jwk: rotated.publicJwk }, authority!, 3600));
    await waitFor('the old key retired at n1', async () => (await f.verify(n1, writ, READ, args)).body.reason === 'writ_unknown_key', 5000, 100);
    // n1 logs each certificate it refuses: the witness that it processed the put
    const refusals = () => n1.output.split('\n').filter((l) => /^writ node: nodes .*certificate of n9 refused/.test(l)).length;
    let seen = refusals();
    await f.fleet.kv.nodes.put(kvKey('n9'), old); // replayed
    const processed = async () => refusals() > seen || (await f.verify(n1, writ, READ, args)).body.valid === true; // refused, or taken (fails below)
    await waitFor('n1 to process the replayed certificate', processed, 5000);
    assert.equal((await f.verify(n1, writ, READ, args)).body.reason, 'writ_unknown_key', 'the replayed older certificate is not taken');
    // nor by a node that starts after the replay (it reads every kept revision, not only the last)
    await n1.restart();
    await f.waitReady(1, [n1]);
    assert.equal((await f.verify(n1, writ, READ, args)).body.reason, 'writ_unknown_key', 'a restarted node does not take it either');
    // a certificate filed under another node's key is not taken either
    seen = refusals();
    await f.fleet.kv.nodes.put(kvKey('n7'), old);
    await waitFor('n1 to process the misfiled certificate', processed, 5000);
    assert.equal((await f.verify(n1, writ, READ, args)).body.reason, 'writ_unknown_key');
  });

  it('writ fleet keys prints the keys to pin: valid, newest per node, not isolated', async () => {
    const keys = async () => {
      const r = await f.cliOk(['fleet', 'keys', '--home', f.authHome, '--fleet', f.name, '--nats', NATS_URL]);
      return (JSON.parse(r.stdout) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();
    };
    const n1Kid = readConfig(n1.home).node.kid;
    assert.deepEqual(await keys(), [n1Kid, rotatedKid].sort(), 'n1, and n9 under its rotated key; n8 expired');
    await f.cliOk(['isolate', 'n1', '--home', f.authHome, '--fleet', f.name, '--nats', NATS_URL]);
    assert.deepEqual(await keys(), [rotatedKid]);
  });
});

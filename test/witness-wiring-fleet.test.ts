/**
 * `writ sequencer --witness KEY@URL` in a real fleet (issue 18, point 2): a node's decisions
 * go over NATS to a spawned sequencer, which signs the fleet log's checkpoints in PostgreSQL
 * and submits them to a real witness (in this process). Its GET /v1/log/checkpoint and the
 * tiles' /checkpoint carry the witness's cosignature, verifying with the witness key; a
 * restarted sequencer serves it from PostgreSQL with the witness down, and the log keeps
 * growing meanwhile. `writ authority --pg`, which asks no witness, serves the same cosigned
 * checkpoint from PostgreSQL, and its console's proof files carry it (verified with
 * @writ/verify/proof's verifyProof requiring the witness).
 * NATS and PostgreSQL at 127.0.0.1 (scripts/with-test-services.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts';
import { generateCosignerKey, newCosigner, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { newVerifier } from '../src/tlog/note.ts';
import { verifyProof } from '../src/tlog/verify-proof.ts';
import { buildWitnessApp } from '../src/witness/server.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { allowedRequest, NATS_URL, PG_URL, Proc, runCli, TestFleet } from './fleet-harness.ts';
import { scratchDir } from './cli-fixture.ts';

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('writ sequencer --witness, in a fleet', { timeout: 180_000 }, () => {
  let f: TestFleet | undefined;
  let seq: Proc | undefined;
  let app: ReturnType<typeof buildWitnessApp> | undefined;
  const dir = scratchDir('writ-witness-fleet-');
  const wkey = generateCosignerKey('witness.example/fleet');
  const state = new WitnessState(join(dir, 'w.db'));
  before(async () => {
    f = await TestFleet.start({ nodes: 1, authorityPg: true });
  });
  after(async () => {
    await seq?.kill();
    await f?.close();
    await app?.close();
    state.close();
  });

  it('the sequencer serves the cosigned checkpoint, and after a restart the stored one with the witness down', async () => {
    const fleet = f as TestFleet;
    const sequencer = (extra: string[]) => new Proc('sequencer', () => ['sequencer', '--home', fleet.authHome, '--fleet', fleet.name, '--nats', NATS_URL, '--pg', PG_URL, '--port', '0', ...extra], /listening on (http:\/\/[^\s;]+)/, fleet.env);
    // its first start makes the fleet log's key, which the witness must know
    seq = sequencer([]);
    await seq.start();
    await seq.kill('SIGTERM');
    const keys = await runCli(['fleet', 'keys', '--log', '--home', fleet.authHome, '--fleet', fleet.name], fleet.env);
    assert.equal(keys.code, 0, keys.stderr);
    const logKey = keys.stdout.trim();
    const origin = logKey.split('+')[0] as string;
    assert.match(origin, /^writ\.fleet\//);
    const logVerifier = newVerifier(logKey);
    app = buildWitnessApp(new Witness({ cosigner: newCosigner(wkey.signerKey), logs: [{ origin, verifierKeys: [logKey] }], state }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const args = ['--witness', `${wkey.verifierKey}@${url}`];

    seq = sequencer(args);
    await seq.start();
    await until('the witnesses line', async () => (/witnesses: witness\.example\/fleet at http:\/\/127\.0\.0\.1:\d+/.test((seq as Proc).output) ? true : undefined), 5_000);
    const n1 = fleet.node('n1');
    for (let i = 0; i < 5; i++) assert.equal((await fleet.authorize(n1, allowedRequest(i))).body.decision, 'allow');
    const size = await fleet.waitSequenced();
    const cosigned = (note: string) => verifyCosignatures(note, logVerifier, [wkey.verifierKey], 1).ok;
    const get = async (base: string, path = '/v1/log/checkpoint') => {
      const res = await fetch(`${base}${path}`);
      return res.status === 200 ? res.text() : '';
    };
    const base = seq.url;
    const note = await until('the cosigned checkpoint of the sequenced decisions', async () => {
      const n = await get(base);
      return n !== '' && Number(n.split('\n')[1]) >= size && cosigned(n) ? n : undefined;
    }, 15_000);
    assert.equal(await get(base, '/checkpoint'), note);
    assert.equal(state.latest(origin)?.size, Number(note.split('\n')[1]));

    // writ authority --pg: the same cosigned checkpoint, from the rows the sequencer stored
    const auth = fleet.authority.url;
    assert.equal(await until('the authority serving the cosigned checkpoint', async () => ((await get(auth)) === note ? true : undefined), 10_000), true);
    assert.equal(await get(auth, '/checkpoint'), note);
    const proof = (await (await fetch(`${auth}/console/api/proof?index=2`)).json()) as { proof: string; entry: string };
    assert.ok(proof.proof.endsWith(note), 'the console proof file carries the cosigned checkpoint');
    const v = await verifyProof(proof.proof, proof.entry, { logKey, witnesses: [wkey.verifierKey], minWitnesses: 1 });
    assert.deepEqual(v.witnesses.map((w) => w.name), ['witness.example/fleet']);

    // restarted, the witness down: the cosignature comes from PostgreSQL
    await seq.kill('SIGTERM');
    await app.close();
    app = undefined;
    seq = sequencer(args);
    await seq.start();
    const again = await get(seq.url);
    assert.equal(again, note, 'the same cosigned note, served without asking');

    // and the log keeps growing with its witness down
    assert.equal((await fleet.authorize(n1, allowedRequest(9))).body.decision, 'allow');
    const grown = await fleet.waitSequenced();
    const t0 = Date.now();
    const next = await until('a checkpoint of the new decision', async () => {
      const n = await get((seq as Proc).url);
      return Number(n.split('\n')[1]) >= grown ? n : undefined;
    }, 10_000);
    assert.ok(Date.now() - t0 < 5_000, 'signed within the checkpoint interval (1 s), whatever the witness');
    assert.equal(cosigned(next), false, 'served with the cosignatures it has: none for it yet');
    await until('the failure logged', async () => (/no cosignature from witness\.example\/fleet for size \d+/.test((seq as Proc).output) ? true : undefined), 10_000);
  });
});

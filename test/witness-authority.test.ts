/**
 * `writ authority --pg` serves the fleet log's checkpoint with the witnesses' cosignatures
 * the sequencer stored beside it in PostgreSQL (src/witness/stored-cosignatures.ts, wired in
 * src/server/authority-app.ts): on GET /v1/log/checkpoint and the tiles' /checkpoint, and in
 * the console's proof files, which then pass a verifier requiring the witness. A stored line
 * that does not verify over that checkpoint with the key it is stored under — an edited row,
 * another checkpoint's cosignature, a line by another key — is not served.
 * PostgreSQL at 127.0.0.1 (scripts/with-test-services.ts); the whole fleet: test/witness-wiring-fleet.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import '../src/ledger/node-crypto.ts';
import { PgLog } from '../src/ledger/pg-log.ts';
import { storeProver } from '../src/ledger/checkpoint-signer.ts';
import { registerLogRoutes } from '../src/server/log-routes.ts';
import { generateCosignerKey, newCosigner, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { verifyProof } from '../src/tlog/verify-proof.ts';
import { formatProofFile } from '../src/tlog/proof-file.ts';
import { logReads } from '../src/ledger/log-store.ts';
import { LogWitnessing } from '../src/witness/log-witnessing.ts';
import { buildWitnessApp } from '../src/witness/server.ts';
import { StoredCosignatures } from '../src/witness/stored-cosignatures.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { scratchDir } from './cli-fixture.ts';
import { scratchPgLog } from './pg-log-fixture.ts';

const dir = scratchDir('writ-witness-authority-');
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

describe('the authority serves the stored cosignatures of the fleet log', { timeout: 60_000 }, () => {
  const ORIGIN = 'writ.fleet/authority-test/default';
  const { pool, schema, key, verifier, signingLog } = scratchPgLog('wauth', ORIGIN, closers);
  const W = [1, 2].map((i) => generateCosignerKey(`witness.example/auth${i}`));

  it('GET /v1/log/checkpoint, /checkpoint and proof files carry them; a stored line that does not verify is dropped', async () => {
    // the sequencer's side: a signing PgLog, two real witnesses, the cosignatures stored with the checkpoint
    const seqLog = signingLog();
    await seqLog.init();
    await seqLog.append(Array.from({ length: 7 }, (_, i) => ({ seq: i + 1, subject: 'e', leaf: new TextEncoder().encode(JSON.stringify({ type: 'decision', v: 1, n: i })) })));
    const urls: string[] = [];
    for (const [i, k] of W.entries()) {
      const state = new WitnessState(join(dir, `w${i}.db`));
      const app = buildWitnessApp(new Witness({ cosigner: newCosigner(k.signerKey), logs: [{ origin: ORIGIN, verifierKeys: [key.verifierKey] }], state }));
      urls.push(await app.listen({ port: 0, host: '127.0.0.1' }));
      closers.push(async () => (await app.close(), state.close()));
    }
    const witnessing = new LogWitnessing(W.map((k, i) => ({ verifierKey: k.verifierKey, url: urls[i] as string })), { store: seqLog });
    const cp = await (seqLog.signer as NonNullable<PgLog['signer']>).sign(seqLog);
    assert.ok(cp !== null);
    await witnessing.submit(cp, storeProver(seqLog, cp.size));
    assert.deepEqual([...(await seqLog.cosignatures(cp.size)).keys()].sort(), W.map((k) => k.verifierKey).sort());

    // the authority's side: read-only, no witness configured, only the stored rows
    const authLog = new PgLog(pool, { schema, origin: ORIGIN, verifier });
    await authLog.init();
    const logs: string[] = [];
    const app = Fastify();
    registerLogRoutes(app, { log: authLog, witnesses: new StoredCosignatures(authLog, { log: (s) => logs.push(s) }) });
    closers.push(() => app.close());
    const get = async (url: string) => (await app.inject({ method: 'GET', url })).body;
    const served = await get('/v1/log/checkpoint');
    assert.equal(await get('/checkpoint'), served);
    assert.ok(served.startsWith(cp.note), 'the log signature first, unchanged');
    const r = verifyCosignatures(served, verifier, W.map((k) => k.verifierKey), 2);
    assert.equal(r.ok, true, served);
    assert.deepEqual(r.witnesses.map((w) => w.name).sort(), ['witness.example/auth1', 'witness.example/auth2']);
    // the same note the sequencer serves
    assert.equal(served.split('\n').length, (await witnessing.cosignedNote(cp)).split('\n').length);

    // a proof file as the authority console makes it (authority-source.ts): it passes K = 2 of the pinned witnesses
    const cosigned = new StoredCosignatures(authLog);
    const proof = formatProofFile({ index: 3, proof: (await logReads.inclusion(authLog, 3, cp.size)).proof, checkpoint: await cosigned.cosignedNote(cp) });
    const v = await verifyProof(proof, (await authLog.entry(3)) as Uint8Array, { logKey: key.verifierKey, witnesses: W.map((k) => k.verifierKey), minWitnesses: 2 });
    assert.equal(v.witnesses.length, 2);

    // an edited row: auth2's signature flipped; and a line by another key appended to auth1's
    const stored = await seqLog.cosignatures(cp.size);
    const k2 = W[1]?.verifierKey as string;
    const line2 = stored.get(k2) as string;
    const raw = Buffer.from(line2.trim().split(' ').at(-1) as string, 'base64');
    raw[40] = (raw[40] as number) ^ 1;
    await seqLog.saveCosignature(cp.size, k2, `\u2014 witness.example/auth2 ${raw.toString('base64')}\n`);
    const stranger = newCosigner(generateCosignerKey('witness.example/stranger').signerKey);
    const k1 = W[0]?.verifierKey as string;
    const text = cp.note.slice(0, cp.note.lastIndexOf('\n\n') + 1);
    await seqLog.saveCosignature(cp.size, k1, (stored.get(k1) as string) + stranger.cosign(text, 1_800_000_000));
    const dropped = await get('/v1/log/checkpoint');
    assert.equal(dropped, cp.note, 'neither row is served');
    assert.equal(logs.filter((l) => /does not verify/.test(l)).length, 2, logs.join('\n'));

    // another checkpoint's cosignature stored under this size: not served either
    await seqLog.saveCosignature(cp.size, k1, stored.get(k1) as string);
    await seqLog.saveCosignature(cp.size, k2, line2);
    assert.equal(verifyCosignatures(await get('/v1/log/checkpoint'), verifier, W.map((k) => k.verifierKey), 2).ok, true, 'restored rows are served again');
    await seqLog.append([{ seq: 8, subject: 'e', leaf: new TextEncoder().encode('{"type":"decision","v":1,"n":7}') }]);
    const cp2 = await (seqLog.signer as NonNullable<PgLog['signer']>).sign(seqLog);
    assert.ok(cp2 !== null && cp2.size === 8);
    await seqLog.saveCosignature(8, k1, stored.get(k1) as string); // size 7's line under size 8
    assert.equal(await get('/v1/log/checkpoint'), cp2.note);
  });
});

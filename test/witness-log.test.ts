/**
 * The log asking for cosignatures (src/witness/log-witnessing.ts, client.ts, the sequencer's
 * and the log routes' hooks): every new checkpoint goes to the configured witnesses in the
 * background; the served checkpoint carries the cosignatures; a witness that is down, or
 * never answers, delays no checkpoint; after a restart the log learns each witness's size
 * from its 409 and gets the latest checkpoint cosigned again; a fork of the log gets no
 * cosignature from a witness that saw the other branch, and the log says so.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { systemClock } from '../src/clock.ts';
import { CheckpointSigner } from '../src/ledger/checkpoint-signer.ts';
import type { EvidenceStream } from '../src/ledger/evidence-stream.ts';
import { MemoryLogStore } from '../src/ledger/memory-log.ts';
import { runSequencer } from '../src/ledger/sequencer.ts';
import { registerLogRoutes } from '../src/server/log-routes.ts';
import { generateCosignerKey, newCosigner, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { proveRecord } from '../src/tlog/merkle.ts';
import { generateKey, newSigner, newVerifier } from '../src/tlog/note.ts';
import { formatProofFile, verifyProofFile } from '../src/tlog/proof-file.ts';
import { parseWitnessEndpoint, WitnessClient, WitnessClientError } from '../src/witness/client.ts';
import { LogWitnessing } from '../src/witness/log-witnessing.ts';
import { buildWitnessApp } from '../src/witness/server.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { scratchDir } from './cli-fixture.ts';

const ORIGIN = 'writ.fleet/test/default';
const logKey = generateKey(ORIGIN);
const verifier = newVerifier(logKey.verifierKey);
const signer = new CheckpointSigner({ origin: ORIGIN, verifier, signer: newSigner(logKey.signerKey) });
const dir = scratchDir('writ-witness-log-');
const idle: EvidenceStream = { publish: async () => 0, connected: () => true, lastSeq: async () => 0, read: () => ({ stop() {} }) };

const WK = [1, 2].map((i) => generateCosignerKey(`witness.example/l${i}`));
const witnessKeys = WK.map((k) => k.verifierKey);
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

async function startWitness(i: number, file = join(dir, `lw${i}-${Math.random()}.db`)): Promise<{ url: string; state: WitnessState }> {
  const state = new WitnessState(file);
  const app = buildWitnessApp(new Witness({ cosigner: newCosigner((WK[i] as { signerKey: string }).signerKey), logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }], state }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  return { url, state };
}

/** A server that accepts connections and never answers. */
async function blackHole(): Promise<string> {
  const s: Server = createServer(() => {});
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

let seq = 0;
async function append(store: MemoryLogStore, n: number, tag: string): Promise<void> {
  const from = store.length;
  await store.append(Array.from({ length: n }, (_, i) => ({ seq: from + i + 1, subject: 'e', leaf: new TextEncoder().encode(JSON.stringify({ type: 'decision', v: 1, tag, n: from + i, k: seq++ })) })));
}

async function until(what: string, f: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const cosigners = (note: string): string[] => verifyCosignatures(note, verifier, witnessKeys, 0).witnesses.map((w) => w.name);

describe('the log asks its witnesses', () => {
  it('sequencer: checkpoints are cosigned in the background; a dead and a silent witness delay nothing; served and proven with cosignatures', async () => {
    const w1 = await startWitness(0);
    const w2 = await startWitness(1);
    const silent = await blackHole();
    const logs: string[] = [];
    const witnessing = new LogWitnessing(
      [
        { url: w1.url, verifierKey: witnessKeys[0] as string },
        { url: 'http://127.0.0.1:9', verifierKey: generateCosignerKey('witness.example/down').verifierKey }, // nothing listens
        { url: silent, verifierKey: generateCosignerKey('witness.example/silent').verifierKey },
        { url: w2.url, verifierKey: witnessKeys[1] as string },
      ],
      { timeoutMs: 1_500, retryMs: 0, log: (s) => logs.push(s) },
    );
    const store = new MemoryLogStore();
    const s = runSequencer({ stream: idle, store, signer, clock: systemClock, log: (x) => logs.push(x), checkpointIntervalMs: 3_600_000, witnesses: witnessing });
    try {
      await append(store, 11, 'a');
      const t0 = performance.now();
      await s.checkpoint();
      assert.ok(performance.now() - t0 < 500, `checkpoint took ${performance.now() - t0} ms: it waited for a witness`);
      const cp = await store.latestCheckpoint();
      assert.equal(cp?.size, 11);
      await until('two cosignatures', () => cosigners(witnessing.cosigned(cp?.note as string)).length === 2);

      // served: GET /v1/log/checkpoint carries the witness lines
      const app = Fastify();
      registerLogRoutes(app, { log: store, witnesses: witnessing });
      closers.push(() => app.close());
      const served = (await app.inject({ url: '/v1/log/checkpoint' })).body;
      assert.ok(served.startsWith(cp?.note as string));
      assert.deepEqual(cosigners(served), ['witness.example/l1', 'witness.example/l2']);
      // an offline proof file from it satisfies 2 of 2
      const file = formatProofFile({ index: 3, proof: proveRecord(11, 3, store.reader), checkpoint: served });
      assert.equal(verifyProofFile(file, store.leafAt(3) as Uint8Array, logKey.verifierKey, { keys: witnessKeys, min: 2 }).ok, true);

      // the log grows: the next checkpoint is cosigned from size 11 with a consistency proof
      await append(store, 6, 'b');
      await s.checkpoint();
      const cp2 = await store.latestCheckpoint();
      assert.equal(cp2?.size, 17);
      await until('cosignatures of 17', () => cosigners(witnessing.cosigned(cp2?.note as string)).length === 2);
      assert.deepEqual(witnessing.status().map((x) => x.knownSize), [17, 0, 0, 17]);
      assert.equal(w1.state.latest(ORIGIN)?.size, 17);
      await until('the silent witness timed out', () => logs.some((l) => l.includes('witness.example/silent')));
      assert.ok(logs.some((l) => l.includes('no cosignature from witness.example/down')), logs.join('\n'));
      assert.ok(!logs.some((l) => l.includes('ANOTHER VIEW')), logs.join('\n'));
    } finally {
      s.stop();
    }
  });

  it('after a restart the log learns the size from the 409 and the latest checkpoint is cosigned again', async () => {
    const w1 = await startWitness(0);
    const store = new MemoryLogStore();
    await append(store, 9, 'r');
    const cp = await signer.sign(store);
    const first = new LogWitnessing([{ url: w1.url, verifierKey: witnessKeys[0] as string }]);
    await first.submit(cp!, async () => []);
    assert.equal(cosigners(first.cosigned(cp!.note)).length, 1);
    const restarted = new LogWitnessing([{ url: w1.url, verifierKey: witnessKeys[0] as string }]);
    assert.equal(restarted.cosigned(cp!.note), cp!.note, 'nothing in memory after a restart');
    await restarted.submit(cp!, async () => []);
    assert.equal(cosigners(restarted.cosigned(cp!.note)).length, 1);
    assert.deepEqual(w1.state.refusals(ORIGIN), [], 'a restarted log is no evidence of anything');
  });

  it('split view: a fork of the log (same origin and key) gets no cosignature, and the log reports it', async () => {
    const w1 = await startWitness(0);
    const honest = new MemoryLogStore();
    const fork = new MemoryLogStore();
    await append(honest, 5, 'x');
    for (let i = 0; i < 5; i++) await fork.append([{ seq: i + 1, subject: 'e', leaf: honest.leafAt(i) as Uint8Array }]);
    await append(honest, 3, 'honest');
    await append(fork, 3, 'evil');
    const endpoint = { url: w1.url, verifierKey: witnessKeys[0] as string };
    const h = new LogWitnessing([endpoint]);
    const hcp = await signer.sign(honest);
    await h.submit(hcp!, async () => []);
    assert.equal(cosigners(h.cosigned(hcp!.note)).length, 1);

    const logs: string[] = [];
    const f = new LogWitnessing([endpoint], { log: (s) => logs.push(s) });
    const fcp = await signer.sign(fork);
    assert.equal(fcp?.size, hcp?.size);
    await f.submit(fcp!, async () => []);
    assert.equal(f.cosigned(fcp!.note), fcp!.note, 'no cosignature for the fork');
    assert.match(logs.join('\n'), /WITNESS SAW ANOTHER VIEW: .*409/);
    assert.deepEqual(w1.state.refusals(ORIGIN).map((r) => r.reason), ['root_mismatch'], 'the witness kept the fork as evidence');
    const forkProof = formatProofFile({ index: 6, proof: proveRecord(8, 6, fork.reader), checkpoint: f.cosigned(fcp!.note) });
    assert.equal(verifyProofFile(forkProof, fork.leafAt(6) as Uint8Array, logKey.verifierKey).ok, true, 'the log key alone accepts the fork');
    assert.equal(verifyProofFile(forkProof, fork.leafAt(6) as Uint8Array, logKey.verifierKey, { keys: [endpoint.verifierKey], min: 1 }).ok, false);
  });

  it('the client refuses a response that is not the pinned witness cosigning this checkpoint', async () => {
    const store = new MemoryLogStore();
    await append(store, 2, 'c');
    const cp = (await signer.sign(store))!;
    const impostor = newCosigner(generateCosignerKey('witness.example/l1').signerKey); // same name, another key
    const text = cp.note.slice(0, cp.note.indexOf('\n\n') + 1);
    const answers = ['', 'hello\n', impostor.cosign(text, 1), newCosigner((WK[0] as { signerKey: string }).signerKey).cosign('other\n1\nAAAA\n', 1)];
    for (const body of answers) {
      const fake = (async () => new Response(body, { status: 200 })) as typeof fetch;
      const c = new WitnessClient({ url: 'http://w.invalid', verifierKey: witnessKeys[0] as string }, { fetch: fake });
      await assert.rejects(c.cosign(cp.note, cp.size, async () => []), (e) => e instanceof WitnessClientError && e.code === 'witness_bad_cosignature', JSON.stringify(body));
      assert.equal(c.knownSize, 0);
    }
    const conflict = (async () => new Response('0\n', { status: 409, headers: { 'content-type': 'text/x.tlog.size' } })) as typeof fetch;
    await assert.rejects(new WitnessClient({ url: 'http://w.invalid', verifierKey: witnessKeys[0] as string }, { fetch: conflict }).cosign(cp.note, cp.size, async () => []), (e) => e instanceof WitnessClientError && e.code === 'witness_conflict');
    const ahead = (async () => new Response('99\n', { status: 409, headers: { 'content-type': 'text/x.tlog.size' } })) as typeof fetch;
    await assert.rejects(new WitnessClient({ url: 'http://w.invalid', verifierKey: witnessKeys[0] as string }, { fetch: ahead }).cosign(cp.note, cp.size, async () => []), (e) => e instanceof WitnessClientError && e.code === 'witness_ahead');
    const forbidden = (async () => new Response('no\n', { status: 403 })) as typeof fetch;
    await assert.rejects(new WitnessClient({ url: 'http://w.invalid', verifierKey: witnessKeys[0] as string }, { fetch: forbidden }).cosign(cp.note, cp.size, async () => []), (e) => e instanceof WitnessClientError && e.code === 'witness_refused' && e.status === 403);
  });

  it('parses witness endpoints KEY@URL', () => {
    const k = witnessKeys[0] as string;
    assert.deepEqual(parseWitnessEndpoint(`${k}@https://w.example/sub/`), { url: 'https://w.example/sub', verifierKey: k });
    assert.throws(() => parseWitnessEndpoint(`${k}`), WitnessClientError);
    assert.throws(() => parseWitnessEndpoint(`${k}@ftp://w.example`), WitnessClientError);
    assert.throws(() => parseWitnessEndpoint(`${logKey.verifierKey}@https://w.example`)); // a log key is not a witness key
  });
});

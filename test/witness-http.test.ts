/**
 * The witness over HTTP (src/witness/server.ts) and `writ witness` (src/cli/witness.ts):
 * POST /add-checkpoint with each status code and its body and content type, whatever the
 * request's content type; then the CLI: init, add-log, key, serve over a real socket, a
 * restart keeping the state, and status.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts';
import { formatCheckpoint } from '../src/tlog/checkpoint.ts';
import { generateCosignerKey, newCosignatureVerifier, newCosigner } from '../src/tlog/cosignature.ts';
import { proveTree, storedHashes, storedHashIndex, treeHash, type HashReader } from '../src/tlog/merkle.ts';
import { generateKey, newSigner, openNote, signNote } from '../src/tlog/note.ts';
import { formatAddCheckpoint } from '../src/witness/request.ts';
import { buildWitnessApp } from '../src/witness/server.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { json, ok, scratchDir, writ } from './cli-fixture.ts';
import { CLI } from './helpers.ts';

const ORIGIN = 'example.com/http-log';
const logKey = generateKey(ORIGIN);
const signer = newSigner(logKey.signerKey);
const wkey = generateCosignerKey('witness.example/http');

/** Leaves 0..n-1 of a deterministic log, with checkpoints and proofs. */
function log() {
  const store = new Map<number, Uint8Array>();
  const reader: HashReader = (ix) => ix.map((i) => store.get(i) as Uint8Array);
  let size = 0;
  return {
    grow(n: number) {
      for (let i = 0; i < n; i++, size++) storedHashes(size, new TextEncoder().encode(`leaf ${size}`), reader).forEach((h, j) => store.set(storedHashIndex(0, size) + j, h));
    },
    checkpoint: () => signNote(formatCheckpoint({ origin: ORIGIN, size, rootHash: treeHash(size, reader) }), [signer]),
    prove: (from: number) => (from === 0 ? [] : proveTree(size, from, reader)),
    get size() {
      return size;
    },
  };
}

describe('POST /add-checkpoint', () => {
  const dir = scratchDir('writ-witness-http-');
  const state = new WitnessState(join(dir, 'w.db'));
  after(() => state.close());
  const witness = new Witness({ cosigner: newCosigner(wkey.signerKey), logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }], state });
  const app = buildWitnessApp(witness, { prefix: '/w' });
  after(() => app.close());
  const l = log();
  const post = (payload: string | Buffer, contentType?: string) =>
    app.inject({ method: 'POST', url: '/w/add-checkpoint', payload, ...(contentType !== undefined && { headers: { 'content-type': contentType } }) });

  it('200 with the cosignature lines, for any or no content type', async () => {
    l.grow(5);
    const r = await post(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: l.checkpoint() }));
    assert.equal(r.statusCode, 200, r.body);
    openNote(l.checkpoint() + r.body, [newCosignatureVerifier(wkey.verifierKey)]);
    l.grow(3);
    const r2 = await post(formatAddCheckpoint({ oldSize: 5, proof: l.prove(5), checkpoint: l.checkpoint() }), 'text/plain');
    assert.equal(r2.statusCode, 200, r2.body);
    const r3 = await post(Buffer.from(formatAddCheckpoint({ oldSize: 8, proof: [], checkpoint: l.checkpoint() })), 'application/octet-stream');
    assert.equal(r3.statusCode, 200, r3.body);
    assert.equal(r3.headers['cache-control'], 'no-store');
  });

  it('409 text/x.tlog.size, 422, 400, 404, 403 as the spec says', async () => {
    l.grow(4);
    const c409 = await post(formatAddCheckpoint({ oldSize: 5, proof: l.prove(5), checkpoint: l.checkpoint() }));
    assert.equal(c409.statusCode, 409);
    assert.equal(c409.headers['content-type'], 'text/x.tlog.size');
    assert.equal(c409.body, '8\n');
    const bad = l.prove(8).map((h, i) => (i === 0 ? new Uint8Array(32) : h));
    assert.equal((await post(formatAddCheckpoint({ oldSize: 8, proof: bad, checkpoint: l.checkpoint() }))).statusCode, 422);
    assert.equal((await post('old 8\n')).statusCode, 400);
    assert.equal((await post(formatAddCheckpoint({ oldSize: 99, proof: [], checkpoint: l.checkpoint() }))).statusCode, 400);
    const other = generateKey('other.example/log');
    const foreign = signNote(formatCheckpoint({ origin: 'other.example/log', size: 0, rootHash: new Uint8Array(32) }), [newSigner(other.signerKey)]);
    assert.equal((await post(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: foreign }))).statusCode, 404);
    const impostor = signNote(formatCheckpoint({ origin: ORIGIN, size: 1, rootHash: new Uint8Array(32) }), [newSigner(generateKey(ORIGIN).signerKey)]);
    assert.equal((await post(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: impostor }))).statusCode, 403);
  });

  it('only POST <prefix>/add-checkpoint; bodies over 64 KiB are 413', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/w/add-checkpoint' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'POST', url: '/add-checkpoint', payload: 'x' })).statusCode, 404);
    assert.equal((await post('old 0\n' + 'A'.repeat(70_000))).statusCode, 413);
    assert.throws(() => buildWitnessApp(witness, { prefix: 'w/' }));
  });
});

describe('writ witness', () => {
  it('init, add-log, key, serve, a restart that keeps the state, status', async () => {
    const dir = join(scratchDir('writ-witness-cli-'), 'w');
    const vkey = ok(writ(['witness', 'init', '--dir', dir, '--name', 'witness.example/cli'])).stdout.trim();
    assert.match(vkey, /^witness\.example\/cli\+[0-9a-f]{8}\+/);
    newCosignatureVerifier(vkey);
    assert.equal(statSync(join(dir, 'witness.key')).mode & 0o777, 0o600);
    assert.notEqual(writ(['witness', 'init', '--dir', dir, '--name', 'again']).status, 0, 'init refuses to replace a key');
    assert.equal(ok(writ(['witness', 'key', '--dir', dir])).stdout.trim(), vkey);
    assert.notEqual(writ(['witness', 'add-log', '--dir', dir, '--key', 'not-a-key']).status, 0);
    ok(writ(['witness', 'add-log', '--dir', dir, '--key', logKey.verifierKey]));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'witness.json'), 'utf8')), { logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }] });

    const l = log();
    l.grow(10);
    const serve = async () => {
      const child = spawn(process.execPath, [CLI, 'witness', 'serve', '--dir', dir, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const url = await new Promise<string>((resolve, reject) => {
        let err = '';
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          err += s;
          const m = /listening on (http:\/\/\S+?)\/add-checkpoint/.exec(err);
          if (m?.[1]) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`witness exited ${code}: ${err}`)));
      });
      const stop = () => new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM')));
      return { url, stop };
    };
    let s = await serve();
    try {
      const r = await fetch(`${s.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: l.checkpoint() }) });
      assert.equal(r.status, 200);
      openNote(l.checkpoint() + (await r.text()), [newCosignatureVerifier(vkey)]);
    } finally {
      await s.stop();
    }
    s = await serve();
    try {
      l.grow(2);
      const stale = await fetch(`${s.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: l.checkpoint() }) });
      assert.equal(stale.status, 409);
      assert.equal(await stale.text(), '10\n');
      const r = await fetch(`${s.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 10, proof: l.prove(10), checkpoint: l.checkpoint() }) });
      assert.equal(r.status, 200);
    } finally {
      await s.stop();
    }
    const st = json<{ logs: { origin: string; size: number }[]; refusals: { status: number }[] }>(ok(writ(['witness', 'status', '--dir', dir])));
    assert.deepEqual(st.logs.map((x) => [x.origin, x.size]), [[ORIGIN, 12]]);
    assert.deepEqual(st.refusals, [], 'a stale old size is not kept');
  });
});

/**
 * Witnesses wired into a running home (issue 18, point 2): a real `writ up --witness
 * KEY@URL` (spawned) and a real witness (its server module, in this process). The served
 * checkpoint (GET /v1/log/checkpoint and the tiles' /checkpoint) carries the witness's
 * cosignature, verifying with the pinned witness key; `writ audit prove` puts the stored
 * cosignature in the proof file, which `verify-proof --witness KEY --min-witnesses 1`
 * accepts; a witness that is down (refusing connections, or never answering) delays no
 * checkpoint; a restarted `writ up` serves the stored cosignature without asking again
 * (the witness is down by then); a witness back up is asked again after its retry delay.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts';
import { generateCosignerKey, newCosigner, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { newVerifier } from '../src/tlog/note.ts';
import { buildWitnessApp } from '../src/witness/server.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { demoHome, ok, scratchDir, writ } from './cli-fixture.ts';
import { CLI } from './helpers.ts';

interface Up {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  stop(): Promise<void>;
}

/** `writ up --home H --port 0 --quiet …extra`, resolved once it listens and said so. */
function up(home: string, extra: string[]): Promise<Up> {
  const env = { ...process.env };
  delete env.WRIT_HOME;
  const child = spawn(process.execPath, [CLI, 'up', '--home', home, '--port', '0', '--quiet', ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writ up did not start: ${stderr}`)), 20_000);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      // the witnesses line is logged between these two
      const m = /listening on (http:\/\/\S+)[^]*\nwrit: console: /.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({
          child,
          url: m[1],
          stderr: () => stderr,
          async stop() {
            if (child.exitCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`writ up exited (${code}) before listening: ${stderr}`));
    });
  });
}

/** The CLI without blocking this process (the witness answering it runs here). */
function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.WRIT_HOME;
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('writ up --witness', { timeout: 120_000 }, () => {
  const dir = scratchDir('writ-witness-wiring-');
  const home = demoHome();
  const wkey = generateCosignerKey('witness.example/wiring');
  const holeKey = generateCosignerKey('witness.example/hole').verifierKey;
  const state = new WitnessState(join(dir, 'w.db'));
  const logKey = ok(writ(['keys', '--log', '--home', home])).stdout.trim();
  const logVerifier = newVerifier(logKey);
  const origin = logKey.split('+')[0] as string;
  const caller = ok(writ(['caller', 'add', 'wiring', '--home', home, '--role', 'both', '--principals', '*'])).stdout.trim();
  const witness = new Witness({ cosigner: newCosigner(wkey.signerKey), logs: [{ origin, verifierKeys: [logKey] }], state });
  let app: ReturnType<typeof buildWitnessApp> | null = null;
  let ups: Up[] = [];
  // a witness that accepts connections and never answers: its requests end only at the client's timeout
  const hole: Server = createServer(() => {});
  after(async () => {
    for (const u of ups) await u.stop();
    await app?.close();
    hole.closeAllConnections();
    await new Promise((r) => hole.close(r));
    state.close();
  });

  const startWitness = async (port = 0): Promise<string> => {
    app = buildWitnessApp(witness);
    return app.listen({ port, host: '127.0.0.1' });
  };
  /** an allowed decision over HTTP; its ledger index */
  const decide = async (base: string, i: number): Promise<number> => {
    const res = await fetch(`${base}/v1/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${caller}` },
      body: JSON.stringify({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: `/srv/wiring-${i}.txt` } }),
    });
    const body = (await res.json()) as { decision: string; ledgerIndex: number };
    assert.equal(body.decision, 'allow', JSON.stringify(body));
    return body.ledgerIndex;
  };
  const checkpoint = async (base: string, path = '/v1/log/checkpoint'): Promise<string> => {
    const res = await fetch(`${base}${path}`);
    assert.equal(res.status, 200);
    return res.text();
  };
  /** the served checkpoint, or '' before the first (404) */
  const latest = async (base: string): Promise<string> => {
    const res = await fetch(`${base}/v1/log/checkpoint`);
    if (res.status === 404) return '';
    assert.equal(res.status, 200);
    return res.text();
  };
  const sizeOf = (note: string): number => Number(note.split('\n')[1]);
  /** the pinned witnesses whose cosignature on `note` verifies (a bad line fails the note: fail closed) */
  const cosigners = (note: string): string[] => verifyCosignatures(note, logVerifier, [wkey.verifierKey, holeKey], 0).witnesses.map((w) => w.name);

  it('serves the cosigned checkpoint, stores it, and a proof file carries it', async () => {
    const url = await startWitness();
    hole.listen(0, '127.0.0.1');
    await new Promise((r) => hole.once('listening', r));
    const holeUrl = `http://127.0.0.1:${(hole.address() as AddressInfo).port}`;
    const witnessArgs = ['--witness', `${wkey.verifierKey}@${url}`, '--witness', `${holeKey}@${holeUrl}`];
    const u = await up(home, witnessArgs);
    ups.push(u);
    assert.match(u.stderr(), /witnesses: witness\.example\/wiring at http:\/\/127\.0\.0\.1:\d+, witness\.example\/hole at /);
    let last = 0;
    for (let i = 0; i < 3; i++) last = await decide(u.url, i);

    const note = await until('a cosigned checkpoint of the 3 decisions', async () => {
      const n = await latest(u.url);
      return n !== '' && sizeOf(n) > last && cosigners(n).length === 1 ? n : undefined;
    }, 10_000);
    assert.deepEqual(cosigners(note), ['witness.example/wiring'], 'the witness that answered, not the one that never does');
    assert.equal(verifyCosignatures(note, logVerifier, [wkey.verifierKey], 1).ok, true);
    assert.equal(state.latest(origin)?.size, sizeOf(note), 'the witness committed the checkpoint it cosigned');
    assert.equal(await checkpoint(u.url, '/checkpoint'), note, 'the tiles\' checkpoint is the same cosigned note');

    // another process of the home proves an entry: the stored cosignature is in the file
    const out = join(dir, 'p.tlog-proof');
    const entry = join(dir, 'e.json');
    const p = await run(['audit', 'prove', '1', '--home', home, '--out', out, '--entry-out', entry]);
    assert.equal(p.status, 0, p.stderr);
    const verify = (...extra: string[]) => run(['audit', 'verify-proof', out, '--entry', entry, '--log-key', logKey, ...extra]);
    const v = await verify('--witness', wkey.verifierKey, '--min-witnesses', '1');
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /ok +witnesses: 1 of 1 pinned witnesses cosigned \(witness\.example\/wiring\)/);
    // the never-answering witness is not counted: requiring it fails
    assert.equal((await verify('--witness', wkey.verifierKey, '--witness', holeKey)).status, 1);
    // asking the witness too: counted, and its line not added twice
    const again = await run(['audit', 'prove', '1', '--home', home, '--out', out, '--witness', `${wkey.verifierKey}@${url}`, '--min-witnesses', '1']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /cosigned by 1 of 1 witnesses/);
    assert.equal(readFileSync(out, 'utf8').split('\n').filter((l) => l.startsWith('\u2014 witness.example/wiring ')).length, 1);
    assert.equal((await verify('--witness', wkey.verifierKey, '--min-witnesses', '1')).status, 0);
  });

  it('after a restart, the stored cosignature is served without asking (the witness is down); a down witness delays no checkpoint', async () => {
    const first = ups[0] as Up;
    await first.stop();
    const witnessUrl = (/witness\.example\/wiring at (http:\/\/\S+),/.exec(first.stderr()) as RegExpExecArray)[1] as string;
    const port = Number(new URL(witnessUrl).port);
    await app?.close();
    app = null;
    const holeUrl = `http://127.0.0.1:${(hole.address() as AddressInfo).port}`;
    const before = state.latest(origin);
    const u = await up(home, ['--witness', `${wkey.verifierKey}@${witnessUrl}`, '--witness', `${holeKey}@${holeUrl}`]);
    ups = [u];
    const served = await checkpoint(u.url);
    assert.equal(sizeOf(served), before?.size, 'the checkpoint the witness cosigned before the restart');
    assert.deepEqual(cosigners(served), ['witness.example/wiring'], 'served at once, from the store: the witness is down');

    // both witnesses down (one refusing connections, one never answering): the log keeps growing
    const t0 = Date.now();
    const index = await decide(u.url, 10);
    assert.ok(index >= sizeOf(served));
    const grown = await until('a checkpoint of the new decision', async () => {
      const n = await checkpoint(u.url);
      return sizeOf(n) > index ? n : undefined;
    }, 5_000);
    const ms = Date.now() - t0;
    assert.ok(ms < 4_000, `the checkpoint came ${ms} ms after the decision (the upkeep signs every second)`);
    assert.deepEqual(cosigners(grown), [], 'served with the cosignatures it has: none yet');
    await until('the refused connection logged', async () => (/no cosignature from witness\.example\/wiring for size \d+: .*127\.0\.0\.1/.test(u.stderr()) ? true : undefined), 5_000);
    // the health of the server meanwhile: requests answered at once
    const h0 = Date.now();
    assert.equal((await fetch(`${u.url}/healthz`)).status, 200);
    assert.ok(Date.now() - h0 < 1_000);

    // the witness back (same port): asked again after its retry delay (10 s), for the latest checkpoint
    await startWitness(port);
    const cosigned = await until('the new checkpoint cosigned once the witness is back', async () => {
      const n = await checkpoint(u.url);
      return cosigners(n).length === 1 ? n : undefined;
    }, 20_000);
    assert.equal(sizeOf(cosigned), sizeOf(grown));
    assert.equal(state.latest(origin)?.size, sizeOf(grown), 'the witness moved on, from the size it had (its 409 taught the log)');
    assert.deepEqual(state.refusals(origin), [], 'a restarted log is no evidence of anything');
  });

  it('refuses a --witness it cannot use (exit 2), before starting', async () => {
    for (const bad of ['nonsense', `${wkey.verifierKey}@ftp://w.example`, `${logKey}@http://127.0.0.1:9`]) {
      const r = await run(['up', '--home', home, '--port', '0', '--quiet', '--witness', bad]);
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /writ up: --witness: /);
    }
    const twice = await run(['up', '--home', home, '--port', '0', '--quiet', '--witness', `${wkey.verifierKey}@http://127.0.0.1:9`, '--witness', `${wkey.verifierKey}@http://127.0.0.1:10`]);
    assert.equal(twice.status, 2);
    assert.match(twice.stderr, /given twice/);
    // the sequencer's option too, before it connects to anything
    const seq = await run(['sequencer', '--home', home, '--nats', 'nats://127.0.0.1:9', '--pg', 'postgres://127.0.0.1:9/x', '--witness', 'nonsense']);
    assert.equal(seq.status, 2, seq.stderr);
    assert.match(seq.stderr, /writ sequencer: --witness: /);
  });
});

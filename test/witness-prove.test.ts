/**
 * Offline proof files with cosignatures: `writ audit prove --witness KEY@URL …` asks the
 * witnesses to cosign the proof's checkpoint and puts the cosignatures in the file, which
 * `writ audit verify-proof --witness KEY --min-witnesses K` then checks with nothing else.
 * A witness that is down is reported; --min-witnesses makes it fatal.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts';
import { generateCosignerKey, newCosigner } from '../src/tlog/cosignature.ts';
import { buildWitnessApp } from '../src/witness/server.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { scratchDir } from './cli-fixture.ts';
import { CLI } from './helpers.ts';

/** The CLI, run without blocking this process (the witness answering it runs here). */
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

describe('writ audit prove --witness', () => {
  const dir = scratchDir('writ-witness-prove-');
  const home = join(dir, 'home');
  const wkey = generateCosignerKey('witness.example/prove');
  const state = new WitnessState(join(dir, 'w.db'));
  let app: ReturnType<typeof buildWitnessApp> | undefined;
  after(async () => {
    await app?.close();
    state.close();
  });

  it('puts the cosignatures in the file; verify-proof checks them offline', async () => {
    assert.equal((await run(['init', '--home', home])).status, 0);
    const logKey = (await run(['keys', '--log', '--home', home])).stdout.trim();
    const origin = logKey.split('+')[0] as string;
    app = buildWitnessApp(new Witness({ cosigner: newCosigner(wkey.signerKey), logs: [{ origin, verifierKeys: [logKey] }], state }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const down = generateCosignerKey('witness.example/down').verifierKey;
    const out = join(dir, 'p.tlog-proof');
    const entry = join(dir, 'e.json');

    const r = await run(['audit', 'prove', '1', '--home', home, '--out', out, '--entry-out', entry, '--witness', `${wkey.verifierKey}@${url}`, '--witness', `${down}@http://127.0.0.1:9`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /cosigned by 1 of 2 witnesses/);
    assert.match(r.stderr, /no cosignature from witness\.example\/down/);
    assert.match(readFileSync(out, 'utf8'), /\n— witness\.example\/prove [A-Za-z0-9+/=]+\n$/);
    assert.equal(state.latest(origin)?.size, 3, 'the witness recorded the checkpoint');

    const verify = (...extra: string[]) => run(['audit', 'verify-proof', out, '--entry', entry, '--log-key', logKey, ...extra]);
    assert.equal((await verify('--witness', wkey.verifierKey)).status, 0);
    const two = await verify('--witness', wkey.verifierKey, '--witness', down);
    assert.equal(two.status, 1);
    assert.match(two.stdout, /FAIL {2}witnesses: only 1 of 2/);
    assert.equal((await verify('--witness', wkey.verifierKey, '--witness', down, '--min-witnesses', '1')).status, 0);

    // the same checkpoint again: the witness cosigns it again (old size = size)
    const again = await run(['audit', 'prove', '1', '--home', home, '--out', out, '--witness', `${wkey.verifierKey}@${url}`, '--min-witnesses', '1']);
    assert.equal(again.status, 0, again.stderr);

    // --min-witnesses not met: an error, and no file
    const out2 = join(dir, 'q.tlog-proof');
    const fail = await run(['audit', 'prove', '1', '--home', home, '--out', out2, '--witness', `${wkey.verifierKey}@${url}`, '--witness', `${down}@http://127.0.0.1:9`, '--min-witnesses', '2']);
    assert.equal(fail.status, 1);
    assert.match(fail.stderr, /only 1 of 2 witnesses cosigned/);
    assert.equal(existsSync(out2), false);
    assert.equal((await run(['audit', 'prove', '1', '--home', home, '--out', out2, '--witness', 'nonsense'])).status, 1);
  });
});

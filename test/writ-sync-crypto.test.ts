/**
 * writ/sync-crypto: in Node, verifying a writ makes no WebCrypto call (each one is a thread-pool
 * round trip); and where the runtime has no node:crypto (a browser), the jose/WebCrypto way
 * gives the same answers — the writ, guard and typed-JWS suites are run again in processes
 * without `process.getBuiltinModule`, and random tamperings of one writ get the same reason
 * code both ways.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { memoryJtiStore, verifyWrit, WritVerificationError } from '../src/writ/verify.ts';
import { SYNC_CRYPTO } from '../src/writ/sync-crypto.ts';
import { mint, opts, useVerifyFixture } from './writ-verify-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'writ-sync-crypto-'));
/** a preload that makes this Node look like a runtime without node:crypto to writ/sync-crypto */
const noBuiltins = join(dir, 'no-builtin-modules.mjs');
writeFileSync(noBuiltins, 'Object.defineProperty(process, "getBuiltinModule", { value: undefined, configurable: true });\n');

function runWithoutNodeCrypto(args: string[]): ReturnType<typeof spawnSync> {
  // without NODE_TEST_CONTEXT: a child `node --test` must run its files, not report to this runner
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, args, {
    cwd: process.cwd(),
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --import=${noBuiltins}`.trim() },
  });
}

describe('writ/sync-crypto', () => {
  useVerifyFixture();

  it('verifies a writ in Node without a single WebCrypto call', async () => {
    assert.equal(SYNC_CRYPTO, true);
    const { writ } = await mint();
    const subtle = globalThis.crypto.subtle;
    const saved = { verify: subtle.verify, digest: subtle.digest, importKey: subtle.importKey };
    const calls: string[] = [];
    for (const name of Object.keys(saved) as (keyof typeof saved)[]) {
      Object.defineProperty(subtle, name, { configurable: true, value: () => { calls.push(name); throw new Error(`WebCrypto ${name} called`); } });
    }
    try {
      const v = await verifyWrit(writ, opts({ consume: memoryJtiStore() }));
      assert.equal(typeof v.claims.jti, 'string');
      // a forged signature is still refused on the synchronous way
      const [h, p, s] = writ.split('.') as [string, string, string];
      const flipped = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
      await assert.rejects(verifyWrit(flipped, opts({ consume: memoryJtiStore() })), (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_signature_invalid');
    } finally {
      for (const [name, value] of Object.entries(saved)) Object.defineProperty(subtle, name, { configurable: true, writable: true, value });
    }
    assert.deepEqual(calls, []);
  });

  it('the jose/WebCrypto way (no node:crypto) passes the same writ, guard and typed-JWS suites', () => {
    const probe = runWithoutNodeCrypto(['-e', 'import("./src/writ/sync-crypto.ts").then((m) => console.log(m.SYNC_CRYPTO))']);
    assert.equal(String(probe.stdout).trim(), 'false', String(probe.stderr));
    const suites = ['test/writ-verify.test.ts', 'test/writ-verify-binding.test.ts', 'test/writ-verify-issuer.test.ts', 'test/http-guard-adapters.test.ts', 'test/revocation-message.test.ts'];
    const r = runWithoutNodeCrypto(['--test', '--test-reporter=spec', ...suites]);
    const out = String(r.stdout);
    assert.equal(r.status, 0, `${out.slice(-4000)}\n${String(r.stderr).slice(-2000)}`);
    const passed = Number(/ℹ pass (\d+)/.exec(out)?.[1] ?? 0);
    assert.ok(passed >= 35, `the suites ran ${passed} tests:\n${out.slice(-2000)}`);
    assert.match(out, /ℹ fail 0/);
  });

  it('random tamperings of a writ get the same reason code both ways', async () => {
    const { writ } = await mint();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    let seed = 20261207;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const variants = [writ];
    for (let i = 0; i < 150; i++) {
      const at = next() % writ.length;
      variants.push(writ.slice(0, at) + (alphabet[next() % alphabet.length] as string) + writ.slice(at + 1));
    }
    const here: string[] = [];
    for (const v of variants) here.push(await verifyWrit(v, opts({ consume: false })).then(() => 'ok', (e: unknown) => (e instanceof WritVerificationError ? e.code : `unexpected: ${String(e)}`)));
    const file = join(dir, 'variants.json');
    writeFileSync(file, JSON.stringify({ variants, options: opts({ consume: false }) }));
    const script = `
      const { readFileSync } = await import('node:fs');
      const { verifyWrit, WritVerificationError } = await import('./src/writ/verify.ts');
      const { variants, options } = JSON.parse(readFileSync(${JSON.stringify(file)}, 'utf8'));
      const out = [];
      for (const v of variants) out.push(await verifyWrit(v, options).then(() => 'ok', (e) => (e instanceof WritVerificationError ? e.code : 'unexpected: ' + e)));
      console.log(JSON.stringify(out));`;
    const r = runWithoutNodeCrypto(['--input-type=module', '-e', script]);
    assert.equal(r.status, 0, String(r.stderr));
    const there = JSON.parse(String(r.stdout)) as string[];
    assert.deepEqual(there, here);
    assert.equal(here[0], 'ok');
    assert.ok(here.filter((c) => c !== 'ok').length > 100, `most tamperings must be refused: ${JSON.stringify(here)}`);
  });
});

/**
 * The console proof viewer's witness check (src/console/web/verify/proofs.ts), run in Node
 * the way the browser runs it: the project's synchronous checks with WebCrypto's SHA-256 and
 * Ed25519 (src/tlog/async-crypto.ts), so the log signature and each cosignature are judged
 * by WebCrypto. A pinned witness that did not cosign, or a corrupted cosignature, fails the proof.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeEd25519 } from '../src/ledger/node-crypto.ts';
import { verifyCheckpoint, verifyProof } from '../src/console/web/verify/proofs.ts'; // WebCrypto through withAsyncCrypto, whatever is installed
import { formatCheckpoint } from '../src/tlog/checkpoint.ts';
import { cosignatureVerifierKey, cosignedMessage } from '../src/tlog/cosignature.ts';
import { proveRecord, storedHashes, storedHashIndex, treeHash, type HashReader } from '../src/tlog/merkle.ts';
import { ed25519VerifierKey } from '../src/tlog/note.ts';
import { formatProofFile } from '../src/tlog/proof-file.ts';

// Signing with node:crypto directly: the console's Ed25519 cannot sign (and must not).
const ORIGIN = 'example.com/console-log';
const logSeed = new Uint8Array(32).fill(1);
const logPub = nodeEd25519.signer(logSeed).publicKey;
const logVkey = ed25519VerifierKey(ORIGIN, logPub);
const wSeeds = [2, 3].map((b) => new Uint8Array(32).fill(b));
const wKeys = wSeeds.map((s, i) => cosignatureVerifierKey(`witness.example/c${i}`, nodeEd25519.signer(s).publicKey));

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const keyIdOf = (vkey: string): number => parseInt(vkey.split('+')[1] as string, 16);

function signLine(name: string, id: number, sig: Uint8Array): string {
  return `— ${name} ${Buffer.from([...u32(id), ...sig]).toString('base64')}\n`;
}

function fixture() {
  const store = new Map<number, Uint8Array>();
  const reader: HashReader = (ix) => ix.map((i) => store.get(i) as Uint8Array);
  const leaves = Array.from({ length: 6 }, (_, i) => new TextEncoder().encode(`console entry ${i}`));
  leaves.forEach((l, n) => storedHashes(n, l, reader).forEach((h, j) => store.set(storedHashIndex(0, n) + j, h)));
  const text = formatCheckpoint({ origin: ORIGIN, size: 6, rootHash: treeHash(6, reader) });
  const logSig = nodeEd25519.signer(logSeed).sign(new TextEncoder().encode(text));
  const cosig = (i: number, ts: number): string => {
    const sig = nodeEd25519.signer(wSeeds[i] as Uint8Array).sign(cosignedMessage(text, ts));
    const tsb = new Uint8Array(8);
    new DataView(tsb.buffer).setBigUint64(0, BigInt(ts));
    return signLine(`witness.example/c${i}`, keyIdOf(wKeys[i] as string), Uint8Array.from([...tsb, ...sig]));
  };
  const note = (lines: string) => `${text}\n${signLine(ORIGIN, keyIdOf(logVkey), logSig)}${lines}`;
  const file = (lines: string) => formatProofFile({ index: 2, proof: proveRecord(6, 2, reader), checkpoint: note(lines) });
  return { entry: leaves[2] as Uint8Array, file, cosig };
}

describe('console proof viewer: K of N witnesses, judged by WebCrypto', () => {
  const f = fixture();

  it('passes when enough pinned witnesses cosigned, fails when not', async () => {
    const both = f.file(f.cosig(0, 1_700_000_000) + f.cosig(1, 1_700_000_001));
    const r = await verifyProof(both, f.entry, logVkey, { keys: wKeys, min: 2 });
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    const one = f.file(f.cosig(0, 1_700_000_000));
    const r1 = await verifyProof(one, f.entry, logVkey, { keys: wKeys, min: 2 });
    assert.equal(r1.ok, false);
    assert.equal(r1.checks.find((c) => !c.ok)?.name, 'witnesses');
    assert.equal((await verifyProof(one, f.entry, logVkey, { keys: wKeys, min: 1 })).ok, true);
    assert.equal((await verifyProof(one, f.entry, logVkey)).ok, true, 'no policy: as before');
  });

  it('a cosignature whose timestamp was changed has no verdict and fails the policy', async () => {
    const line = f.cosig(0, 1_700_000_000);
    const raw = Buffer.from(line.trim().split(' ').at(-1) as string, 'base64');
    raw[11] = (raw[11] as number) ^ 1; // the timestamp's last byte
    const forged = `— witness.example/c0 ${raw.toString('base64')}\n`;
    const r = await verifyProof(f.file(forged), f.entry, logVkey, { keys: wKeys, min: 1 });
    assert.equal(r.ok, false);
    assert.equal(r.checks.find((c) => !c.ok)?.name, 'witnesses');
  });

  it('the ledger page checkpoint check: signed by the pinned key (WebCrypto), and not by another', async () => {
    const file = f.file(f.cosig(0, 1_700_000_000));
    const note = file.slice(file.indexOf('\n\n') + 2);
    const ok = await verifyCheckpoint(note, logVkey);
    assert.deepEqual(ok.checks.map((c) => [c.name, c.ok]), [['log-key', true], ['signature', true], ['checkpoint', true], ['origin', true]]);
    assert.equal(ok.checkpoint?.size, 6);
    const other = ed25519VerifierKey(ORIGIN, nodeEd25519.signer(new Uint8Array(32).fill(9)).publicKey);
    const bad = await verifyCheckpoint(note, other);
    assert.equal(bad.checks.find((c) => !c.ok)?.name, 'signature');
    assert.equal(bad.checkpoint, null);
  });
});

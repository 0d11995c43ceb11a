/**
 * verifyProof (src/tlog/verify-proof.ts, published as @writ/verify/proof): an offline proof
 * file with a K-of-N witness policy, judged with WebCrypto's SHA-256 and Ed25519 through
 * withAsyncCrypto, rejecting with ProofVerificationError and a stable reason code. Every
 * check has its adversarial case; a forked log's proofs are refused; random trees and
 * indexes agree with the synchronous verifyProofFile. The packed package: test/verify-package.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeEd25519 } from '../src/ledger/node-crypto.ts';
import { withAsyncCrypto, type AsyncCrypto } from '../src/tlog/async-crypto.ts';
import { generateCosignerKey, newCosigner } from '../src/tlog/cosignature.ts';
import { ed25519 } from '../src/tlog/crypto.ts';
import { generateKey, newSigner } from '../src/tlog/note.ts';
import { verifyProofFile } from '../src/tlog/proof-file.ts';
import { PROOF_REASONS, ProofVerificationError, verifyProof, type ProofReason, type VerifyProofOptions } from '../src/tlog/verify-proof.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { scratchDir } from './cli-fixture.ts';
import { testSeed, withSeed } from './prng.ts';
import { cosign, testTree } from './witness-fixture.ts';

const ORIGIN = 'example.com/lib-log';
const logKey = generateKey(ORIGIN);
const signer = newSigner(logKey.signerKey);
const W = [1, 2, 3].map((i) => generateCosignerKey(`witness.example/lib${i}`));
const WK = W.map((k) => k.verifierKey);
const dir = scratchDir('writ-verify-proof-lib-');
const utf8 = new TextEncoder();

const tree = (leaves: string[], sign = signer, origin = ORIGIN) => testTree(leaves, sign, origin);

const witnesses = W.map((k, i) => new Witness({ cosigner: newCosigner(k.signerKey), logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }], state: new WitnessState(join(dir, `w${i}.db`)) }));

/** The rejection's code and first failing check. */
async function refused(p: Promise<unknown>): Promise<{ code: ProofReason; check: string | undefined }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ProofVerificationError, String(e));
    assert.ok(PROOF_REASONS.includes(e.code));
    return { code: e.code, check: e.check };
  }
  assert.fail('verifyProof resolved for a proof that should fail');
}

const sigLines = (note: string): string[] => note.slice(note.indexOf('\n\n') + 2).split('\n').filter(Boolean);
const withLines = (note: string, lines: string[]): string => `${note.slice(0, note.indexOf('\n\n') + 2)}${lines.map((l) => `${l}\n`).join('')}`;

describe('verifyProof: a proof file with K of N pinned witnesses', () => {
  const leaves = Array.from({ length: 21 }, (_, i) => `{"entry":${i}}`);
  const honest = tree(leaves);
  const { note, statuses } = cosign(honest, 0, witnesses.slice(0, 2)); // lib1, lib2 cosign; lib3 is down
  const file = honest.proofFile(9, note);
  const entry = honest.entry(9);
  const opts = (o: Partial<VerifyProofOptions> = {}): VerifyProofOptions => ({ logKey: logKey.verifierKey, witnesses: WK, minWitnesses: 2, ...o });

  it('a valid file with K of N met resolves with what is proven', async () => {
    assert.deepEqual(statuses, [200, 200]);
    const v = await verifyProof(file, entry, opts());
    assert.equal(v.index, 9);
    assert.equal(v.checkpoint.origin, ORIGIN);
    assert.equal(v.checkpoint.size, 21);
    assert.equal(v.logKey, logKey.verifierKey);
    assert.deepEqual(v.witnesses.map((w) => w.name), ['witness.example/lib1', 'witness.example/lib2']);
    assert.ok(v.witnesses.every((w) => /^[0-9a-f]{8}$/.test(w.keyId) && typeof w.timestamp === 'number'));
    assert.ok(v.checks.every((c) => c.ok));
    // the same as the synchronous code with node:crypto says
    const sync = verifyProofFile(file, entry, logKey.verifierKey, { keys: WK, min: 2 });
    assert.deepEqual(v.checks, sync.checks);
    // bytes or text for the file and the entry alike
    assert.equal((await verifyProof(utf8.encode(file), new TextDecoder().decode(entry), opts())).index, 9);
    // K = 1 of the same, and no policy at all
    assert.equal((await verifyProof(file, entry, opts({ minWitnesses: 1 }))).witnesses.length, 2);
    assert.deepEqual((await verifyProof(file, entry, { logKey: logKey.verifierKey })).witnesses, []);
  });

  it('K not met: witness_quorum_not_met (default K is all pinned)', async () => {
    assert.deepEqual(await refused(verifyProof(file, entry, opts({ minWitnesses: 3 }))), { code: 'witness_quorum_not_met', check: 'witnesses' });
    assert.equal((await refused(verifyProof(file, entry, opts({ minWitnesses: undefined })))).code, 'witness_quorum_not_met');
    assert.equal((await refused(verifyProof(honest.proofFile(9, honest.checkpoint()), entry, opts({ minWitnesses: 1 })))).code, 'witness_quorum_not_met', 'no cosignature at all');
  });

  it('a cosignature by a key that is not pinned does not count, even under a pinned name', async () => {
    const stranger = generateCosignerKey('witness.example/stranger');
    const namesake = generateCosignerKey('witness.example/lib2'); // lib2's name, another key
    const text = note.slice(0, note.indexOf('\n\n') + 1);
    const [logLine, lib1] = sigLines(note) as [string, string];
    const forged = withLines(note, [logLine, lib1, newCosigner(stranger.signerKey).cosign(text, 1_800_000_000).trim(), newCosigner(namesake.signerKey).cosign(text, 1_800_000_000).trim()]);
    assert.equal((await refused(verifyProof(honest.proofFile(9, forged), entry, opts()))).code, 'witness_quorum_not_met');
    const v = await verifyProof(honest.proofFile(9, forged), entry, opts({ minWitnesses: 1 }));
    assert.deepEqual(v.witnesses.map((w) => w.name), ['witness.example/lib1']);
    // the log's own key is no witness key
    assert.equal((await refused(verifyProof(file, entry, opts({ witnesses: [logKey.verifierKey], minWitnesses: 1 })))).code, 'verifier_config_invalid');
  });

  it('duplicate cosignatures by one key count once', async () => {
    const [logLine, lib1] = sigLines(note) as [string, string];
    const doubled = honest.proofFile(9, withLines(note, [logLine, lib1, lib1, lib1]));
    assert.equal((await refused(verifyProof(doubled, entry, opts({ witnesses: WK.slice(0, 2), minWitnesses: 2 })))).code, 'witness_quorum_not_met');
    assert.equal((await verifyProof(doubled, entry, opts({ minWitnesses: 1 }))).witnesses.length, 1);
    // a second, valid cosignature by the same witness (another timestamp) is still one witness
    const again = newCosigner(W[0]?.signerKey as string).cosign(note.slice(0, note.indexOf('\n\n') + 1), 1_900_000_000).trim();
    assert.equal((await refused(verifyProof(honest.proofFile(9, withLines(note, [logLine, lib1, again])), entry, opts({ witnesses: WK.slice(0, 2) })))).code, 'witness_quorum_not_met');
  });

  it('a tampered timestamp, or any flipped bit of a pinned cosignature: cosignature_invalid (fail closed, not just "not counted")', async () => {
    const lines = sigLines(note);
    for (const [at, what] of [[7, 'timestamp'], [4, 'timestamp high byte'], [30, 'signature']] as const) {
      const raw = Buffer.from((lines[1] as string).split(' ').at(-1) as string, 'base64');
      raw[at] = (raw[at] as number) ^ 1;
      const bad = [...lines];
      bad[1] = `\u2014 witness.example/lib1 ${raw.toString('base64')}`;
      assert.deepEqual(await refused(verifyProof(honest.proofFile(9, withLines(note, bad)), entry, opts({ minWitnesses: 1 }))), { code: 'cosignature_invalid', check: 'witnesses' }, what);
    }
  });

  it('split view: the witnesses refuse the fork (409, 422), and its proofs fail, also with the honest cosignatures pasted on', async () => {
    const fork = tree([...leaves.slice(0, 15), ...Array.from({ length: 8 }, (_, i) => `{"forked":${i}}`)]); // same origin and key, 23 leaves
    const sameSize = tree([...leaves.slice(0, 20), '{"forked":20}']);
    assert.deepEqual(cosign(sameSize, 21, witnesses.slice(0, 2)).statuses, [409, 409], 'same size, another root: 409 root_mismatch');
    assert.deepEqual(cosign(fork, 21, witnesses.slice(0, 2)).statuses, [422, 422], 'a consistency proof from the cosigned size does not verify: 422');
    const fresh = cosign(fork, 0, [witnesses[2] as Witness]); // lib3 has seen nothing: it cosigns whatever it sees first
    assert.deepEqual(fresh.statuses, [200]);
    const forkFile = fork.proofFile(17, fresh.note);
    assert.equal((await verifyProof(forkFile, fork.entry(17), { logKey: logKey.verifierKey })).index, 17, 'the log key alone accepts the fork');
    assert.equal((await refused(verifyProof(forkFile, fork.entry(17), opts()))).code, 'witness_quorum_not_met');
    // lib1's cosignature of the honest checkpoint copied onto the fork's: it cosigned another checkpoint
    const [forkLog, lib3] = sigLines(fresh.note) as [string, string];
    const pasted = withLines(fresh.note, [forkLog, lib3, sigLines(note)[1] as string, sigLines(note)[2] as string]);
    assert.deepEqual(await refused(verifyProof(fork.proofFile(17, pasted), fork.entry(17), opts())), { code: 'cosignature_invalid', check: 'witnesses' });
  });

  it('every other check has its reason code', async () => {
    const other = generateKey('example.com/another-log');
    const cases: [string, () => Promise<unknown>, ProofReason, string | undefined][] = [
      ['a tampered entry', () => verifyProof(file, utf8.encode('{"entry":99}'), opts()), 'inclusion_proof_invalid', 'inclusion'],
      ['another index', () => verifyProof(file.replace('index 9\n', 'index 10\n'), entry, opts()), 'inclusion_proof_invalid', 'inclusion'],
      ['an index past the tree', () => verifyProof(file.replace('index 9\n', 'index 21\n'), entry, opts()), 'inclusion_proof_invalid', 'index'],
      ['a key of another log', () => verifyProof(file, entry, opts({ logKey: other.verifierKey })), 'checkpoint_signature_invalid', 'signature'],
      ['an edited size', () => verifyProof(file.replace(`${ORIGIN}\n21\n`, `${ORIGIN}\n22\n`), entry, opts()), 'checkpoint_signature_invalid', 'signature'],
      ['a truncated file', () => verifyProof(file.slice(0, 60), entry, opts()), 'proof_malformed', 'format'],
      ['not UTF-8', () => verifyProof(Uint8Array.of(0xff, 0xfe), entry, opts()), 'proof_malformed', 'format'],
      ['a malformed log key', () => verifyProof(file, entry, opts({ logKey: 'garbage' })), 'verifier_config_invalid', 'log-key'],
      ['a malformed witness key', () => verifyProof(file, entry, opts({ witnesses: ['garbage', ...WK.slice(1)] })), 'verifier_config_invalid', 'witnesses'],
      ['K of 0', () => verifyProof(file, entry, opts({ minWitnesses: 0 })), 'verifier_config_invalid', undefined],
      ['K above N', () => verifyProof(file, entry, opts({ minWitnesses: 4 })), 'verifier_config_invalid', undefined],
      ['K not an integer', () => verifyProof(file, entry, opts({ minWitnesses: 1.5 })), 'verifier_config_invalid', undefined],
      ['K without witnesses', () => verifyProof(file, entry, { logKey: logKey.verifierKey, minWitnesses: 1 }), 'verifier_config_invalid', undefined],
      ['no log key', () => verifyProof(file, entry, { logKey: [] }), 'verifier_config_invalid', undefined],
    ];
    for (const [what, p, code, check] of cases) assert.deepEqual(await refused(p()), { code, check }, what); // one at a time: none rejects unawaited
    // a checkpoint of another origin signed with a key named like this log: origin mismatch
    const impostor = tree(leaves, signer, 'example.com/elsewhere');
    assert.deepEqual(await refused(verifyProof(impostor.proofFile(9, impostor.checkpoint()), entry, { logKey: logKey.verifierKey })), { code: 'checkpoint_origin_mismatch', check: 'origin' });
  });

  it('several log keys (one being replaced): any one that signed passes; the error is of the attempt that got furthest', async () => {
    const other = generateKey(ORIGIN);
    assert.equal((await verifyProof(file, entry, opts({ logKey: [other.verifierKey, logKey.verifierKey] }))).logKey, logKey.verifierKey);
    assert.deepEqual(await refused(verifyProof(file, utf8.encode('x'), opts({ logKey: [other.verifierKey, logKey.verifierKey] }))), { code: 'inclusion_proof_invalid', check: 'inclusion' });
  });

  it('leaves the process its own crypto, and trusts only the asynchronous primitives it is given', async () => {
    await verifyProof(file, entry, opts());
    assert.equal(ed25519(), nodeEd25519, 'node:crypto is still installed');
    const liar: AsyncCrypto = { digest: async (d) => new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(d))), verify: async () => false };
    assert.equal((await refused(verifyProof(file, entry, opts({ crypto: liar })))).code, 'checkpoint_signature_invalid');
    const badHash: AsyncCrypto = { digest: async () => new Uint8Array(32), verify: async () => true };
    assert.equal((await refused(verifyProof(file, entry, opts({ crypto: badHash })))).check !== undefined, true);
    // withAsyncCrypto throws what the function throws, once settled
    await assert.rejects(withAsyncCrypto(() => { throw new RangeError('x'); }), RangeError);
  });
});

describe('verifyProof, property: random trees and indexes agree with verifyProofFile', () => {
  it('every inclusion proof resolves; a flipped bit anywhere in a proof hash is inclusion_proof_invalid', async () => {
    await withSeed(testSeed(), async (r) => {
      for (let t = 0; t < 12; t++) {
        const size = r.int(1, 300);
        const tr = tree(Array.from({ length: size }, (_, i) => `leaf ${t}.${i}`));
        const cp = tr.checkpoint();
        const i = r.int(0, size - 1);
        const f = tr.proofFile(i, cp);
        const v = await verifyProof(f, tr.entry(i), { logKey: logKey.verifierKey });
        assert.deepEqual([v.index, v.checkpoint.size], [i, size]);
        const lines = f.split('\n');
        const hashLines = lines.findIndex((l) => l === '') - 2; // after the header and index lines
        if (hashLines > 0) {
          const at = 2 + r.int(0, hashLines - 1);
          const raw = Buffer.from(lines[at] as string, 'base64');
          const b = r.int(0, 31);
          raw[b] = (raw[b] as number) ^ (1 << r.int(0, 7));
          lines[at] = raw.toString('base64');
          assert.deepEqual(await refused(verifyProof(lines.join('\n'), tr.entry(i), { logKey: logKey.verifierKey })), { code: 'inclusion_proof_invalid', check: 'inclusion' }, `size ${size} index ${i}`);
        }
        const j = r.int(0, size - 1);
        if (j !== i) assert.equal((await refused(verifyProof(f, tr.entry(j), { logKey: logKey.verifierKey }))).code, 'inclusion_proof_invalid');
      }
    });
  });
});

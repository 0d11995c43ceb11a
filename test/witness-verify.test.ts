/**
 * Verifiers requiring witnesses: verifyProofFile with a K-of-N witness policy
 * (src/tlog/proof-file.ts) and `writ audit verify-proof --witness KEY … --min-witnesses K`.
 * A forked log's proof (validly signed by the log, refused by the witness) fails them.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts';
import { generateCosignerKey, newCosigner } from '../src/tlog/cosignature.ts';
import { generateKey, newSigner } from '../src/tlog/note.ts';
import { verifyProofFile, type ProofVerification } from '../src/tlog/proof-file.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { json, scratchDir, writ } from './cli-fixture.ts';
import { cosign, testTree } from './witness-fixture.ts';

const ORIGIN = 'example.com/verify-log';
const logKey = generateKey(ORIGIN);
const signer = newSigner(logKey.signerKey);
const W = [1, 2, 3].map((i) => generateCosignerKey(`witness.example/v${i}`));
const dir = scratchDir('writ-witness-verify-');

const tree = (leaves: string[]) => testTree(leaves, signer, ORIGIN);

const witnesses = W.map((k, i) => new Witness({ cosigner: newCosigner(k.signerKey), logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }], state: new WitnessState(join(dir, `w${i}.db`)) }));

const failed = (r: ProofVerification) => r.checks.find((c) => !c.ok && !c.skipped)?.name;

describe('verifyProofFile with K of N pinned witnesses', () => {
  const leaves = Array.from({ length: 13 }, (_, i) => `entry ${i}`);
  const honest = tree(leaves);
  const { note, statuses } = cosign(honest, 0, witnesses.slice(0, 2)); // w1, w2 cosign; w3 is down
  const keys = W.map((k) => k.verifierKey);

  it('passes with K ≤ the pinned witnesses that cosigned, fails above, and lists who cosigned', () => {
    assert.deepEqual(statuses, [200, 200]);
    const file = honest.proofFile(4, note);
    const r = verifyProofFile(file, honest.entry(4), logKey.verifierKey, { keys, min: 2 });
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    assert.deepEqual(r.witnesses?.map((w) => w.name), ['witness.example/v1', 'witness.example/v2']);
    assert.deepEqual(r.checks.map((c) => c.name), ['format', 'log-key', 'signature', 'witnesses', 'checkpoint', 'origin', 'index', 'inclusion']);
    const three = verifyProofFile(file, honest.entry(4), logKey.verifierKey, { keys, min: 3 });
    assert.equal(failed(three), 'witnesses');
    assert.match(three.checks.find((c) => c.name === 'witnesses')?.detail ?? '', /only 2 of 3/);
    // without a policy the cosignatures are ignored and the proof passes as before
    assert.equal(verifyProofFile(file, honest.entry(4), logKey.verifierKey).ok, true);
    // a checkpoint with no cosignature at all fails any policy
    assert.equal(failed(verifyProofFile(honest.proofFile(4, honest.checkpoint()), honest.entry(4), logKey.verifierKey, { keys, min: 1 })), 'witnesses');
  });

  it('fails closed on a corrupted pinned cosignature, and on a bad policy', () => {
    const lines = note.split('\n');
    const last = lines.length - 2; // the last cosignature line
    const raw = Buffer.from((lines[last] as string).split(' ').at(-1) as string, 'base64');
    raw[20] = (raw[20] as number) ^ 1;
    lines[last] = `${(lines[last] as string).split(' ').slice(0, 2).join(' ')} ${raw.toString('base64')}`;
    const bad = verifyProofFile(honest.proofFile(4, lines.join('\n')), honest.entry(4), logKey.verifierKey, { keys, min: 1 });
    assert.equal(failed(bad), 'witnesses');
    assert.match(bad.checks.find((c) => c.name === 'witnesses')?.detail ?? '', /invalid signature/);
    assert.equal(failed(verifyProofFile(honest.proofFile(4, note), honest.entry(4), logKey.verifierKey, { keys: [logKey.verifierKey], min: 1 })), 'witnesses'); // a log key is no witness key
    assert.equal(failed(verifyProofFile(honest.proofFile(4, note), honest.entry(4), logKey.verifierKey, { keys, min: 4 })), 'witnesses');
  });

  it('split view: the fork (same origin, same key) gets no cosignature, and its proofs fail the policy', () => {
    const fork = tree([...leaves.slice(0, 12), 'a different entry 12']);
    const forked = cosign(fork, 13, witnesses.slice(0, 2));
    assert.deepEqual(forked.statuses, [409, 409]); // same size, another root
    const fromZero = cosign(fork, 0, witnesses.slice(0, 2));
    assert.deepEqual(fromZero.statuses, [409, 409]);
    // a fresh witness (w3, down before) may cosign the fork: it has seen nothing; 2 of 3 still rules it out
    const w3 = cosign(fork, 0, [witnesses[2] as Witness]);
    assert.deepEqual(w3.statuses, [200]);
    const file = fork.proofFile(12, w3.note);
    assert.equal(verifyProofFile(file, fork.entry(12), logKey.verifierKey).ok, true, 'the log signature alone accepts the fork');
    assert.equal(verifyProofFile(file, fork.entry(12), logKey.verifierKey, { keys, min: 1 }).ok, true, '1 of 3 is not enough against a fresh witness');
    assert.equal(failed(verifyProofFile(file, fork.entry(12), logKey.verifierKey, { keys, min: 2 })), 'witnesses');
    // the honest cosignatures copied onto the fork's checkpoint do not verify
    const pasted = w3.note + note.slice(note.indexOf('\n\n') + 2).split('\n').slice(1).join('\n');
    assert.equal(failed(verifyProofFile(fork.proofFile(12, pasted), fork.entry(12), logKey.verifierKey, { keys, min: 2 })), 'witnesses');
  });

  it('writ audit verify-proof --witness … --min-witnesses', () => {
    const proof = join(dir, 'p.tlog-proof');
    const entry = join(dir, 'e.json');
    writeFileSync(proof, honest.proofFile(7, note));
    writeFileSync(entry, honest.entry(7));
    const wfile = join(dir, 'w1.vkey');
    writeFileSync(wfile, `${W[0]?.verifierKey}\n`);
    const base = ['audit', 'verify-proof', proof, '--entry', entry, '--log-key', logKey.verifierKey];
    const wk = ['--witness', wfile, '--witness', W[1]?.verifierKey as string, '--witness', W[2]?.verifierKey as string];
    const ok2 = writ([...base, ...wk, '--min-witnesses', '2']);
    assert.equal(ok2.status, 0, ok2.stdout + ok2.stderr);
    assert.match(ok2.stdout, /ok {4}witnesses: 2 of 3 pinned witnesses cosigned/);
    const all = writ([...base, ...wk]); // default: all pinned
    assert.equal(all.status, 1);
    assert.match(all.stdout, /FAIL {2}witnesses: only 2 of 3/);
    assert.equal(json<{ ok: boolean; witnesses: unknown[] }>(writ([...base, ...wk, '--min-witnesses', '2', '--json'])).witnesses.length, 2);
    assert.equal(writ([...base, '--min-witnesses', '1']).status, 2, 'a minimum with no witness key is a usage error');
    assert.equal(writ([...base, ...wk, '--min-witnesses', '0']).status, 2);
    assert.equal(writ([...base, '--witness', 'garbage']).status, 1);
  });
});

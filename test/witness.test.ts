/**
 * The witness (src/witness/) and cosignatures (src/tlog/cosignature.ts): C2SP tlog-witness
 * and tlog-cosignature.
 *
 * Spec examples: the tlog-cosignature example checkpoint's cosignature line (its key ID,
 * timestamp and signed message), the tlog-witness example request and response bodies.
 * Then every status of add-checkpoint with its adversarial case, the state across a restart,
 * a forked log (split view) refused, and property tests over seeded random trees and old sizes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nodeEd25519 } from '../src/ledger/node-crypto.ts';
import { formatCheckpoint } from '../src/tlog/checkpoint.ts';
import {
  CosignatureError, cosignatureKeyId, cosignatureSignerKey, cosignatureTimestamp, cosignatureVerifierKey, cosignedMessage, generateCosignerKey, newCosignatureVerifier,
  newCosigner, verifyCosignatures,
} from '../src/tlog/cosignature.ts';
import { proveTree, storedHashes, storedHashIndex, treeHash, type HashReader } from '../src/tlog/merkle.ts';
import { decodeBase64, ed25519VerifierKey, generateKey, keyId, newSigner, newVerifier, NoteError, openNote, signNote } from '../src/tlog/note.ts';
import { formatAddCheckpoint, parseAddCheckpoint, WitnessRequestError } from '../src/witness/request.ts';
import { WitnessState } from '../src/witness/state.ts';
import { SIZE_CONTENT_TYPE, Witness } from '../src/witness/witness.ts';
import { testSeed, withSeedSync } from './prng.ts';

const dir = mkdtempSync(join(tmpdir(), 'writ-witness-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let dbs = 0;
const newDb = (): string => join(dir, `w${++dbs}.db`);

/** An append-only tree in memory, grown through storedHashes as a log grows. */
class Tree {
  readonly store = new Map<number, Uint8Array>();
  size = 0;
  readonly reader: HashReader = (ix) => ix.map((i) => this.store.get(i) ?? assert.fail(`hash ${i} missing`));
  append(data: Uint8Array): void {
    storedHashes(this.size, data, this.reader).forEach((h, j) => this.store.set(storedHashIndex(0, this.size) + j, h));
    this.size++;
  }
  root(n = this.size): Uint8Array {
    return treeHash(n, this.reader);
  }
  prove(from: number, to = this.size): Uint8Array[] {
    return from === 0 ? [] : proveTree(to, from, this.reader);
  }
}

const ORIGIN = 'example.com/log';
const logKey = generateKey(ORIGIN);
const logSigner = newSigner(logKey.signerKey);
const witnessKey = generateCosignerKey('witness.example/w1');
const cosigner = newCosigner(witnessKey.signerKey);
const T0 = Date.parse('2026-12-01T00:00:00Z');

function checkpoint(tree: Tree, n = tree.size, signer = logSigner, origin = ORIGIN): string {
  return signNote(formatCheckpoint({ origin, size: n, rootHash: tree.root(n) }), [signer]);
}

function newWitness(state = new WitnessState(newDb()), now = () => T0): Witness {
  return new Witness({ cosigner, logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }], state, now });
}

const grow = (tree: Tree, n: number, tag = 'a'): Tree => {
  for (let i = 0; i < n; i++) tree.append(new TextEncoder().encode(`${tag}-${tree.size}`));
  return tree;
};

const flip = (h: Uint8Array, at: number, mask = 1): void => void (h[at] = (h[at] ?? 0) ^ mask);

const add = (w: Witness, oldSize: number, proof: Uint8Array[], cp: string) => w.addCheckpoint(formatAddCheckpoint({ oldSize, proof, checkpoint: cp }));

describe('cosignature/v1 (c2sp.org/tlog-cosignature)', () => {
  it('the spec example cosignature line: key ID, then the timestamp of its "time" line, then 64 signature bytes', () => {
    const b64 = 'jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==';
    const raw = decodeBase64(b64) as Uint8Array;
    assert.equal(raw.length, 4 + 8 + 64);
    assert.equal(cosignatureTimestamp(b64), 1679315147); // the spec's "time 1679315147"
    // the spec's signed message, byte for byte
    const text = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    assert.equal(new TextDecoder().decode(cosignedMessage(text, 1679315147)), `cosignature/v1\ntime 1679315147\n${text}`);
  });

  it('the vectors of transparency-dev/formats note/note_cosigv1_test.go: a deployed witness key, a cosignature timestamp, the refused keys', () => {
    // TestCoSigV1NewVerifier "works: native algEd25519CosignatureV1 verifier": a witness in use; its key ID must match its 0x04 key
    const remora = 'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2';
    const v = newCosignatureVerifier(remora);
    assert.deepEqual([v.name, v.keyId], ['remora.n621.de', 0xda77ade7]);
    const pub = (decodeBase64(remora.split('+')[2] as string) as Uint8Array).subarray(1);
    assert.equal(cosignatureVerifierKey('remora.n621.de', pub), remora, 'written back byte for byte');
    // ... and the refused ones: wrong number of parts, not base64, another algorithm, a key ID that is not hex or is wrong
    for (const bad of ['bananas.sigstore.dev+12344556', 'rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!', 'rekor.sigstore.dev+12345678+AwEB', 'remora.n621.de+NOT_A_NUMBER+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2', 'remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2']) {
      assert.throws(() => newCosignatureVerifier(bad), (e) => e instanceof CosignatureError && e.code === 'bad-key', bad);
    }
    // TestCoSigV1Timestamp: the timestamp of a cosignature; a plain Ed25519 note signature (68 bytes) and gibberish have none
    assert.equal(cosignatureTimestamp('ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=='), 1727964367);
    assert.equal(cosignatureTimestamp('eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY='), undefined);
    assert.equal(cosignatureTimestamp('5%/$!\n 2'), undefined);
    // TestSigCoversExtensionLines: the cosignature covers extension lines too
    const text = 'test\n123\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\nExtendo\n';
    const line = cosigner.cosign(text, 1727964367);
    assert.equal(openNote(`${text}\n${line}`, [newCosignatureVerifier(witnessKey.verifierKey)]).sigs.length, 1);
    assert.throws(() => openNote(`${text.replace('Extendo', 'Extend@')}\n${line}`, [newCosignatureVerifier(witnessKey.verifierKey)]), (e) => e instanceof NoteError && e.code === 'invalid-signature');
  });

  it('the key ID hashes algorithm byte 0x04, not the 0x01 of a note key, and the keys round-trip', () => {
    const seed = new Uint8Array(32).fill(7);
    const pub = nodeEd25519.signer(seed).publicKey;
    const vkey = cosignatureVerifierKey('w.example/a', pub);
    assert.equal(cosignatureKeyId('w.example/a', pub), keyId('w.example/a', Uint8Array.of(0x04, ...pub)));
    assert.notEqual(cosignatureKeyId('w.example/a', pub), keyId('w.example/a', Uint8Array.of(0x01, ...pub)));
    assert.equal(parseInt(vkey.split('+')[1] as string, 16), cosignatureKeyId('w.example/a', pub));
    assert.equal(newCosigner(cosignatureSignerKey('w.example/a', seed)).verifierKey, vkey);
  });

  it('a cosignature verifies with the cosigner key, at its timestamp, and never as a note signature of the same key', () => {
    const tree = grow(new Tree(), 5);
    const cp = checkpoint(tree);
    const text = cp.slice(0, cp.indexOf('\n\n') + 1);
    const line = cosigner.cosign(text, 1700000000);
    const note = cp + line;
    const opened = openNote(note, [newVerifier(logKey.verifierKey), newCosignatureVerifier(witnessKey.verifierKey)]);
    assert.equal(opened.sigs.length, 2);
    assert.equal(cosignatureTimestamp(opened.sigs[1]?.base64 as string), 1700000000);
    // the same line with another timestamp in it fails (the time is signed)
    const raw = decodeBase64(line.split(' ')[2]?.trim() as string) as Uint8Array;
    new DataView(raw.buffer).setBigUint64(4, 1700000001n);
    const forged = `— witness.example/w1 ${Buffer.from(raw).toString('base64')}\n`;
    assert.throws(() => openNote(cp + forged, [newCosignatureVerifier(witnessKey.verifierKey)]), (e) => e instanceof NoteError && e.code === 'invalid-signature');
    // a cosignature is not a note signature: the 0x01 note key of the same name and public key has another key ID
    const pub = (decodeBase64(witnessKey.verifierKey.split('+').slice(2).join('+')) as Uint8Array).subarray(1);
    assert.throws(() => openNote(text + '\n' + line, [newVerifier(ed25519VerifierKey('witness.example/w1', pub))]), (e) => e instanceof NoteError && e.code === 'unverified');
  });

  it('refuses malformed keys: 0x01 keys, wrong key IDs, short keys', () => {
    const bad = (f: () => unknown) => assert.throws(f, (e) => e instanceof CosignatureError && e.code === 'bad-key');
    bad(() => newCosignatureVerifier(logKey.verifierKey)); // a note key (0x01)
    bad(() => newCosigner(logKey.signerKey));
    const [n, id] = witnessKey.verifierKey.split('+') as [string, string];
    const k = witnessKey.verifierKey.split('+').slice(2).join('+');
    bad(() => newCosignatureVerifier(`${n}+${(parseInt(id, 16) ^ 1).toString(16).padStart(8, '0')}+${k}`));
    bad(() => newCosignatureVerifier(`${n}+${id}+BAAA`));
    bad(() => newCosignatureVerifier(`${n}x+${id}+${k}`)); // the ID is of another name
    assert.throws(() => cosignedMessage('x\n', -1), CosignatureError);
    assert.throws(() => cosignedMessage('x\n', 2n ** 63n), CosignatureError);
  });

  it('K of N: counts distinct pinned witnesses, ignores unknown ones, fails closed on a bad pinned one', () => {
    const tree = grow(new Tree(), 3);
    const cp = checkpoint(tree);
    const text = cp.slice(0, cp.indexOf('\n\n') + 1);
    const w2 = generateCosignerKey('witness.example/w2');
    const w3 = generateCosignerKey('witness.example/w3');
    const stranger = generateCosignerKey('stranger.example');
    const note = cp + cosigner.cosign(text, 1) + newCosigner(w2.signerKey).cosign(text, 2) + newCosigner(stranger.signerKey).cosign(text, 3);
    const log = newVerifier(logKey.verifierKey);
    const pinned = [witnessKey.verifierKey, w2.verifierKey, w3.verifierKey];
    assert.equal(verifyCosignatures(note, log, pinned, 2).ok, true);
    assert.deepEqual(verifyCosignatures(note, log, pinned, 2).witnesses.map((w) => w.name), ['witness.example/w1', 'witness.example/w2']);
    assert.equal(verifyCosignatures(note, log, pinned, 3).ok, false);
    // a repeated cosignature counts once
    assert.equal(verifyCosignatures(note + cosigner.cosign(text, 1), log, [witnessKey.verifierKey, w3.verifierKey], 2).ok, false);
    assert.throws(() => verifyCosignatures(note, log, pinned, 4), (e) => e instanceof CosignatureError && e.code === 'witness-policy');
    assert.throws(() => verifyCosignatures(note, log, [w2.verifierKey, w2.verifierKey], 1), CosignatureError);
    // a cosignature of another checkpoint, pasted on, is invalid
    const other = grow(tree, 1);
    const otherText = checkpoint(other).split('\n\n')[0] + '\n';
    assert.throws(() => verifyCosignatures(cp + newCosigner(w3.signerKey).cosign(otherText, 4), log, pinned, 1), (e) => e instanceof NoteError && e.code === 'invalid-signature');
    // cosignatures without the log's signature are not enough
    const onlyWitness = `${text}\n${newCosigner(w2.signerKey).cosign(text, 5)}`;
    assert.throws(() => verifyCosignatures(onlyWitness, log, pinned, 1), (e) => e instanceof NoteError && e.code === 'unverified');
  });
});

describe('add-checkpoint request bodies (c2sp.org/tlog-witness)', () => {
  const EXAMPLE =
    'old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n' +
    'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
    '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
    '— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n';

  it('parses the spec example and writes it back byte for byte', () => {
    const r = parseAddCheckpoint(EXAMPLE);
    assert.equal(r.oldSize, 20852014);
    assert.equal(r.proof.length, 4);
    assert.ok(r.checkpoint.startsWith('example.com/behind-the-sofa\n20852163\n'));
    assert.equal(formatAddCheckpoint(r), EXAMPLE);
  });

  it('refuses malformed bodies', () => {
    const h = 'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n';
    for (const body of ['', 'old 1', 'old 01\n\nx\n', 'old -1\n\nx\n', 'old 1\n', 'new 1\n\nx\n', 'old 1\nAAAA\n\nx\n', `old 1\n${h.slice(1)}\nx\n`, `old 1\n${h}`, `old 1\n${h.repeat(64)}\nx\n`]) {
      assert.throws(() => parseAddCheckpoint(body), WitnessRequestError, JSON.stringify(body));
    }
    assert.equal(parseAddCheckpoint(`old 1\n${h.repeat(63)}\nx\n`).proof.length, 63);
  });
});

describe('the witness: add-checkpoint, status by status', () => {
  it('cosigns a first checkpoint from old size 0 (empty proof), then a consistent extension; the cosignature verifies', () => {
    const w = newWitness();
    const tree = grow(new Tree(), 7);
    const r1 = add(w, 0, [], checkpoint(tree));
    assert.equal(r1.status, 200, r1.body);
    assert.match(r1.body, /^— witness\.example\/w1 [A-Za-z0-9+/=]+\n$/);
    const cp7 = checkpoint(tree);
    const opened = openNote(cp7 + r1.body, [newCosignatureVerifier(witnessKey.verifierKey)]);
    assert.equal(cosignatureTimestamp(opened.sigs[0]?.base64 as string), T0 / 1000);
    grow(tree, 10);
    const r2 = add(w, 7, tree.prove(7), checkpoint(tree));
    assert.equal(r2.status, 200, r2.body);
    // the same checkpoint again (old size = size, same root, empty proof) is cosigned again
    assert.equal(add(w, 17, [], checkpoint(tree)).status, 200);
  });

  it('404 for an unknown origin, 403 for an unknown key or a bad signature by the trusted key', () => {
    const w = newWitness();
    const tree = grow(new Tree(), 3);
    const other = generateKey('other.example/log');
    assert.equal(add(w, 0, [], checkpoint(tree, 3, newSigner(other.signerKey), 'other.example/log')).status, 404);
    // the right origin signed by a key the witness does not trust for it
    const impostor = newSigner(generateKey(ORIGIN).signerKey);
    const r = add(w, 0, [], checkpoint(tree, 3, impostor));
    assert.equal(r.status, 403);
    assert.equal(r.reason, 'unverified_signature');
    // the trusted key's signature line, over another text
    const good = checkpoint(tree);
    const sig = good.slice(good.indexOf('\n\n') + 2);
    const tampered = formatCheckpoint({ origin: ORIGIN, size: 3, rootHash: new Uint8Array(32) }) + '\n' + sig;
    assert.equal(add(w, 0, [], tampered).status, 403);
    // unknown signatures are ignored when a trusted one verifies
    const both = signNote(formatCheckpoint({ origin: ORIGIN, size: 3, rootHash: tree.root() }), [impostor, logSigner]);
    assert.equal(add(w, 0, [], both).status, 200);
  });

  it('400 for a malformed body or checkpoint, and for an old size above the checkpoint size', () => {
    const w = newWitness();
    const tree = grow(new Tree(), 4);
    assert.equal(w.addCheckpoint('old 0\n').status, 400);
    assert.equal(w.addCheckpoint(new Uint8Array([0x6f, 0x6c, 0x64, 0x20, 0x30, 0x0a, 0x0a, 0xff, 0x0a])).status, 400); // not UTF-8
    assert.equal(w.addCheckpoint(`old 0\n\n${signNote('example.com/log\nfour\nAAAA\n', [logSigner])}`).status, 400);
    const r = add(w, 5, [], checkpoint(tree));
    assert.equal(r.status, 400);
    assert.equal(r.reason, 'old_size_too_large');
  });

  it('409 with the latest cosigned size as text/x.tlog.size when the old size is not it (stale, or ahead)', () => {
    const w = newWitness();
    const tree = grow(new Tree(), 10);
    assert.equal(add(w, 0, [], checkpoint(tree)).status, 200);
    grow(tree, 5);
    for (const old of [0, 4, 12]) {
      const r = add(w, old, tree.prove(old), checkpoint(tree));
      assert.equal(r.status, 409, `old ${old}`);
      assert.equal(r.contentType, SIZE_CONTENT_TYPE);
      assert.equal(r.body, '10\n');
    }
    // a client that learnt the size from the 409 succeeds
    assert.equal(add(w, 10, tree.prove(10), checkpoint(tree)).status, 200);
    // rollback: the log's older checkpoint (size 10) is now stale
    const old10 = signNote(formatCheckpoint({ origin: ORIGIN, size: 10, rootHash: tree.root(10) }), [logSigner]);
    const rb = add(w, 10, [], old10);
    assert.equal(rb.status, 409);
    assert.equal(rb.body, '15\n');
    // a fresh witness has cosigned nothing: size 0
    assert.equal(add(newWitness(), 10, tree.prove(10), checkpoint(tree)).body, '0\n');
  });

  it('422 when the consistency proof does not verify: wrong hash, short, long, non-empty from 0', () => {
    const w = newWitness();
    const tree = grow(new Tree(), 6);
    assert.equal(add(w, 0, [new Uint8Array(32)], checkpoint(tree)).status, 422); // proof must be empty from 0
    assert.equal(add(w, 0, [], checkpoint(tree)).status, 200);
    grow(tree, 7);
    const proof = tree.prove(6);
    const flipped = proof.map((h) => new Uint8Array(h));
    flip(flipped[0] as Uint8Array, 0);
    for (const [name, p] of [['flipped', flipped], ['short', proof.slice(1)], ['long', [...proof, new Uint8Array(32)]], ['empty', []]] as const) {
      const r = add(w, 6, [...p], checkpoint(tree));
      assert.equal(r.status, 422, name);
      assert.equal(r.reason, 'inconsistent');
    }
    // the state did not move: the right proof from 6 still works
    assert.equal(add(w, 6, proof, checkpoint(tree)).status, 200);
  });

  it('the state survives a restart, and refusals are recorded as evidence', () => {
    const file = newDb();
    const tree = grow(new Tree(), 9);
    let state = new WitnessState(file);
    assert.equal(add(newWitness(state), 0, [], checkpoint(tree)).status, 200);
    state.close();
    state = new WitnessState(file);
    assert.equal(state.latest(ORIGIN)?.size, 9);
    const w = newWitness(state);
    assert.equal(add(w, 0, [], checkpoint(tree)).body, '9\n');
    assert.deepEqual(state.refusals(ORIGIN), [], 'a stale old size is no evidence');
    // conflicting checkpoints are kept, once per checkpoint text and reason, however often replayed
    const other = grow(new Tree(), 9, 'other');
    const conflicting = checkpoint(other);
    for (let i = 0; i < 3; i++) assert.equal(add(w, 9, [], conflicting).status, 409);
    grow(other, 2, 'other');
    assert.equal(add(w, 9, other.prove(9), checkpoint(other)).status, 422);
    assert.equal(add(w, 9, other.prove(9), signNote(checkpoint(other).split('\n\n')[0] + '\n', [logSigner, newSigner(generateKey('x').signerKey)])).status, 422); // same text, other signature lines
    const kept = state.refusals(ORIGIN);
    assert.deepEqual(kept.map((r) => [r.status, r.reason, r.checkpoint.split('\n')[1]]), [[409, 'root_mismatch', '9'], [422, 'inconsistent', '11']]);
    assert.equal(kept[0]?.request, formatAddCheckpoint({ oldSize: 9, proof: [], checkpoint: conflicting }));
    state.close();
    // and they survive a restart
    state = new WitnessState(file);
    assert.equal(state.refusals().length, 2);
    state.close();
  });

  it('two witnesses on one state file (two connections, as two processes) read the record inside the transaction: no rollback', () => {
    const file = newDb();
    const a = new WitnessState(file);
    const b = new WitnessState(file);
    const wa = newWitness(a);
    const wb = newWitness(b);
    const tree = grow(new Tree(), 8);
    const small = checkpoint(tree);
    grow(tree, 8);
    assert.equal(add(wa, 0, [], checkpoint(tree)).status, 200); // size 16 through one connection
    const late = add(wb, 0, [], small); // the race's request A, arriving second through the other
    assert.equal(late.status, 409);
    assert.equal(late.body, '16\n');
    assert.equal(b.latest(ORIGIN)?.size, 16);
    a.close();
    b.close();
  });

  it('refuses a configuration with a bad log key or a log twice', () => {
    const state = new WitnessState(newDb());
    assert.throws(() => new Witness({ cosigner, logs: [{ origin: ORIGIN, verifierKeys: ['nope'] }], state }), NoteError);
    assert.throws(() => new Witness({ cosigner, logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }, { origin: ORIGIN, verifierKeys: [logKey.verifierKey] }], state }));
    assert.throws(() => new Witness({ cosigner, logs: [{ origin: ORIGIN, verifierKeys: [] }], state }));
    state.close();
  });
});

describe('split view: a forked log (same origin, same key, two inconsistent trees)', () => {
  it('the witness cosigns one branch and refuses the other at every size, and K-of-N verification rejects the fork', () => {
    const w = newWitness();
    const honest = grow(new Tree(), 20, 'shared');
    const fork = grow(new Tree(), 20, 'shared');
    assert.deepEqual(fork.root(), honest.root());
    assert.equal(add(w, 0, [], checkpoint(honest)).status, 200);
    grow(honest, 5, 'honest');
    grow(fork, 5, 'evil'); // same first 20 leaves, then different ones: both extend size 20
    const honestCp = checkpoint(honest);
    const forkCp = checkpoint(fork);
    // both branches are validly signed by the one log key
    openNote(honestCp, [newVerifier(logKey.verifierKey)]);
    openNote(forkCp, [newVerifier(logKey.verifierKey)]);
    const ok = add(w, 20, honest.prove(20), honestCp);
    assert.equal(ok.status, 200);
    // the fork at the same size: 409 (root differs)
    const same = add(w, 25, [], forkCp);
    assert.equal(same.status, 409);
    assert.equal(same.reason, 'root_mismatch');
    // the fork grown further, proved from its own size 25: 422
    grow(fork, 3, 'evil');
    const further = add(w, 25, fork.prove(25), checkpoint(fork));
    assert.equal(further.status, 422);
    // or from the shared prefix: 409 (stale size)
    assert.equal(add(w, 20, fork.prove(20), checkpoint(fork)).status, 409);
    assert.deepEqual(w.origins(), [ORIGIN]);

    // a verifier requiring this witness accepts the honest view and rejects the fork's
    const log = newVerifier(logKey.verifierKey);
    assert.equal(verifyCosignatures(honestCp + ok.body, log, [witnessKey.verifierKey], 1).ok, true);
    assert.equal(verifyCosignatures(checkpoint(fork), log, [witnessKey.verifierKey], 1).ok, false);
    // the honest cosignature pasted onto the fork's checkpoint of the same size does not verify
    assert.throws(() => verifyCosignatures(forkCp + ok.body, log, [witnessKey.verifierKey], 1), (e) => e instanceof NoteError && e.code === 'invalid-signature');
  });
});

describe('properties: random trees, random old sizes', () => {
  it('a consistent extension is always cosigned; any other old size is 409 with the right size; a corrupted proof is 422', () => {
    withSeedSync(testSeed(), (r) => {
      for (let round = 0; round < 25; round++) {
        const w = newWitness();
        const tree = new Tree();
        let cosigned = 0;
        for (let step = 0; step < 6; step++) {
          grow(tree, r.int(0, 40), `r${round}`);
          const cp = checkpoint(tree);
          // a wrong old size
          const wrong = r.int(0, tree.size);
          if (wrong !== cosigned) {
            const bad = add(w, wrong, tree.prove(wrong), cp);
            assert.equal(bad.status, 409, `old ${wrong} vs ${cosigned}`);
            assert.equal(bad.body, `${cosigned}\n`);
          }
          const proof = tree.prove(cosigned);
          if (proof.length > 0) {
            const i = r.int(0, proof.length - 1);
            const corrupt = proof.map((h) => new Uint8Array(h));
            flip(corrupt[i] as Uint8Array, r.int(0, 31), 1 << r.int(0, 7));
            assert.equal(add(w, cosigned, corrupt, cp).status, 422, `corrupt hash ${i} of ${proof.length}, ${cosigned} -> ${tree.size}`);
          }
          const good = add(w, cosigned, proof, cp);
          assert.equal(good.status, 200, `${cosigned} -> ${tree.size}: ${good.body}`);
          verifyCosignatures(cp + good.body, newVerifier(logKey.verifierKey), [witnessKey.verifierKey], 1);
          cosigned = tree.size;
        }
      }
    });
  });

  it('a leaf changed anywhere below the cosigned size makes every later extension 409 or 422, never 200', () => {
    withSeedSync(testSeed(), (r) => {
      for (let round = 0; round < 25; round++) {
        const w = newWitness();
        const n = r.int(1, 60);
        const honest = grow(new Tree(), n, `p${round}`);
        assert.equal(add(w, 0, [], checkpoint(honest)).status, 200);
        const changed = r.int(0, n - 1);
        const fork = new Tree();
        for (let i = 0; i < n; i++) fork.append(new TextEncoder().encode(i === changed ? `evil-${i}` : `p${round}-${i}`));
        grow(fork, r.int(0, 30), 'evil');
        const from = r.pick([n, fork.size, r.int(0, fork.size)]);
        const res = add(w, from, fork.prove(Math.min(from, fork.size)), checkpoint(fork));
        assert.ok(res.status === 409 || res.status === 422, `changed leaf ${changed} of ${n}, fork ${fork.size}, from ${from}: ${res.status}`);
      }
    });
  });
});


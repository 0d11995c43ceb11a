/**
 * C2SP tlog-proof@v1 files (src/tlog/proof-file.ts): the example of
 * c2sp.org/tlog-proof byte for byte, round trips over a real tree, and tamper
 * tests that each fail at the check that should catch them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts'; // node:crypto's Ed25519 (and SHA-256) for the tlog modules
import { formatCheckpoint } from '../src/tlog/checkpoint.ts';
import { proveRecord, storedHashIndex, storedHashes, treeHash, type HashReader } from '../src/tlog/merkle.ts';
import { generateKey, newSigner, signNote } from '../src/tlog/note.ts';
import {
  ProofFileError, TLOG_PROOF_HEADER, formatProofFile, parseProofFile, verifyProofFile, type ProofCheckName, type ProofVerification,
} from '../src/tlog/proof-file.ts';

/** XORs byte `at` of `h` with `mask`, in place. */
function flip(h: Uint8Array, at: number, mask: number): void {
  h[at] = (h[at] ?? 0) ^ mask;
}

// c2sp.org/tlog-proof, "Format" example (its signatures are elided with [...] there).
const C2SP_EXAMPLE = `c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw[...]1roloI=
— witness1.example mJirIklj[...]qY9v2B/5bg==
— witness2.example TnKKVHLX[...]xwYwrSjgow==
— witness3.example S4X82uH5[...]3oEcROGLFQ==
`;

const ORIGIN = 'log.example/writ';
const { signerKey, verifierKey } = generateKey(ORIGIN);
const signer = newSigner(signerKey);

// A log of 41 entries; checkpoints at size 41.
const SIZE = 41;
const store = new Map<number, Uint8Array>();
const reader: HashReader = (indexes) => indexes.map((i) => store.get(i) as Uint8Array);
const entries = Array.from({ length: SIZE }, (_, n) => new TextEncoder().encode(`{"type":"decision","v":1,"n":${n}}`));
entries.forEach((e, n) => storedHashes(n, e, reader).forEach((h, j) => store.set(storedHashIndex(0, n) + j, h)));
const ROOT = treeHash(SIZE, reader);
const signedCheckpoint = (origin = ORIGIN, size = SIZE, rootHash = ROOT): string => signNote(formatCheckpoint({ origin, size, rootHash }), [signer]);
const CHECKPOINT = signedCheckpoint();

function proofFile(index: number, o: { checkpoint?: string; extra?: Uint8Array; proofIndex?: number } = {}): string {
  const proof = proveRecord(SIZE, o.proofIndex ?? index, reader);
  return formatProofFile({ index, proof, checkpoint: o.checkpoint ?? CHECKPOINT, ...(o.extra ? { extra: o.extra } : {}) });
}

const ORDER: ProofCheckName[] = ['format', 'log-key', 'signature', 'checkpoint', 'origin', 'index', 'inclusion'];

/** Asserts the result fails, and first (and, skips aside, only) at `check`. */
function failsAt(r: ProofVerification, check: ProofCheckName, detail?: RegExp): void {
  assert.equal(r.ok, false);
  assert.deepEqual(r.checks.map((c) => c.name), ORDER);
  const failed = r.checks.filter((c) => !c.ok && !c.skipped);
  assert.deepEqual(failed.map((c) => c.name), [check], JSON.stringify(r.checks));
  if (detail) assert.match(failed[0]?.detail ?? '', detail);
  const at = ORDER.indexOf(check);
  for (const c of r.checks.slice(0, at)) assert.ok(c.ok, `${c.name} before ${check}`);
}

describe('tlog-proof@v1 format', () => {
  it('parses and re-formats the C2SP example byte for byte', () => {
    const p = parseProofFile(C2SP_EXAMPLE);
    assert.equal(p.index, 73894);
    assert.equal(p.proof.length, 5);
    assert.equal(Buffer.from(p.extra ?? []).subarray(0, 30).toString(), 'age-v1.2.1-darwin-arm64.tar.gz');
    assert.ok(p.checkpoint.startsWith('example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n— example.com/fancylog '));
    assert.equal(formatProofFile(p), C2SP_EXAMPLE);
  });

  it('round-trips every index, with and without extra data', () => {
    for (let i = 0; i < SIZE; i++) {
      const extra = i % 2 ? Uint8Array.of(1, 2, 3, i) : undefined;
      const text = proofFile(i, extra ? { extra } : {});
      assert.ok(text.startsWith(`${TLOG_PROOF_HEADER}\n${extra ? 'extra AQID' : 'index'}`));
      const p = parseProofFile(text);
      assert.equal(p.index, i);
      assert.equal(p.checkpoint, CHECKPOINT);
      assert.equal(formatProofFile(p), text);
      const r = verifyProofFile(text, entries[i] as Uint8Array, verifierKey);
      assert.ok(r.ok, JSON.stringify(r.checks));
      assert.deepEqual(r.checks.map((c) => [c.name, c.ok]), ORDER.map((n) => [n, true]));
      assert.equal(r.checkpoint?.size, SIZE);
    }
  });

  it('verifies a proof in a one-entry log (empty inclusion proof)', () => {
    const one = new TextEncoder().encode('only');
    const checkpoint = signNote(formatCheckpoint({ origin: ORIGIN, size: 1, rootHash: storedHashes(0, one, reader)[0] as Uint8Array }), [signer]);
    const text = formatProofFile({ index: 0, proof: [], checkpoint });
    assert.ok(text.includes('index 0\n\nlog.example/writ\n1\n'));
    assert.ok(verifyProofFile(text, one, verifierKey).ok);
  });

  it('rejects malformed files', () => {
    const good = proofFile(3);
    const bad = [
      '',
      'c2sp.org/tlog-proof@v2\nindex 0\n\n' + CHECKPOINT,
      good.replace('\n', '\r\n'),
      good.replace('index 3', 'index 03'),
      good.replace('index 3', 'index -3'),
      good.replace('index 3', 'index  3'),
      good.replace('index 3', 'idx 3'),
      good.replace(`${TLOG_PROOF_HEADER}\n`, `${TLOG_PROOF_HEADER}\nextra !!\n`),
      good.replace(/\n\n[^]*$/, '\n'), // no checkpoint
      good.replace(/index 3\n[^\n]+\n/, 'index 3\nAAAA\n'), // short hash
      good.replace(/index 3\n[^\n]+\n/, 'index 3\nnot base64\n'),
    ];
    for (const t of bad) assert.throws(() => parseProofFile(t), ProofFileError, JSON.stringify(t.slice(0, 60)));
  });
});

describe('verifyProofFile tamper tests', () => {
  it('altered entry fails inclusion', () => {
    const e = Uint8Array.from(entries[7] as Uint8Array);
    e[5] = (e[5] as number) ^ 1;
    failsAt(verifyProofFile(proofFile(7), e, verifierKey), 'inclusion', /root hash/);
    failsAt(verifyProofFile(proofFile(7), entries[8] as Uint8Array, verifierKey), 'inclusion');
  });

  it('altered checkpoint root fails the signature', () => {
    const other = Buffer.from(treeHash(SIZE - 1, reader)).toString('base64');
    const text = proofFile(7).replace(Buffer.from(ROOT).toString('base64'), other);
    const r = verifyProofFile(text, entries[7] as Uint8Array, verifierKey);
    failsAt(r, 'signature', /invalid signature/);
    assert.ok(r.checks.slice(3).every((c) => c.skipped));
  });

  it('a wrong root signed by the log fails inclusion', () => {
    const text = proofFile(7, { checkpoint: signedCheckpoint(ORIGIN, SIZE, treeHash(SIZE - 1, reader)) });
    failsAt(verifyProofFile(text, entries[7] as Uint8Array, verifierKey), 'inclusion');
  });

  it('altered signature fails the signature', () => {
    const text = proofFile(7);
    const i = text.lastIndexOf(' ') + 20; // inside the base64 of the log's signature
    const altered = text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);
    failsAt(verifyProofFile(altered, entries[7] as Uint8Array, verifierKey), 'signature', /invalid signature/);
  });

  it('wrong verifier key fails the signature; a malformed one fails log-key', () => {
    const sameName = generateKey(ORIGIN).verifierKey;
    failsAt(verifyProofFile(proofFile(7), entries[7] as Uint8Array, sameName), 'signature', /no verifiable signatures/);
    failsAt(verifyProofFile(proofFile(7), entries[7] as Uint8Array, generateKey('log.example/other').verifierKey), 'signature');
    failsAt(verifyProofFile(proofFile(7), entries[7] as Uint8Array, verifierKey.slice(0, -2)), 'log-key');
  });

  it('wrong origin fails origin', () => {
    const text = proofFile(7, { checkpoint: signedCheckpoint('log.example/elsewhere') });
    failsAt(verifyProofFile(text, entries[7] as Uint8Array, verifierKey), 'origin', /elsewhere/);
  });

  it('index >= size fails index', () => {
    for (const index of [SIZE, SIZE + 5]) {
      const text = formatProofFile({ index, proof: proveRecord(SIZE, SIZE - 1, reader), checkpoint: CHECKPOINT });
      const r = verifyProofFile(text, entries[SIZE - 1] as Uint8Array, verifierKey);
      failsAt(r, 'index', /not below tree size/);
      assert.equal(r.checks.at(-1)?.skipped, true);
    }
  });

  it('another index, or an altered proof hash, fails inclusion', () => {
    failsAt(verifyProofFile(proofFile(8, { proofIndex: 7 }), entries[7] as Uint8Array, verifierKey), 'inclusion');
    const p = parseProofFile(proofFile(7));
    flip(p.proof[2] as Uint8Array, 0, 1);
    failsAt(verifyProofFile(formatProofFile(p), entries[7] as Uint8Array, verifierKey), 'inclusion');
    p.proof.pop();
    failsAt(verifyProofFile(formatProofFile(p), entries[7] as Uint8Array, verifierKey), 'inclusion', /too short/);
  });

  it('a malformed file fails format and skips the rest', () => {
    const r = verifyProofFile('hello\n', entries[0] as Uint8Array, verifierKey);
    failsAt(r, 'format');
    assert.deepEqual(r.checks.filter((c) => c.skipped).map((c) => c.name), ['signature', 'checkpoint', 'origin', 'index', 'inclusion']);
  });
});

/**
 * C2SP signed-note and tlog-checkpoint (src/tlog/note.ts, src/tlog/checkpoint.ts).
 *
 * Published vectors: golang.org/x/mod sumdb/note note_test.go (the PeterNeumann
 * signer and verifier keys, its signed note byte for byte, the EnochRoot
 * signature, and the Open/NewVerifier/NewSigner rejection cases); a signed tree
 * head of sum.golang.org verified with the Go checksum database key published in
 * golang/go src/cmd/go/internal/modfetch/key.go.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts'; // node:crypto's Ed25519 (and SHA-256) for the tlog modules
import { formatCheckpoint, parseCheckpoint } from '../src/tlog/checkpoint.ts';
import {
  NoteError, decodeBase64, ed25519SignerKey, ed25519VerifierKey, generateKey, keyId, newSigner, newVerifier, openNote, signNote,
  type NoteErrorCode, type NoteSigner,
} from '../src/tlog/note.ts';

const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const PETER = { name: 'PeterNeumann', keyId: 0xc74f20a3, base64: 'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=' };
const ENOCH = { name: 'EnochRoot', keyId: 0xaf0cfe78, base64: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=' };

// golang/go src/cmd/go/internal/modfetch/key.go, and a sum.golang.org signed tree head.
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_NOTE = 'go.sum database tree\n15368405\n/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=\n\n— sum.golang.org Az3grqJGUaSGukG9p8nI2vKgiFn7qGHxn0W+mrwyI6Gz3F0t1J3LzmWk/p96Ybf295EjwdSwlzgijq5WA9d1Ded7owM=\n';

function throwsNote(f: () => unknown, code: NoteErrorCode, message?: string): void {
  assert.throws(f, (e) => e instanceof NoteError && e.code === code && (message === undefined || e.message === message), `${code} ${message ?? ''}`);
}

/** Every proper substring, and every one-character increment, of a key must be rejected. */
function mangled(key: string): string[] {
  const out: string[] = [];
  for (let i = 0; i <= key.length; i++) for (let j = i + 1; j <= key.length; j++) if (i !== 0 || j !== key.length) out.push(key.slice(i, j));
  for (let i = 0; i < key.length; i++) out.push(key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1));
  return out;
}

describe('signed-note keys (sumdb/note TestNewVerifier, TestNewSigner, TestGenerateKey)', () => {
  it('parses the PeterNeumann keys and rejects every mangling', () => {
    const v = newVerifier(PETER_VKEY);
    assert.equal(v.name, 'PeterNeumann');
    assert.equal(v.keyId, 0xc74f20a3);
    for (const k of mangled(PETER_VKEY)) throwsNote(() => newVerifier(k), 'bad-key');
    throwsNote(() => newVerifier('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='), 'bad-key'); // wrong length, adjusted ID
    throwsNote(() => newVerifier('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'bad-key'); // unknown algorithm, adjusted ID
    const s = newSigner(PETER_SKEY);
    assert.equal(s.name, 'PeterNeumann');
    assert.equal(s.keyId, 0xc74f20a3);
    for (const k of mangled(PETER_SKEY)) throwsNote(() => newSigner(k), 'bad-key');
  });

  it('derives the key ID as SHA-256(name || 0x0A || 0x01 || public key)[:4]', () => {
    const key = decodeBase64(PETER_VKEY.split('+')[2] as string) as Uint8Array;
    assert.equal(key[0], 0x01);
    const want = createHash('sha256').update('PeterNeumann\n').update(key).digest().subarray(0, 4).toString('hex');
    assert.equal(want, 'c74f20a3');
    assert.equal(keyId('PeterNeumann', key), 0xc74f20a3);
    assert.equal(ed25519VerifierKey('PeterNeumann', key.subarray(1)), PETER_VKEY);
    const seed = (decodeBase64(PETER_SKEY.split('+').slice(4).join('+')) as Uint8Array).subarray(1);
    assert.equal(ed25519SignerKey('PeterNeumann', seed), PETER_SKEY);
  });

  it('generates self-consistent key pairs', () => {
    const { signerKey, verifierKey } = generateKey('EnochRoot');
    const s = newSigner(signerKey);
    const v = newVerifier(verifierKey);
    assert.equal(s.keyId, v.keyId);
    const msg = new TextEncoder().encode('hi');
    const sig = s.sign(msg);
    assert.ok(v.verify(msg, sig));
    sig[0] = (sig[0] as number) ^ 1;
    assert.ok(!v.verify(msg, sig));
    assert.ok(!v.verify(new TextEncoder().encode('hj'), s.sign(msg)));
    throwsNote(() => ed25519VerifierKey('EnochRoot', new Uint8Array(31)), 'bad-key');
    throwsNote(() => generateKey('bad name'), 'bad-key');
  });
});

describe('signNote and openNote (sumdb/note TestSign, TestOpen)', () => {
  const peter = newVerifier(PETER_VKEY);
  const enoch = newVerifier(ENOCH_VKEY);

  it('signs the PeterNeumann note byte for byte', () => {
    assert.equal(signNote(TEXT, [newSigner(PETER_SKEY)]), `${TEXT}\n${PETER_SIG}`);
    throwsNote(() => signNote('abc', [newSigner(PETER_SKEY)]), 'malformed', 'malformed note');
    const bad: NoteSigner = { ...newSigner(PETER_SKEY), name: 'bad name' };
    throwsNote(() => signNote(TEXT, [bad]), 'invalid-signer', 'invalid signer');
  });

  it('verifies known signatures and keeps unknown ones unverified', () => {
    let n = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter]);
    assert.equal(n.text, TEXT);
    assert.deepEqual(n.sigs, [PETER]);
    assert.deepEqual(n.unverifiedSigs, [ENOCH]);
    n = openNote(new TextEncoder().encode(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`), [peter, enoch]);
    assert.deepEqual(n.sigs, [PETER, ENOCH]);
    assert.deepEqual(n.unverifiedSigs, []);
  });

  it('requires at least one known signature', () => {
    assert.throws(
      () => openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, []),
      (e) => e instanceof NoteError && e.code === 'unverified' && e.message === 'note has no verifiable signatures' &&
        e.note?.sigs.length === 0 && e.note.unverifiedSigs.length === 2,
    );
  });

  it('rejects ambiguous keys, too many signatures and invalid signatures', () => {
    throwsNote(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch, peter, enoch]), 'ambiguous-key', 'ambiguous key EnochRoot+af0cfe78');
    openNote(`${TEXT}\n${PETER_SIG}`, [enoch, peter, enoch]); // unused duplicate is fine
    throwsNote(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [peter]), 'malformed', 'malformed note');
    throwsNote(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, []), 'malformed', 'malformed note');
    assert.equal(openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [peter]).sigs.length, 1);
    // Go's peterSig[:60] counts bytes; the em dash is 3 bytes but 1 UTF-16 unit, so 58 here.
    const badPeter = `${PETER_SIG.slice(0, 58)}ABCD${PETER_SIG.slice(58)}`;
    throwsNote(() => openNote(`${TEXT}\n${badPeter}`, [peter]), 'invalid-signature', 'invalid signature for key PeterNeumann+c74f20a3');
  });

  it('drops duplicated verified and unverified signatures', () => {
    const enochABCD = { ...ENOCH, base64: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n' + 'ABCD' + '2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=' };
    const badEnoch = `${ENOCH_SIG.slice(0, 58)}ABCD${ENOCH_SIG.slice(58)}`;
    const n = openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${badEnoch}`, [peter]);
    assert.deepEqual(n.sigs, [PETER]);
    assert.deepEqual(n.unverifiedSigs, [ENOCH, enochABCD]);
  });

  it('rejects malformed notes', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    const bad: (string | Uint8Array)[] = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${TEXT}\n${PETER_SIG}`,
      Buffer.concat([Uint8Array.of(0xff), enc(`${TEXT}\n${PETER_SIG}`)]),
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      // stricter than Go: CRLF, lone surrogates, non-canonical base64
      `${TEXT}\n${PETER_SIG.slice(0, -1)}\r\n`,
      `\ud800${TEXT}\n${PETER_SIG}`,
      `${TEXT}\n${PETER_SIG.replace('AM=', 'AN=')}`,
    ];
    for (const msg of bad) throwsNote(() => openNote(msg, [peter]), 'malformed', 'malformed note');
  });

  it('round-trips with generated keys and detects any change to the text', () => {
    const { signerKey, verifierKey } = generateKey('log.example/writ');
    const other = generateKey('log.example/writ');
    const signed = signNote('log.example/writ\n1\nAAAA\n', [newSigner(signerKey), newSigner(other.signerKey)]);
    const v = newVerifier(verifierKey);
    assert.equal(openNote(signed, [v]).unverifiedSigs.length, 1);
    throwsNote(() => openNote(signed.replace('\n1\n', '\n2\n'), [v]), 'invalid-signature');
    // the same name with another key is an unknown key, not a known one
    throwsNote(() => openNote(signNote('x\n', [newSigner(other.signerKey)]), [v]), 'unverified');
  });
});

describe('tlog-checkpoint', () => {
  it('opens and parses a sum.golang.org signed tree head', () => {
    const n = openNote(SUMDB_NOTE, [newVerifier(SUMDB_VKEY)]);
    assert.deepEqual(n.sigs.map((s) => s.keyId), [0x033de0ae]);
    const c = parseCheckpoint(n.text);
    assert.equal(c.origin, 'go.sum database tree');
    assert.equal(c.size, 15368405);
    assert.equal(Buffer.from(c.rootHash).toString('base64'), '/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=');
    assert.equal(formatCheckpoint(c), n.text);
    throwsNote(() => openNote(SUMDB_NOTE.replace('15368405', '15368406'), [newVerifier(SUMDB_VKEY)]), 'invalid-signature');
  });

  it('formats the C2SP example layout, with extensions', () => {
    const rootHash = new Uint8Array(Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64'));
    const text = formatCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash });
    assert.equal(text, 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n');
    const ext = formatCheckpoint({ origin: 'o', size: 0, rootHash, extensions: ['a b', 'c'] });
    assert.deepEqual(parseCheckpoint(ext).extensions, ['a b', 'c']);
    assert.throws(() => formatCheckpoint({ origin: '', size: 1, rootHash }));
    assert.throws(() => formatCheckpoint({ origin: 'o', size: -1, rootHash }));
    assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: rootHash.subarray(1) }));
    assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash, extensions: [''] }));
  });

  it('parses strictly', () => {
    const h = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
    assert.equal(parseCheckpoint(`o\n0\n${h}\n`).size, 0);
    const bad = [
      `o\n1\n${h}`, // no final newline
      `o\n1\n`, // two lines
      `\n1\n${h}\n`, // empty origin
      `o\n01\n${h}\n`, // leading zero
      `o\n+1\n${h}\n`,
      `o\n-1\n${h}\n`,
      `o\n1.0\n${h}\n`,
      `o\n 1\n${h}\n`,
      `o\n9007199254740992\n${h}\n`, // 2^53: not a safe integer
      `o\n1\n${h.slice(0, -4)}\n`, // short hash
      `o\n1\n${h.replace('=', '')}\n`, // unpadded
      `o\n1\n${h}\n\n`, // empty extension line
      `o\r\n1\n${h}\n`,
    ];
    for (const t of bad) assert.throws(() => parseCheckpoint(t), /checkpoint|tree size|root hash/, JSON.stringify(t));
  });
});

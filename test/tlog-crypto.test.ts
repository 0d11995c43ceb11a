/**
 * The tlog modules' injected primitives (src/tlog/crypto.ts): the JavaScript SHA-256 and
 * base64 give the bytes node:crypto and Buffer give; there is no Ed25519 until one is
 * installed (src/ledger/node-crypto.ts in Node); a wrong SHA-256 is refused.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeBase64, encodeBase64 } from '../src/tlog/base64.ts';
import { ed25519, sha256, useCrypto } from '../src/tlog/crypto.ts';
import { EMPTY_TREE_HASH, leafHash, nodeHash } from '../src/tlog/merkle.ts';
import { newVerifier } from '../src/tlog/note.ts';
import { sha256js } from '../src/tlog/sha256.ts';
import { WritError } from '../src/writ/errors.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nodeHex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('SHA-256 in JavaScript', () => {
  it('has the FIPS 180-4 values', () => {
    const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
    assert.equal(hex(sha256js(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(hex(sha256js(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hex(sha256js(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    assert.equal(hex(sha256js(new Uint8Array(1_000_000).fill(0x61))), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('agrees with node:crypto at every padding boundary and on random inputs', () => {
    for (let n = 0; n <= 300; n++) {
      const b = randomBytes(n);
      assert.equal(hex(sha256js(b)), nodeHex(b), `${n} bytes`);
    }
    for (const n of [1000, 4095, 4096, 65_537]) {
      const b = randomBytes(n);
      assert.equal(hex(sha256js(b)), nodeHex(b), `${n} bytes`);
    }
    // a view into a larger buffer hashes only its own bytes
    const big = randomBytes(100);
    assert.equal(hex(sha256js(big.subarray(10, 50))), nodeHex(big.subarray(10, 50)));
  });
});

describe('base64 without Buffer', () => {
  it('encodes as Buffer does and decodes only the canonical encoding', () => {
    for (let n = 0; n <= 70; n++) {
      const b = randomBytes(n);
      const s = b.toString('base64');
      assert.equal(encodeBase64(b), s);
      assert.deepEqual(decodeBase64(s), new Uint8Array(b));
    }
    for (const bad of ['A', 'AA=', 'AB==', 'AAB=', 'A===', '====', 'AA==AA==', 'AA AA', 'AA-_', 'Zm9v\n']) assert.equal(decodeBase64(bad), undefined, bad);
  });
});

describe('the installed primitives', () => {
  it('hash with the JavaScript SHA-256 until one is installed, and has no Ed25519', () => {
    assert.equal(hex(EMPTY_TREE_HASH), nodeHex(new Uint8Array(0)));
    assert.equal(hex(leafHash(Uint8Array.of(1, 2))), nodeHex(Uint8Array.of(0, 1, 2)));
    assert.throws(() => ed25519(), (e) => e instanceof WritError && e.code === 'crypto_unavailable');
    const vkey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
    assert.throws(() => newVerifier(vkey), (e) => e instanceof WritError && e.code === 'crypto_unavailable');
  });

  it('refuses a SHA-256 that is not one', () => {
    assert.throws(() => useCrypto({ sha256: (d) => d.slice(0, 32) }), (e) => e instanceof WritError && e.code === 'crypto_unavailable');
    assert.equal(hex(sha256(Uint8Array.of(0x61, 0x62, 0x63))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('uses node:crypto once ledger/node-crypto.ts is imported', async () => {
    const { nodeSha256 } = await import('../src/ledger/node-crypto.ts');
    assert.ok(ed25519());
    const a = randomBytes(32);
    const b = randomBytes(32);
    assert.equal(hex(nodeHash(a, b)), nodeHex(Buffer.concat([Buffer.of(1), a, b])));
    assert.equal(hex(nodeSha256(a)), nodeHex(a));
    assert.equal(newVerifier('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW').name, 'PeterNeumann');
  });
});

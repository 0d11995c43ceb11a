/**
 * verifyRevocation (src/node/revocation-message.ts) accepts the authority's own revocations
 * under a pinned key, without a WebCrypto call in Node (no thread-pool hop on the propagation
 * path), and refuses everything else with verifyTyped's message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { signRevocation } from '../src/authority/revocation.ts';
import { REVOCATION_TYP, verifyRevocation } from '../src/node/revocation-message.ts';
import { SYNC_CRYPTO } from '../src/writ/sync-crypto.ts';

async function authority(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('Ed25519', { extractable: true });
  return { key: { kid, key: privateKey }, jwk: { ...(await exportJWK(publicKey)), kid } as JWK };
}

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

test('what the authority signs verifies; in Node with no WebCrypto call', async () => {
  const a = await authority('a1');
  const jws = await signRevocation({ kind: 'quarantine', value: 'Agent::"x"', reason: 'r' }, a.key);
  const subtle = globalThis.crypto.subtle;
  const saved = { verify: subtle.verify, digest: subtle.digest, importKey: subtle.importKey };
  // writ-sync-crypto.test.ts runs this file again without node:crypto: there WebCrypto is the way
  for (const name of SYNC_CRYPTO ? (Object.keys(saved) as (keyof typeof saved)[]) : []) {
    Object.defineProperty(subtle, name, { configurable: true, value: () => assert.fail(`WebCrypto ${name} called`) });
  }
  try {
    const r = await verifyRevocation(jws, [a.jwk]);
    assert.equal(r.kind, 'quarantine');
    assert.equal(r.value, 'Agent::"x"');
  } finally {
    for (const [name, value] of Object.entries(saved)) Object.defineProperty(subtle, name, { configurable: true, writable: true, value });
  }
});

test('verifyRevocation refuses every other key, signature, payload, typ and shape', async () => {
  const a = await authority('a1');
  const other = await authority('a1'); // same kid, another key
  const jws = await signRevocation({ kind: 'writ', value: 'j1', reason: 'r' }, a.key);
  const [h, p, s] = jws.split('.') as [string, string, string];
  const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`;
  const otherPayload = `${h}.${Buffer.from(JSON.stringify({ v: 1, kind: 'writ', value: 'j2', reason: 'r', iat: 1 })).toString('base64url')}.${s}`;
  const extraHeader = await new CompactSign(enc({ v: 1, kind: 'writ', value: 'j1', reason: 'r', iat: 1 })).setProtectedHeader({ alg: 'Ed25519', typ: REVOCATION_TYP, kid: 'a1', crit: ['b64'], b64: true }).sign(a.key.key);
  const wrongTyp = await new CompactSign(enc({ v: 1, kind: 'writ', value: 'j1', reason: 'r', iat: 1 })).setProtectedHeader({ alg: 'Ed25519', typ: 'writ-beacon+jwt', kid: 'a1' }).sign(a.key.key);
  const malformed = await new CompactSign(enc({ v: 2, kind: 'writ', value: 'j1' })).setProtectedHeader({ alg: 'Ed25519', typ: REVOCATION_TYP, kid: 'a1' }).sign(a.key.key);
  const privatePinned = { ...(await exportJWK(a.key.key)), kid: 'a1' } as JWK;
  const cases: [string, string, JWK[]][] = [
    ['another key under the same kid', jws, [other.jwk]],
    ['no pinned key of that kid', jws, [{ ...a.jwk, kid: 'a2' }]],
    ['a private key pinned', jws, [privatePinned]],
    ['a flipped signature', flipped, [a.jwk]],
    ['another payload', otherPayload, [a.jwk]],
    ['another typ', wrongTyp, [a.jwk]],
    ['malformed claims', malformed, [a.jwk]],
    ['not a JWS', 'a.b', [a.jwk]],
  ];
  for (const [what, m, keys] of cases) await assert.rejects(verifyRevocation(m, keys), Error, what);
  // a header with crit (here RFC 7797's b64, which jose would understand) is refused, since no
  // Writ message uses extensions and both ways of verifying (sync-crypto.ts) must refuse them alike
  await assert.rejects(verifyRevocation(extraHeader, [a.jwk]), /signature does not verify/);
});

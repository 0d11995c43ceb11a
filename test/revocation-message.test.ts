/**
 * The synchronous fast path of verifyRevocation (src/node/revocation-message.ts) accepts a
 * subset of what verifyTyped accepts: the authority's own revocations, under a pinned key;
 * everything else falls through to verifyTyped, which refuses it with its own message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { signRevocation } from '../src/authority/revocation.ts';
import { REVOCATION_TYP, verifyRevocation, verifyRevocationFast } from '../src/node/revocation-message.ts';

async function authority(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('Ed25519', { extractable: true });
  return { key: { kid, key: privateKey }, jwk: { ...(await exportJWK(publicKey)), kid } as JWK };
}

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

test('the fast path accepts what the authority signs, and agrees with verifyTyped', async () => {
  const a = await authority('a1');
  const jws = await signRevocation({ kind: 'quarantine', value: 'Agent::"x"', reason: 'r' }, a.key);
  const fast = verifyRevocationFast(jws, [a.jwk]);
  assert.equal(fast?.kind, 'quarantine');
  assert.equal(fast?.value, 'Agent::"x"');
  assert.deepEqual(await verifyRevocation(jws, [a.jwk]), fast);
});

test('the fast path vouches for nothing else; verifyRevocation refuses it as before', async () => {
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
  for (const [what, m, keys] of cases) {
    assert.equal(verifyRevocationFast(m, keys), null, what);
    await assert.rejects(verifyRevocation(m, keys), Error, what);
  }
  // a header the authority does not write is left to verifyTyped, which decides: one with crit
  // (here RFC 7797's b64, which jose would understand) is refused, since no Writ message uses
  // extensions and both ways of verifying (sync-crypto.ts) must refuse them alike
  assert.equal(verifyRevocationFast(extraHeader, [a.jwk]), null);
  await assert.rejects(verifyRevocation(extraHeader, [a.jwk]), /signature does not verify/);
});

/** verifyWrit, authenticity: garbage, truncated, forged, re-signed, wrong alg/typ/kid/pinned key and malformed claims all fail closed with their exact reason code (each attack first checks the genuine writ passes). */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { base64url, CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JSONWebKeySet } from 'jose';
import type { WritClaims } from '../src/writ/claims.ts';
import { signWrit } from '../src/writ/issue.ts';
import { memoryJtiStore, verifyWrit, verifyWritAuthenticity } from '../src/writ/verify.ts';
import { AUD, control, f, kid, mint, nodeKey, opts, REQ, rejectsWith, useVerifyFixture } from './writ-verify-fixture.ts';

const enc = (v: unknown) => base64url.encode(new TextEncoder().encode(JSON.stringify(v)));
const partsOf = (writ: string) => writ.split('.') as [string, string, string];
const payloadOf = (writ: string) => JSON.parse(new TextDecoder().decode(base64url.decode(partsOf(writ)[1]))) as WritClaims;

async function signRaw(header: Record<string, unknown>, payload: unknown, key: CryptoKey): Promise<string> {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : new TextEncoder().encode(JSON.stringify(payload));
  return new CompactSign(bytes).setProtectedHeader(header as { alg: string }).sign(key);
}

describe('verifyWrit', () => {
  useVerifyFixture();

  it('a genuine writ verifies and carries the claims the node issued', async () => {
    const { writ, claims } = await mint();
    const v = await verifyWrit(writ, opts({ consume: memoryJtiStore(), expect: { action: REQ.action, resource: REQ.resource, principal: REQ.principal } }));
    assert.deepEqual(v.claims, claims);
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(partsOf(writ)[0]))) as Record<string, unknown>;
    assert.deepEqual(header, { alg: 'Ed25519', typ: 'writ+jwt', kid });
  });

  it('rejects garbage and non-strings as writ_malformed', async () => {
    const { writ } = await mint();
    await control(writ);
    for (const bad of ['', 'garbage', 'a.b', 'a.b.c.d', '!!!.###.$$$', '%%.e30.e30', `${enc([1])}.${partsOf(writ)[1]}.${partsOf(writ)[2]}`, 'x'.repeat(20000)]) {
      await rejectsWith(verifyWrit(bad, opts()), 'writ_malformed');
    }
    for (const bad of [undefined, null, 42, {}, [writ], new TextEncoder().encode(writ), { toString: () => writ }]) {
      await rejectsWith(verifyWrit(bad, opts()), 'writ_malformed');
    }
    // well-formed JSON parts but an empty header: no alg, so no algorithm to accept
    await rejectsWith(verifyWrit('e30.e30.e30', opts()), 'writ_algorithm_rejected');
  });

  it('rejects truncated writs', async () => {
    const { writ } = await mint();
    await control(writ);
    const [h, p, s] = partsOf(writ);
    await rejectsWith(verifyWrit(`${h}.${p}.${s.slice(0, -4)}`, opts()), 'writ_signature_invalid');
    await rejectsWith(verifyWrit(`${h}.${p}.${s.slice(0, 10)}`, opts()), 'writ_signature_invalid');
    await rejectsWith(verifyWrit(`${h}.${p}.`, opts()), 'writ_malformed');
    await rejectsWith(verifyWrit(`${h}.${p}`, opts()), 'writ_malformed');
    await rejectsWith(verifyWrit(`${h}.${p.slice(0, -8)}.${s}`, opts()), 'writ_signature_invalid');
    await rejectsWith(verifyWrit(`${h}..${s}`, opts()), 'writ_signature_invalid');
    await rejectsWith(verifyWrit(writ.slice(0, writ.length / 2), opts()), 'writ_malformed');
  });

  it('rejects a writ re-signed by an unpinned Ed25519 key under the pinned kid', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const { privateKey } = await generateKeyPair('Ed25519');
    await rejectsWith(verifyWrit(await signWrit(claims, privateKey, kid), opts()), 'writ_signature_invalid');
    // embedding the attacker's key in the header changes nothing: only pinned keys count
    const { publicKey, privateKey: k2 } = await generateKeyPair('Ed25519', { extractable: true });
    const forged = await signRaw({ alg: 'Ed25519', typ: 'writ+jwt', kid, jwk: await exportJWK(publicKey) }, claims, k2);
    await rejectsWith(verifyWrit(forged, opts()), 'writ_signature_invalid');
  });

  it('rejects an altered payload under the original signature', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const [h, , s] = partsOf(writ);
    const variants: WritClaims[] = [
      { ...claims, act: { ...claims.act, resource: 'Tool::"fs/write"' } },
      { ...claims, exp: claims.exp + 3600 },
      { ...claims, sub: 'User::"root"' },
      { ...claims, aud: 'elsewhere' },
    ];
    for (const v of variants) await rejectsWith(verifyWrit(`${h}.${enc(v)}.${s}`, opts({ audience: v.aud })), 'writ_signature_invalid');
  });

  it('rejects alg none, with or without a signature', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const s = partsOf(writ)[2];
    for (const alg of ['none', 'None', 'NONE']) {
      const h = enc({ alg, typ: 'writ+jwt', kid });
      // an empty signature part is not a compact JWS this verifier accepts at all
      await rejectsWith(verifyWrit(`${h}.${enc(claims)}.`, opts()), 'writ_malformed');
      await rejectsWith(verifyWrit(`${h}.${enc(claims)}.${s}`, opts()), 'writ_algorithm_rejected');
      await rejectsWith(verifyWrit(`${h}.${enc(claims)}.AAAA`, opts()), 'writ_algorithm_rejected');
    }
    await rejectsWith(verifyWrit(`${enc({ typ: 'writ+jwt', kid })}.${enc(claims)}.${s}`, opts()), 'writ_algorithm_rejected');
  });

  it('rejects HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const x = f.jwks.keys[0]?.x;
    assert.ok(x);
    const h = enc({ alg: 'HS256', typ: 'writ+jwt', kid });
    const p = enc(claims);
    for (const secret of [Buffer.from(base64url.decode(x)), Buffer.from(x), Buffer.from(JSON.stringify(f.jwks.keys[0]))]) {
      const sig = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
      await rejectsWith(verifyWrit(`${h}.${p}.${sig}`, opts()), 'writ_algorithm_rejected');
    }
  });

  it('rejects alg EdDSA even when genuinely signed by the node key', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const eddsa = await signRaw({ alg: 'EdDSA', typ: 'writ+jwt', kid }, claims, nodeKey);
    await rejectsWith(verifyWrit(eddsa, opts()), 'writ_algorithm_rejected');
  });

  it('rejects a wrong or missing typ', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    for (const typ of ['JWT', 'jwt', 'at+jwt', 'writ+JWT', 'application/writ+jwt', '', 1]) {
      await rejectsWith(verifyWrit(await signRaw({ alg: 'Ed25519', typ, kid }, claims, nodeKey), opts()), 'writ_typ_invalid');
    }
    await rejectsWith(verifyWrit(await signRaw({ alg: 'Ed25519', kid }, claims, nodeKey), opts()), 'writ_typ_invalid');
  });

  it('rejects an unknown, missing or non-string kid', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    await rejectsWith(verifyWrit(await signWrit(claims, nodeKey, 'not-a-pinned-kid'), opts()), 'writ_unknown_key');
    await rejectsWith(verifyWrit(await signRaw({ alg: 'Ed25519', typ: 'writ+jwt' }, claims, nodeKey), opts()), 'writ_unknown_key');
    await rejectsWith(verifyWrit(await signRaw({ alg: 'Ed25519', typ: 'writ+jwt', kid: [kid] }, claims, nodeKey), opts()), 'writ_unknown_key');
    await rejectsWith(verifyWrit(writ, opts({ keys: { keys: [] } })), 'writ_unknown_key');
  });

  it('refuses pinned entries that are not Ed25519 public keys', async () => {
    const { writ } = await mint();
    await control(writ);
    const pub = f.jwks.keys[0];
    assert.ok(pub);
    for (const k of [{ ...pub, d: pub.x }, { ...pub, crv: 'X25519' }, { ...pub, kty: 'EC' }]) {
      await rejectsWith(verifyWrit(writ, opts({ keys: { keys: [k] } })), 'writ_unknown_key');
    }
  });

  it('a key removed from the pinned JWKS is no longer trusted', async () => {
    const { writ } = await mint();
    const keys: JSONWebKeySet = { keys: [...f.jwks.keys] };
    await control(writ, { keys });
    keys.keys.splice(0); // the operator unpins the (compromised) node key
    await rejectsWith(verifyWrit(writ, opts({ keys })), 'writ_unknown_key');
  });

  it('rejects malformed claims even when signed by the real node key', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const base = claims as unknown as Record<string, unknown>;
    const without = (k: string) => Object.fromEntries(Object.entries(base).filter(([key]) => key !== k));
    const payloads: unknown[] = [
      without('jti'),
      without('sub'),
      without('aud'),
      without('exp'),
      without('nbf'),
      without('intent'),
      without('act'),
      without('lin'),
      without('pol'),
      without('v'),
      { ...base, v: 2 },
      { ...base, v: '1' },
      { ...base, jti: 42 },
      { ...base, jti: '' },
      { ...base, sub: null },
      { ...base, aud: [AUD] },
      { ...base, exp: String(claims.exp) },
      { ...base, exp: claims.exp + 0.5 },
      { ...base, nbf: null },
      { ...base, led: '0' },
      { ...base, act: { action: REQ.action } },
      { ...base, act: [REQ.action, REQ.resource] },
      { ...base, pol: { ...claims.pol, version: '1' } },
      { ...base, lin: { ...claims.lin, depth: '0' } },
      { ...base, lin: { ...claims.lin, parent: 7 } },
      [base],
      'a string',
      null,
    ];
    for (const p of payloads) {
      await rejectsWith(verifyWrit(await signRaw({ alg: 'Ed25519', typ: 'writ+jwt', kid }, p, nodeKey), opts()), 'writ_malformed');
    }
    await rejectsWith(verifyWrit(await signRaw({ alg: 'Ed25519', typ: 'writ+jwt', kid }, '{not json', nodeKey), opts()), 'writ_malformed');
    // sanity: the same path with the intact claims verifies
    await control(await signRaw({ alg: 'Ed25519', typ: 'writ+jwt', kid }, claims, nodeKey));
  });

  it('verifyWritAuthenticity checks signature and time but not audience or args', async () => {
    const { writ, claims } = await mint();
    const v = await verifyWritAuthenticity(writ, { keys: f.jwks });
    assert.equal(v.claims.jti, claims.jti);
    await rejectsWith(verifyWritAuthenticity(writ, { keys: f.jwks, now: new Date((claims.exp + 60) * 1000) }), 'writ_expired');
    const [h, , s] = partsOf(writ);
    await rejectsWith(verifyWritAuthenticity(`${h}.${enc({ ...payloadOf(writ), sub: 'User::"root"' })}.${s}`, { keys: f.jwks }), 'writ_signature_invalid');
  });
});

/**
 * verifyWrit: every way past the check must fail closed with its exact reason code.
 * Each attack first checks that the genuine writ passes (the control), then tampers.
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { base64url, CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JSONWebKeySet } from 'jose';
import { readPrivateKey } from '../src/authority/keys.ts';
import { paths } from '../src/home/config.ts';
import { openHome } from '../src/home/open.ts';
import { revoke } from '../src/node/evidence.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import { signWrit } from '../src/writ/issue.ts';
import type { WritReason } from '../src/writ/reasons.ts';
import { memoryJtiStore, verifyWrit, verifyWritAuthenticity, WritVerificationError, type VerifyWritOptions } from '../src/writ/verify.ts';
import { fixture, type Fixture } from './helpers.ts';

const REQ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };
const ARGS = { path: '/srv/x' };
const AUD = REQ.resource;

async function rejectsWith(p: Promise<unknown>, code: WritReason): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WritVerificationError, `expected WritVerificationError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return;
  }
  assert.fail(`expected rejection with ${code}, but the writ verified`);
}

const enc = (v: unknown) => base64url.encode(new TextEncoder().encode(JSON.stringify(v)));
const partsOf = (writ: string) => writ.split('.') as [string, string, string];
const payloadOf = (writ: string) => JSON.parse(new TextDecoder().decode(base64url.decode(partsOf(writ)[1]))) as WritClaims;

async function signRaw(header: Record<string, unknown>, payload: unknown, key: CryptoKey): Promise<string> {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : new TextEncoder().encode(JSON.stringify(payload));
  return new CompactSign(bytes).setProtectedHeader(header as { alg: string }).sign(key);
}

describe('verifyWrit', () => {
  let f: Fixture;
  let nodeKey: CryptoKey;
  let kid: string;

  before(async () => {
    f = await fixture();
    nodeKey = await readPrivateKey(paths(f.home).nodeKey);
    kid = f.config.node.kid;
  });
  after(() => f.cleanup());

  async function mint(args: unknown = ARGS, extra: { ttlSeconds?: number } = {}): Promise<{ writ: string; claims: WritClaims }> {
    const d = await f.node.authorize({ ...REQ, args, ...extra });
    assert.equal(d.decision, 'allow', d.message);
    assert.ok(d.writ && d.claims);
    return { writ: d.writ, claims: d.claims };
  }
  const opts = (o: Partial<VerifyWritOptions> = {}): VerifyWritOptions => ({ keys: f.jwks, audience: AUD, args: ARGS, consume: false, ...o });
  /** the control: the genuine writ verifies (without consuming it) */
  async function control(writ: string, o: Partial<VerifyWritOptions> = {}): Promise<void> {
    const v = await verifyWrit(writ, opts(o));
    assert.equal(v.kid, kid);
  }

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

  it('enforces the time window: expired, not yet valid, lifetime cap', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const at = (s: number) => new Date(s * 1000);
    await control(writ, { now: at(claims.exp + 4) }); // inside the default 5 s skew
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.exp + 5) })), 'writ_expired');
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.exp + 3600) })), 'writ_expired');
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.exp), clockToleranceSeconds: 0 })), 'writ_expired');
    await rejectsWith(verifyWrit(writ, opts({ now: at(claims.nbf - 6) })), 'writ_not_yet_valid');
    const future = { ...claims, jti: randomUUID(), nbf: claims.nbf + 120, exp: claims.exp + 120 };
    await rejectsWith(verifyWrit(await signWrit(future, nodeKey, kid), opts()), 'writ_not_yet_valid');
    // the node issued a 60 s writ; a verifier accepting at most 30 s refuses it
    await rejectsWith(verifyWrit(writ, opts({ maxLifetimeSeconds: 30 })), 'writ_lifetime_exceeded');
    const long = { ...claims, jti: randomUUID(), exp: claims.nbf + 601 };
    await rejectsWith(verifyWrit(await signWrit(long, nodeKey, kid), opts()), 'writ_lifetime_exceeded');
    const inverted = { ...claims, jti: randomUUID(), nbf: claims.exp, exp: claims.exp - 1 };
    await rejectsWith(verifyWrit(await signWrit(inverted, nodeKey, kid), opts({ now: at(claims.exp - 2) })), 'writ_lifetime_exceeded');
    // and the node applies its own clock: move it past exp
    const late = await openHome(f.home, { now: () => at(claims.exp + 60) });
    try {
      await rejectsWith(late.node.verify(writ, { audience: AUD, args: ARGS, consume: false }), 'writ_expired');
    } finally {
      late.close();
    }
  });

  it('invalid time options fail closed instead of disabling the time checks', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const late = new Date((claims.exp + 3600) * 1000);
    // e.g. a tolerance parsed from a bad environment variable: Number('5s') is NaN
    const bad: Partial<VerifyWritOptions>[] = [{ now: new Date(NaN) }, { now: late, clockToleranceSeconds: NaN }, { maxLifetimeSeconds: NaN, now: late }];
    for (const o of bad) await assert.rejects(verifyWrit(writ, opts(o)), `verified with ${JSON.stringify(o)}`);
  });

  it('rejects a wrong audience', async () => {
    const { writ } = await mint();
    await control(writ);
    for (const audience of ['Tool::"fs/write"', '', 'tool::"fs/read"', `${AUD} `]) {
      await rejectsWith(verifyWrit(writ, opts({ audience })), 'writ_audience_mismatch');
    }
    const d = await f.node.authorize({ ...REQ, args: ARGS, audience: 'mcp-proxy' });
    assert.ok(d.writ);
    await rejectsWith(verifyWrit(d.writ, opts()), 'writ_audience_mismatch');
    await control(d.writ, { audience: 'mcp-proxy' });
  });

  it('single use: a replay fails with writ_replayed (memory store)', async () => {
    const { writ } = await mint();
    const consume = memoryJtiStore();
    await verifyWrit(writ, opts({ consume }));
    await rejectsWith(verifyWrit(writ, opts({ consume })), 'writ_replayed');
    await rejectsWith(verifyWrit(` ${writ}\n`, opts({ consume })), 'writ_replayed');
  });

  it('consume:false inspects without consuming; a failed check consumes nothing', async () => {
    const { writ, claims } = await mint();
    const consume = memoryJtiStore();
    await verifyWrit(writ, opts({ consume: false }));
    await verifyWrit(writ, opts({ consume: false }));
    await f.node.verify(writ, { audience: AUD, args: ARGS, consume: false });
    assert.equal(f.state.isJtiConsumed(claims.jti), false);
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: { path: '/srv/y' }, consume: true }), 'writ_intent_mismatch');
    assert.equal(f.state.isJtiConsumed(claims.jti), false);
    await verifyWrit(writ, opts({ consume }));
    await f.node.verify(writ, { audience: AUD, args: ARGS, consume: true });
    assert.equal(f.state.isJtiConsumed(claims.jti), true);
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: ARGS, consume: true }), 'writ_replayed');
  });

  it('single use persists in SQLite, across closing and reopening the home', async () => {
    const g = await fixture();
    let reopened: Awaited<ReturnType<typeof openHome>> | null = null;
    try {
      const d = await g.node.authorize({ ...REQ, args: ARGS });
      assert.ok(d.writ);
      await g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true });
      await rejectsWith(g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true }), 'writ_replayed');
      g.close();
      reopened = await openHome(g.home);
      await rejectsWith(reopened.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true }), 'writ_replayed');
      // a fresh writ still goes through on the reopened home
      const d2 = await reopened.node.authorize({ ...REQ, args: ARGS });
      assert.ok(d2.writ);
      await reopened.node.verify(d2.writ, { audience: AUD, args: ARGS, consume: true });
    } finally {
      reopened?.close();
      rmSync(g.home, { recursive: true, force: true });
    }
  });

  it('binds the exact arguments (JCS): reordering passes, any change fails', async () => {
    const args = { path: '/srv/x', n: 1, opts: { a: true, b: [1, 2] } };
    const { writ } = await mint(args);
    await control(writ, { args });
    await control(writ, { args: { opts: { b: [1, 2], a: true }, n: 1, path: '/srv/x' } });
    await control(writ, { args: JSON.parse(JSON.stringify(args)) as unknown });
    const bad: unknown[] = [
      { ...args, extra: 1 },
      { ...args, n: '1' },
      { ...args, n: 1.5 },
      { ...args, path: '/srv/y' },
      { path: '/srv/x', n: 1 },
      { ...args, opts: { a: true, b: [2, 1] } },
      { ...args, opts: { a: 'true', b: [1, 2] } },
      [args],
      {},
      null,
      { ...args, n: 1n },
    ];
    for (const a of bad) await rejectsWith(verifyWrit(writ, opts({ args: a })), 'writ_intent_mismatch');
  });

  it('binds action, resource and principal through expect', async () => {
    const { writ } = await mint();
    await control(writ, { expect: { action: REQ.action, resource: REQ.resource, principal: REQ.principal } });
    await rejectsWith(verifyWrit(writ, opts({ expect: { action: 'Action::"exec"' } })), 'writ_intent_mismatch');
    await rejectsWith(verifyWrit(writ, opts({ expect: { resource: 'Tool::"fs/write"' } })), 'writ_intent_mismatch');
    await rejectsWith(verifyWrit(writ, opts({ expect: { principal: 'User::"root"' } })), 'writ_intent_mismatch');
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: ARGS, consume: true, expect: { resource: 'Tool::"fs/write"' } }), 'writ_intent_mismatch');
  });

  it('rejects a revoked writ (isRevoked callback and node revocation of the jti)', async () => {
    const { writ, claims } = await mint();
    await control(writ, { isRevoked: () => null });
    let seen: WritClaims | null = null;
    const isRevoked = (c: WritClaims) => {
      seen = c;
      return 'revoked by test';
    };
    await rejectsWith(verifyWrit(writ, opts({ consume: memoryJtiStore(), isRevoked })), 'writ_revoked');
    assert.deepEqual(seen, claims);
    await rejectsWith(verifyWrit(writ, opts({ isRevoked: () => Promise.resolve('async revocation') })), 'writ_revoked');

    await f.node.verify(writ, { audience: AUD, args: ARGS, consume: false });
    await revoke(f.ledger, f.state, { kind: 'writ', value: claims.jti, reason: 'test', by: 'test' });
    await rejectsWith(f.node.verify(writ, { audience: AUD, args: ARGS, consume: true }), 'writ_revoked');
    assert.equal(f.state.isJtiConsumed(claims.jti), false);
  });

  for (const kind of ['principal', 'bundle', 'node', 'quarantine'] as const) {
    it(`rejects an issued writ once its ${kind} is revoked on the node`, async () => {
      const g = await fixture();
      try {
        const d = await g.node.authorize({ ...REQ, args: ARGS });
        assert.ok(d.writ);
        await g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: false });
        const value = { principal: REQ.principal, quarantine: REQ.principal, bundle: '1', node: g.config.nodeId }[kind];
        await revoke(g.ledger, g.state, { kind, value, reason: 'test', by: 'test' });
        await rejectsWith(g.node.verify(d.writ, { audience: AUD, args: ARGS, consume: true }), 'writ_revoked');
      } finally {
        g.cleanup();
      }
    });
  }

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

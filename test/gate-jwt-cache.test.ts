/**
 * The HTTP gate remembers a JWT that verified (src/enforce/http-gate/credentials.ts): the same
 * token again skips the signature check, which is what the cache is for (counted here at
 * crypto.subtle.verify, the check jose makes), and nothing else changes — exp and nbf are
 * checked again at each use, the TTL ends the memory, a token differing in any byte (its
 * signature included) is verified on its own, and an unverified token is never remembered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { parseGateConfig } from '../src/enforce/http-gate/config.ts';
import { GateCredentials, VERIFIED_JWT_TTL_MS, type HttpCredential } from '../src/enforce/http-gate/credentials.ts';

const ISSUER = 'https://idp.cache.example';
const AUD = 'writ-gate';

async function setup() {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' };
  const dir = mkdtempSync(join(tmpdir(), 'writ-jwt-cache-'));
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const config = parseGateConfig({ routes: [{ name: 'r', pathPrefix: '/', audience: 'svc' }], credentials: { jwt: [{ name: 'idp', issuer: ISSUER, audience: AUD, jwksFile: 'jwks.json' }] } }, dir);
  let clock = Date.now();
  const creds = new GateCredentials(config, { now: () => new Date(clock) });
  const sign = (o: { sub?: string; exp: number; nbf?: number; key?: CryptoKey }) => {
    const t = new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setSubject(o.sub ?? 'alice').setIssuedAt(Math.floor(clock / 1000)).setExpirationTime(o.exp);
    if (o.nbf !== undefined) t.setNotBefore(o.nbf);
    return t.sign(o.key ?? privateKey);
  };
  const who = (token: string): Promise<HttpCredential> => creds.identify((n) => (n === 'authorization' ? `Bearer ${token}` : undefined));
  return { sign, who, now: () => clock, advance: (ms: number) => (clock += ms) };
}

/** Counts jose's signature checks while `f` runs. */
async function verifies<T>(f: () => Promise<T>): Promise<{ value: T; count: number }> {
  const subtle = crypto.subtle;
  const original = subtle.verify.bind(subtle);
  let count = 0;
  const counted: typeof original = (...a) => (count++, original(...a));
  Object.defineProperty(subtle, 'verify', { configurable: true, value: counted });
  try {
    return { value: await f(), count };
  } finally {
    delete (subtle as { verify?: unknown }).verify;
  }
}

const principalOf = (c: HttpCredential) => (c.kind === 'principal' ? c.principal : `${c.kind}${'message' in c ? `: ${c.message}` : ''}`);

test('a token that verified is not verified again; the answer is the same', async () => {
  const s = await setup();
  const token = await s.sign({ exp: Math.floor(s.now() / 1000) + 600 });
  const first = await verifies(() => s.who(token));
  assert.equal(principalOf(first.value), 'User::"alice"');
  assert.equal(first.count, 1);
  const again = await verifies(() => s.who(token));
  assert.equal(again.count, 0, 'the remembered token skipped the signature check');
  assert.deepEqual(again.value, first.value);
});

test('a token differing only in its signature is verified on its own, and refused', async () => {
  const s = await setup();
  const token = await s.sign({ exp: Math.floor(s.now() / 1000) + 600 });
  assert.equal(principalOf(await s.who(token)), 'User::"alice"');
  const [h, p, sig] = token.split('.') as [string, string, string];
  const flipped = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BA' : 'AA'}`;
  const r = await verifies(() => s.who(flipped));
  assert.equal(r.count, 1);
  assert.equal(r.value.kind, 'invalid');
  // a token signed by another key with the same header and claims: not the remembered bytes
  const outsider = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey;
  assert.equal((await s.who(await s.sign({ exp: Math.floor(s.now() / 1000) + 600, key: outsider }))).kind, 'invalid');
});

test('a refused token is not remembered: it is checked, and refused, every time', async () => {
  const s = await setup();
  const outsider = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey;
  const bad = await s.sign({ exp: Math.floor(s.now() / 1000) + 600, key: outsider });
  for (let i = 0; i < 2; i++) {
    const r = await verifies(() => s.who(bad));
    assert.equal(r.value.kind, 'invalid');
    assert.equal(r.count, 1);
  }
});

test('a remembered token expires with its exp (and the clock tolerance), not later', async () => {
  const s = await setup();
  const exp = Math.floor(s.now() / 1000) + 20;
  const token = await s.sign({ exp });
  assert.equal(principalOf(await s.who(token)), 'User::"alice"');
  s.advance(20_000 + 29_000); // within the 30 s tolerance: still valid, as jose would say
  assert.equal(principalOf(await s.who(token)), 'User::"alice"');
  s.advance(2_000); // past exp + 30 s
  const r = await s.who(token);
  assert.equal(r.kind, 'invalid');
  assert.match(principalOf(r), /exp/);
});

test('the memory lasts VERIFIED_JWT_TTL_MS: then the token is verified again', async () => {
  const s = await setup();
  const token = await s.sign({ exp: Math.floor(s.now() / 1000) + 3600 });
  await s.who(token);
  s.advance(VERIFIED_JWT_TTL_MS - 1000);
  assert.equal((await verifies(() => s.who(token))).count, 0);
  s.advance(2000);
  const r = await verifies(() => s.who(token));
  assert.equal(r.count, 1, 'verified again after the TTL');
  assert.equal(principalOf(r.value), 'User::"alice"');
});

test('nbf is checked at each use: a clock set back before nbf refuses the remembered token', async () => {
  const s = await setup();
  const nbf = Math.floor(s.now() / 1000);
  const token = await s.sign({ exp: nbf + 600, nbf });
  assert.equal(principalOf(await s.who(token)), 'User::"alice"');
  s.advance(-60_000); // 60 s before nbf: beyond the 30 s tolerance
  const r = await s.who(token);
  assert.equal(r.kind, 'invalid');
  assert.match(principalOf(r), /nbf/);
});

test('two tokens of two subjects are remembered apart', async () => {
  const s = await setup();
  const exp = Math.floor(s.now() / 1000) + 600;
  const a = await s.sign({ exp, sub: 'alice' });
  const b = await s.sign({ exp, sub: 'bob' });
  for (let i = 0; i < 2; i++) {
    assert.equal(principalOf(await s.who(a)), 'User::"alice"');
    assert.equal(principalOf(await s.who(b)), 'User::"bob"');
  }
});

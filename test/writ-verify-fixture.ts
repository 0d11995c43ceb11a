/** Shared fixture for the verifyWrit tests (writ-verify*.test.ts): a home that issues writs for one request, and checks by exact reason code. */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { CryptoKey } from 'jose';
import { readPrivateKey } from '../src/authority/keys.ts';
import { paths } from '../src/home/config.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import type { WritReason } from '../src/writ/reasons.ts';
import { verifyWrit, WritVerificationError, type VerifyWritOptions } from '../src/writ/verify.ts';
import { fixture, type Fixture } from './helpers.ts';

export const REQ = { principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' };
export const ARGS = { path: '/srv/x' };
export const AUD = REQ.resource;

export async function rejectsWith(p: Promise<unknown>, code: WritReason): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WritVerificationError, `expected WritVerificationError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return;
  }
  assert.fail(`expected rejection with ${code}, but the writ verified`);
}

// The home under test and its node key, set by useVerifyFixture() before a describe's tests.
// Exported as live ESM bindings: importers always read the current values.
export let f: Fixture;
export let nodeKey: CryptoKey;
export let kid: string;

/** Call inside a describe: a fresh home before its tests, removed after them. */
export function useVerifyFixture(): void {
  before(async () => {
    f = await fixture();
    nodeKey = await readPrivateKey(paths(f.home).nodeKey);
    kid = f.config.node.kid;
  });
  after(() => f.cleanup());
}

export async function mint(args: unknown = ARGS, extra: { ttlSeconds?: number } = {}): Promise<{ writ: string; claims: WritClaims }> {
  const d = await f.node.authorize({ ...REQ, args, ...extra });
  assert.equal(d.decision, 'allow', d.message);
  assert.ok(d.writ && d.claims);
  return { writ: d.writ, claims: d.claims };
}
export const opts = (o: Partial<VerifyWritOptions> = {}): VerifyWritOptions => ({ keys: f.jwks, audience: AUD, args: ARGS, consume: false, ...o });
/** the control: the genuine writ verifies (without consuming it) */
export async function control(writ: string, o: Partial<VerifyWritOptions> = {}): Promise<void> {
  const v = await verifyWrit(writ, opts(o));
  assert.equal(v.kid, kid);
}

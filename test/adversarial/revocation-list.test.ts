/**
 * Adversarial: the signed revocation list `writ.revocations/1` (src/writ/revocation-list.ts) and
 * verifyWrit's `revocationList` option, attacking each check one at a time:
 *   - verifyRevocationList: a writ passed as a list (typ), a list with a writ's typ, a key not
 *     pinned (another kid, or the pinned kid with another key), a tampered payload, an expired
 *     list, a lifetime over the cap, the wrong iss, a `writ:node`-bound key speaking for another
 *     node, malformed payloads and entries: every one stale_policy, each against a control;
 *   - verifyWrit: a list naming the jti, lin.parent, lin.root, the principal (revoked or
 *     quarantined), the issuing node or the bundle version → writ_revoked; a list naming none
 *     → valid; no list (null, a provider returning null) or an expired one → stale_policy;
 *   - RevocationListHolder: no rollback (lower seq, same seq signed earlier);
 *   - RevocationListSigner: the same bytes until something changes, then a higher seq.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { CompactSign, type CryptoKey, type JSONWebKeySet, type KeyObject } from 'jose';
import { RevocationListSigner, RevocationListStaleError, signRevocationList } from '../../src/node/revocation-list.ts';
import { type RevocationListClaims, type RevokedKind } from '../../src/writ/revocation-list.ts';
import {
  MAX_REVOCATION_LIST_LIFETIME_SECONDS,
  REVOCATION_LIST_TYP,
  revocationListEtag,
  verifyRevocationList,
  type RevocationList,
} from '../../src/writ/revocation-list.ts';
import { RevocationListHolder } from '../../src/writ/revocation-poller.ts';
import { verifyWrit, WritVerificationError } from '../../src/writ/verify.ts';
import { ARGS, control, f, kid, mint, nodeKey, opts, REQ, rejectsWith, useVerifyFixture } from '../writ-verify-fixture.ts';

const nowSec = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** list claims issued by this home's node, valid now, with the given entries */
function claims(entries: RevocationListClaims['entries'] = [], o: Partial<RevocationListClaims> = {}): RevocationListClaims {
  const t = nowSec();
  return { v: 1, iss: f.config.nodeId, seq: entries.length, iat: t, exp: t + 60, entries, ...o };
}

const sign = (c: RevocationListClaims, key: CryptoKey | KeyObject = nodeKey, k: string = kid) => signRevocationList(c, { kid: k, key });

/** signs any payload bytes under any protected header with the node key */
const rawSign = (payload: string, header: Record<string, unknown>) => new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'Ed25519', ...header }).sign(nodeKey);

async function listOf(entries: RevocationListClaims['entries'], o: Partial<RevocationListClaims> = {}): Promise<RevocationList> {
  return verifyRevocationList(await sign(claims(entries, o)), { keys: f.jwks, issuer: f.config.nodeId });
}

/** rejects with stale_policy: a verifier without a good list vouches for nothing */
async function stale(p: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof WritVerificationError, `${what}: ${String(e)}`);
    assert.equal(e.code, 'stale_policy', `${what}: ${e.message}`);
    return true;
  });
}

describe('adversarial: verifyRevocationList refuses every list it cannot vouch for', () => {
  useVerifyFixture();

  it('control: a list the node signed verifies, with its embedded etag and its entries', async () => {
    const jws = await sign(claims([{ kind: 'writ', value: 'j-1' }], { seq: 7 }));
    const l = await verifyRevocationList(jws, { keys: f.jwks, issuer: f.config.nodeId });
    assert.equal(l.claims.seq, 7);
    assert.equal(l.etag, revocationListEtag(l.claims));
    assert.equal(l.etag, `"rl-7-${l.claims.iat}"`);
    assert.equal(l.jws, jws);
    assert.equal(l.has('writ', 'j-1'), true);
    assert.equal(l.has('principal', 'j-1'), false, 'an entry is kind and value together');
  });

  it('typ: a writ passed as a list, and a list under a writ typ (or none), are refused', async () => {
    const { writ } = await mint();
    await stale(verifyRevocationList(writ, { keys: f.jwks }), 'a writ as a list');
    const payload = JSON.stringify(claims());
    for (const header of [{ typ: 'writ+jwt', kid }, { kid }, { typ: 'JWT', kid }]) {
      await stale(verifyRevocationList(await rawSign(payload, header), { keys: f.jwks }), JSON.stringify(header));
    }
    // and the other way round: a list never verifies as a writ
    await rejectsWith(verifyWrit(await sign(claims()), opts()), 'writ_typ_invalid');
  });

  it('keys: a list signed by a key that is not pinned, or under the pinned kid with another key, is refused', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    await stale(verifyRevocationList(await sign(claims(), other, 'attacker'), { keys: f.jwks }), 'unpinned kid');
    await stale(verifyRevocationList(await sign(claims(), other, kid), { keys: f.jwks }), 'pinned kid, other key');
    await stale(verifyRevocationList(await sign(claims()), { keys: { keys: [] } }), 'nothing pinned');
  });

  it('tampering: an entry removed or seq raised under the original signature is refused', async () => {
    const jws = await sign(claims([{ kind: 'writ', value: 'j-1' }]));
    const [h, , s] = jws.split('.');
    for (const forged of [claims([]), claims([{ kind: 'writ', value: 'j-1' }], { seq: 99 }), claims([{ kind: 'writ', value: 'j-1' }], { exp: nowSec() + 3000 })]) {
      await stale(verifyRevocationList(`${h}.${b64(forged)}.${s}`, { keys: f.jwks }), JSON.stringify(forged));
    }
    await stale(verifyRevocationList(`${h}.${b64(claims([]))}`, { keys: f.jwks }), 'two parts');
    await stale(verifyRevocationList(`${jws}.x`, { keys: f.jwks }), 'four parts');
  });

  it('time: an expired list, one signed in the future, and lifetimes over the cap (or negative) are refused; the cap itself is accepted', async () => {
    const t = nowSec();
    await stale(verifyRevocationList(await sign(claims([], { iat: t - 120, exp: t - 60 })), { keys: f.jwks }), 'expired');
    await stale(verifyRevocationList(await sign(claims([], { iat: t + 600, exp: t + 660 })), { keys: f.jwks }), 'future');
    await stale(verifyRevocationList(await sign(claims([], { iat: t, exp: t + MAX_REVOCATION_LIST_LIFETIME_SECONDS + 1 })), { keys: f.jwks }), 'over the cap');
    await stale(verifyRevocationList(await sign(claims([], { iat: t, exp: t + 365 * 86400 })), { keys: f.jwks }), 'a year');
    await stale(verifyRevocationList(await sign(claims([], { iat: t + 3, exp: t })), { keys: f.jwks }), 'exp before iat');
    const capped = await verifyRevocationList(await sign(claims([], { iat: t, exp: t + MAX_REVOCATION_LIST_LIFETIME_SECONDS })), { keys: f.jwks });
    assert.equal(capped.claims.exp - capped.claims.iat, 3600);
    // an old list is expired at a later `now`
    const l = await sign(claims([], { iat: t, exp: t + 60 }));
    await verifyRevocationList(l, { keys: f.jwks, now: new Date((t + 30) * 1000) });
    await stale(verifyRevocationList(l, { keys: f.jwks, now: new Date((t + 120) * 1000) }), 'later now');
  });

  it('issuer: iss other than the expected one is refused; a writ:node-bound key cannot speak for another node', async () => {
    const jws = await sign(claims());
    await stale(verifyRevocationList(jws, { keys: f.jwks, issuer: 'node-elsewhere' }), 'expected issuer');
    // the node's pinned key carries writ:node = its id: a list naming another iss is refused
    const bound = f.jwks.keys[0] as Record<string, unknown>;
    assert.equal(bound['writ:node'], f.config.nodeId);
    await stale(verifyRevocationList(await sign(claims([], { iss: 'node-Y' })), { keys: f.jwks }), 'iss Y under X key');
    await stale(verifyRevocationList(await sign(claims([], { iss: 'authority:fleet' })), { keys: f.jwks }), 'authority iss under a node key');
    // the same key pinned without the binding speaks for any iss (an authority key): control
    const unbound: JSONWebKeySet = { keys: [{ ...f.jwks.keys[0], 'writ:node': undefined } as JSONWebKeySet['keys'][number]] };
    const y = await verifyRevocationList(await sign(claims([], { iss: 'node-Y' })), { keys: unbound });
    assert.equal(y.claims.iss, 'node-Y');
  });

  it('shape: malformed payloads and entries are refused', async () => {
    const good = claims();
    const bad: unknown[] = [
      { ...good, v: 2 },
      { ...good, v: '1' },
      { ...good, iss: '' },
      { ...good, iss: undefined },
      { ...good, seq: -1 },
      { ...good, seq: 1.5 },
      { ...good, seq: '3' },
      { ...good, iat: null },
      { ...good, exp: 2 ** 60 },
      { ...good, entries: undefined },
      { ...good, entries: {} },
      { ...good, entries: [null] },
      { ...good, entries: [['writ', 'j']] },
      { ...good, entries: ['j'] },
      { ...good, entries: [{ kind: 'jti', value: 'j' }] },
      { ...good, entries: [{ kind: 'writ' }] },
      { ...good, entries: [{ kind: 'writ', value: 7 }] },
      { ...good, entries: [{ kind: 'writ', value: 'ok' }, { kind: 'Writ', value: 'j' }] },
      [good],
      'a string',
    ];
    for (const payload of bad) {
      await stale(verifyRevocationList(await rawSign(JSON.stringify(payload), { typ: REVOCATION_LIST_TYP, kid }), { keys: f.jwks }), JSON.stringify(payload));
    }
    await stale(verifyRevocationList(await rawSign('not json', { typ: REVOCATION_LIST_TYP, kid }), { keys: f.jwks }), 'not JSON');
    await stale(verifyRevocationList(`${b64('{')}.${b64(good)}.AAAA`, { keys: f.jwks }), 'header not JSON');
    await stale(verifyRevocationList(42 as unknown as string, { keys: f.jwks }), 'not a string');
    // control: the same signing path with a good payload
    const ok = await verifyRevocationList(await rawSign(JSON.stringify(good), { typ: REVOCATION_LIST_TYP, kid }), { keys: f.jwks });
    assert.equal(ok.claims.iss, f.config.nodeId);
  });
});

describe('adversarial: verifyWrit with a revocation list', () => {
  useVerifyFixture();

  it('a list naming the writ, its parent, its root, its principal (revoked or quarantined), its node or its bundle version: writ_revoked', async () => {
    const root = await mint();
    const parent = await f.node.authorize({ ...REQ, args: ARGS, parent: root.writ });
    assert.ok(parent.writ && parent.claims, parent.message);
    const child = await f.node.authorize({ ...REQ, args: ARGS, parent: parent.writ });
    assert.ok(child.writ && child.claims, child.message);
    const c = child.claims;
    assert.equal(c.lin.parent, parent.claims.jti);
    assert.equal(c.lin.root, root.claims.jti);
    assert.notEqual(c.lin.parent, c.lin.root, 'depth 2: parent and root differ');
    const cases: [RevokedKind, string][] = [
      ['writ', c.jti],
      ['writ', parent.claims.jti],
      ['writ', root.claims.jti],
      ['principal', c.sub],
      ['quarantine', c.sub],
      ['node', c.iss],
      ['bundle', String(c.pol.version)],
    ];
    for (const [kind, value] of cases) {
      const list = await listOf([{ kind: 'writ', value: 'unrelated' }, { kind, value }]);
      await rejectsWith(verifyWrit(child.writ, opts({ revocationList: list })), 'writ_revoked');
      await rejectsWith(verifyWrit(child.writ, opts({ revocationList: () => list })), 'writ_revoked');
    }
    // a revoked writ named as any other kind, or a principal of another spelling, does not revoke
    const near = await listOf([
      { kind: 'principal', value: c.jti },
      { kind: 'node', value: c.sub },
      { kind: 'writ', value: c.sub },
      { kind: 'bundle', value: String(c.pol.version + 1) },
      { kind: 'principal', value: 'Agent::"a2"' },
    ]);
    await control(child.writ, { revocationList: near });
  });

  it('a list naming none of it: the writ is valid; and it still consumes once', async () => {
    const { writ, claims: c } = await mint();
    const list = await listOf([{ kind: 'writ', value: 'someone-else' }, { kind: 'principal', value: 'Agent::"zz"' }]);
    const seen = new Set<string>();
    const consume = (jti: string) => (seen.has(jti) ? false : (seen.add(jti), true));
    const v = await verifyWrit(writ, opts({ revocationList: () => list, consume }));
    assert.equal(v.claims.jti, c.jti);
    await rejectsWith(verifyWrit(writ, opts({ revocationList: () => list, consume })), 'writ_replayed');
  });

  it('no list: revocationList null, or a provider returning null, is stale_policy; omitting the option is not', async () => {
    const { writ } = await mint();
    await rejectsWith(verifyWrit(writ, opts({ revocationList: null })), 'stale_policy');
    await rejectsWith(verifyWrit(writ, opts({ revocationList: () => null })), 'stale_policy');
    const empty = new RevocationListHolder({ keys: f.jwks });
    await rejectsWith(verifyWrit(writ, opts({ revocationList: empty.current })), 'stale_policy');
    await control(writ);
  });

  it('an expired list is stale_policy even for a fine writ, and before anything about the writ (even garbage)', async () => {
    const { writ } = await mint();
    const t = nowSec();
    const old = await verifyRevocationList(await sign(claims([], { iat: t - 200, exp: t - 100 })), { keys: f.jwks, now: new Date((t - 150) * 1000) });
    await rejectsWith(verifyWrit(writ, opts({ revocationList: old })), 'stale_policy');
    await rejectsWith(verifyWrit(writ, opts({ revocationList: () => old })), 'stale_policy');
    await rejectsWith(verifyWrit('garbage', opts({ revocationList: old })), 'stale_policy');
    // the same list is fine at a `now` inside its window (control for the check, not the writ)
    const fresh = await listOf([]);
    await control(writ, { revocationList: fresh });
    await rejectsWith(verifyWrit(writ, opts({ revocationList: fresh, now: new Date((fresh.claims.exp + 30) * 1000) })), 'stale_policy');
  });
});

describe('adversarial: RevocationListHolder never rolls back', () => {
  useVerifyFixture();

  it('a lower seq, or the same seq signed earlier, is refused and the held list kept; newer ones replace it', async () => {
    const t = nowSec();
    const holder = new RevocationListHolder({ keys: f.jwks, issuer: f.config.nodeId });
    const five = await sign(claims([{ kind: 'writ', value: 'w5' }], { seq: 5, iat: t - 10, exp: t + 50 }));
    await holder.offer(five);
    assert.equal(holder.current()?.claims.seq, 5);
    // a lower version signed later (a replayed or rolled back server) is refused
    await assert.rejects(holder.offer(await sign(claims([], { seq: 4, iat: t, exp: t + 60 }))), /older/);
    assert.equal(holder.current()?.jws, five);
    // the same version signed earlier is refused too
    await assert.rejects(holder.offer(await sign(claims([{ kind: 'writ', value: 'w5' }], { seq: 5, iat: t - 20, exp: t + 40 }))), /older/);
    assert.equal(holder.current()?.jws, five);
    // a list that does not verify is refused (stale_policy) and changes nothing
    await stale(holder.offer(await sign(claims([], { seq: 9, iss: 'node-Y' }))), 'wrong issuer');
    await stale(holder.offer(five.slice(0, -4) + 'AAAA'), 'bad signature');
    assert.equal(holder.current()?.jws, five);
    // the same version re-signed later, then a higher one, replace it
    const again = await sign(claims([{ kind: 'writ', value: 'w5' }], { seq: 5, iat: t, exp: t + 60 }));
    await holder.offer(again);
    assert.equal(holder.current()?.jws, again);
    const six = await sign(claims([{ kind: 'writ', value: 'w5' }, { kind: 'writ', value: 'w6' }], { seq: 6, iat: t - 5, exp: t + 55 }));
    await holder.offer(six);
    assert.equal(holder.current()?.claims.seq, 6);
    assert.equal(holder.current()?.has('writ', 'w6'), true);
  });
});

describe('adversarial: RevocationListSigner', () => {
  useVerifyFixture();

  function signerWith(o: { ttlSeconds?: number; stale?: () => string | null } = {}) {
    const revs: { seq: number; kind: RevokedKind; value: string }[] = [];
    let clock = Date.now();
    const signer = new RevocationListSigner({
      issuer: f.config.nodeId,
      key: { kid, key: nodeKey },
      since: (s) => revs.filter((r) => r.seq > s),
      now: () => new Date(clock),
      ...o,
    });
    return { signer, revs, tick: (ms: number) => (clock += ms) };
  }

  it('repeated calls without a change give the same bytes and etag; a revocation gives a higher seq with the entry', async () => {
    const { signer, revs, tick } = signerWith();
    const a = await signer.current();
    tick(1000);
    const b = await signer.current();
    assert.equal(b.jws, a.jws);
    assert.equal(b.etag, a.etag);
    assert.equal(a.etag, `"rl-0-${a.claims.iat}"`);
    const verified = await verifyRevocationList(a.jws, { keys: f.jwks, issuer: f.config.nodeId });
    assert.equal(verified.etag, a.etag, 'the embedded etag is the one the signer reports');
    revs.push({ seq: 3, kind: 'writ', value: 'j-revoked' });
    const c = await signer.current();
    assert.equal(c.claims.seq, 3);
    assert.notEqual(c.etag, a.etag);
    assert.deepEqual(c.claims.entries, [{ kind: 'writ', value: 'j-revoked' }]);
    assert.equal((await verifyRevocationList(c.jws, { keys: f.jwks })).has('writ', 'j-revoked'), true);
    assert.equal((await signer.current()).jws, c.jws, 'stable again');
  });

  it('half the lifetime later it re-signs: same seq, newer iat, still verifiable', async () => {
    const { signer, tick } = signerWith({ ttlSeconds: 60 });
    const a = await signer.current();
    tick(29_000);
    assert.equal((await signer.current()).jws, a.jws);
    tick(2_000);
    const b = await signer.current();
    assert.notEqual(b.jws, a.jws);
    assert.equal(b.claims.seq, a.claims.seq);
    assert.ok(b.claims.iat > a.claims.iat);
    assert.equal(b.claims.exp - b.claims.iat, 60);
  });

  it('a signer that cannot vouch signs nothing; a lifetime over the cap is refused at construction', async () => {
    const { signer } = signerWith({ stale: () => 'beacon expired' });
    await assert.rejects(signer.current(), RevocationListStaleError);
    assert.throws(() => signerWith({ ttlSeconds: MAX_REVOCATION_LIST_LIFETIME_SECONDS + 1 }), RangeError);
    assert.throws(() => signerWith({ ttlSeconds: 1 }), RangeError);
  });

  it('two concurrent calls right after a revocation both answer with the list that holds it', async () => {
    const { signer, revs } = signerWith();
    const a = await signer.current();
    revs.push({ seq: 1, kind: 'writ', value: 'j-now-revoked' });
    // both requests start after the revocation was recorded: neither may answer the older list
    const [x, y] = await Promise.all([signer.current(), signer.current()]);
    assert.equal(x.claims.seq, 1);
    assert.equal(y.claims.seq, 1, `the second concurrent call answered the list of seq ${y.claims.seq} (etag ${y.etag}, the one held before: ${a.etag})`);
  });
});

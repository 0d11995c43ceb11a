/** A pinned key bound to its node and domain (as node certificates bind it) signs only writs of that node and domain. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JWK } from 'jose';
import { signWrit } from '../src/writ/issue.ts';
import { KEY_DOMAIN, KEY_NODE, verifyWrit } from '../src/writ/verify.ts';
import { control, f, kid, mint, nodeKey, opts, rejectsWith, useVerifyFixture } from './writ-verify-fixture.ts';

describe('verifyWrit: keys bound to a node and a domain', () => {
  useVerifyFixture();

  it("a home pins its own key bound to its node id and domain", () => {
    const own = f.jwks.keys.find((k) => k.kid === kid) as Record<string, unknown> | undefined;
    assert.equal(own?.[KEY_NODE], f.config.nodeId);
    assert.equal(own?.[KEY_DOMAIN], f.config.domain);
  });

  it('rejects a writ naming another issuer than the node its key is bound to (isolating a node by id would not stop it otherwise)', async () => {
    const { writ, claims } = await mint();
    await control(writ);
    const asOther = await signWrit({ ...claims, iss: 'some-other-node' }, nodeKey, kid);
    await rejectsWith(verifyWrit(asOther, opts()), 'writ_unknown_key');
  });

  it('rejects a writ claiming another domain than the one its key is certified for', async () => {
    const { claims } = await mint();
    const otherDomain = await signWrit({ ...claims, pol: { ...claims.pol, domain: 'elsewhere' } }, nodeKey, kid);
    await rejectsWith(verifyWrit(otherDomain, opts()), 'writ_unknown_key');
  });

  it('an unbound pinned key (a plain JWKS) still verifies as before', async () => {
    const { writ } = await mint();
    const plain = { keys: f.jwks.keys.map((k) => Object.fromEntries(Object.entries(k).filter(([m]) => m !== KEY_NODE && m !== KEY_DOMAIN)) as JWK) };
    const v = await verifyWrit(writ, opts({ keys: plain }));
    assert.equal(v.kid, kid);
  });
});

/** Signed policy bundles: the anti-rollback floor survives a restart, and k-of-n authority signatures (threshold, duplicate and forged signers). */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { openHome } from '../src/home/open.ts';
import { verifyBundle } from '../src/policy/verify-bundle.ts';
import { bundleBytes, fixture, policyFolder, type Fixture } from './helpers.ts';
import { expectRefused, GOOD_POLICY } from './bundle-fixture.ts';

describe('bundle rollback floor survives a restart', () => {
  it('refuses an older bundle after the home is closed and reopened', async () => {
    const f = await fixture();
    const dir = policyFolder(GOOD_POLICY);
    const v1 = await f.sign(dir, { version: 5 });
    const v7 = await f.sign(dir, { version: 7 });
    await f.node.policy.activate(bundleBytes(v7));
    const digest = f.node.policy.active?.bundle.digest;
    f.close();

    const h = await openHome(f.home);
    try {
      assert.equal(h.state.maxActivatedVersion(h.config.domain), 7);
      await h.node.policy.refresh();
      assert.equal(h.node.policy.active?.bundle.manifest.version, 7);
      assert.equal(h.node.policy.active?.bundle.digest, digest);
      await expectRefused(h, bundleBytes(v1), 'bundle_rollback');
      await expectRefused(h, bundleBytes(v7), 'bundle_rollback');
      // a newer one still activates
      await h.node.policy.activate(bundleBytes(await f.sign(dir, { version: 8 })));
      assert.equal(h.node.policy.active?.bundle.manifest.version, 8);
    } finally {
      h.close();
    }

    // and once more, the raised floor persists
    const h2 = await openHome(f.home);
    try {
      assert.equal(h2.state.maxActivatedVersion(h2.config.domain), 8);
      await h2.node.policy.refresh();
      await expectRefused(h2, bundleBytes(v7), 'bundle_rollback');
    } finally {
      h2.close();
      rmSync(f.home, { recursive: true, force: true });
    }
  });
});

describe('k-of-n authority signatures (3 keys, threshold 2)', () => {
  let f: Fixture;
  let dir: string;
  before(async () => {
    f = await fixture({ authorityKeys: 3, threshold: 2 }); // demo policy active, signed by all three
    dir = policyFolder(GOOD_POLICY);
  });
  after(() => f.cleanup());

  it('one signature is not enough (bundle_threshold_not_met)', async () => {
    for (const k of [1, 2, 3]) await expectRefused(f, bundleBytes(await f.sign(dir, { version: 10 + k, keyIndexes: [k] })), 'bundle_threshold_not_met');
  });

  it('the same key twice counts once (bundle_threshold_not_met)', async () => {
    const b = await f.sign(dir, { version: 20, keyIndexes: [2, 2] });
    assert.equal(b.manifest.signatures.length, 2);
    await expectRefused(f, bundleBytes(b), 'bundle_threshold_not_met');
    // also when the signature is duplicated by copying it
    const one = await f.sign(dir, { version: 21, keyIndexes: [1] });
    const sig = one.manifest.signatures[0];
    assert.ok(sig);
    one.manifest.signatures = [sig, { ...sig }];
    await expectRefused(f, bundleBytes(one), 'bundle_threshold_not_met');
  });

  it('a valid signature plus a forged one by another pinned key is refused (bundle_signature_invalid)', async () => {
    const b = await f.sign(dir, { version: 30, keyIndexes: [1] });
    const other = await f.sign(dir, { version: 31, keyIndexes: [2] }); // valid signature, but over another payload
    const sig2 = other.manifest.signatures[0];
    assert.ok(sig2);
    b.manifest.signatures.push(sig2);
    await expectRefused(f, bundleBytes(b), 'bundle_signature_invalid');
  });

  it('two distinct pinned keys meet the threshold', async () => {
    for (const [i, keys] of [[1, 3], [3, 2]].entries()) {
      const b = await f.sign(dir, { version: 40 + i, keyIndexes: keys });
      const { bundle } = await f.node.policy.activate(bundleBytes(b));
      assert.equal(f.node.policy.active?.bundle.manifest.version, 40 + i);
      assert.equal(f.node.policy.active?.bundle.digest, bundle.digest);
      assert.equal(bundle.signers.length, 2);
    }
  });

  it('verifyBundle reports the distinct signers', async () => {
    const b = await f.sign(dir, { version: 99, keyIndexes: [1, 2, 3, 1] });
    const v = await verifyBundle(bundleBytes(b), { trust: f.trust, now: new Date() });
    assert.deepEqual(v.signers, f.config.authority.keys.map((k) => k.kid as string).sort());
  });
});

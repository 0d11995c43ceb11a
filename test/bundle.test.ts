/** Signed policy bundle activation: every refusal has its exact reason code and leaves the active bundle (version + digest), the anti-rollback floor and the ledger exactly as they were. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { base64url, GeneralSign } from 'jose';
import { newKeyPair } from '../src/authority/keys.ts';
import { authoritySigningKeys, type OpenHome } from '../src/home/open.ts';
import { BUNDLE_FORMAT, MANIFEST_TYP, MAX_BUNDLE_BYTES, type BundleFile, type BundleManifest } from '../src/policy/manifest.ts';
import { buildBundle, buildManifest, readPolicyFolder } from '../src/policy/sign.ts';
import { verifyBundle } from '../src/policy/verify-bundle.ts';
import { canonicalJson } from '../src/writ/intent.ts';
import { BundleError } from '../src/reasons.ts';
import { bundleBytes, fixture, policyFolder, type Fixture } from './helpers.ts';
import { expectRefused, GOOD_POLICY, snapshot } from './bundle-fixture.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function clone(b: BundleFile): BundleFile {
  return structuredClone(b);
}

function decodePayload(b: BundleFile): BundleManifest {
  return JSON.parse(dec.decode(base64url.decode(b.manifest.payload))) as BundleManifest;
}

/** Changes the first character of a base64url string to another valid one (the first char always carries 6 data bits). */
function flipFirstChar(s: string): string {
  const c = s[0] === 'A' ? 'B' : 'A';
  return c + s.slice(1);
}

/** Signs an arbitrary manifest-like payload with the home's authority keys (for signed-but-malformed manifests). */
async function signRawPayload(h: OpenHome, payload: unknown, files: Record<string, string>): Promise<Uint8Array> {
  const keys = await authoritySigningKeys(h.home, h.config);
  const signer = new GeneralSign(enc.encode(canonicalJson(payload)));
  for (const { kid, key } of keys) signer.addSignature(key).setProtectedHeader({ alg: 'Ed25519', typ: MANIFEST_TYP, kid });
  const jws = await signer.sign();
  const bundle = {
    format: BUNDLE_FORMAT,
    manifest: { payload: jws.payload, signatures: jws.signatures.map((s) => ({ protected: s.protected ?? '', signature: s.signature })) },
    files,
  };
  return enc.encode(JSON.stringify(bundle));
}

describe('bundle activation (one authority key)', () => {
  let f: Fixture;
  let goodDir: string;
  let good: BundleFile;

  before(async () => {
    f = await fixture(); // demo policy active at version 1
    goodDir = policyFolder(GOOD_POLICY);
    good = await f.sign(goodDir, { version: 50 });
  });
  after(() => f.cleanup());

  it('activates a valid bundle: active version and digest change, floor rises, activation is in the ledger', async () => {
    const before = snapshot(f);
    assert.equal(before.version, 1);
    const bundle = await f.sign(goodDir, { version: 10 });
    const { bundle: verified, ledgerIndex } = await f.node.policy.activate(bundleBytes(bundle));
    const after = snapshot(f);
    assert.equal(after.version, 10);
    assert.equal(after.digest, verified.digest);
    assert.match(verified.digest, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(after.digest, before.digest);
    assert.equal(after.storedDigest, verified.digest);
    assert.equal(after.floor, 10);
    assert.equal(after.ledgerSize, before.ledgerSize + 1);
    const leaf = JSON.parse(dec.decode(f.ledger.entry(ledgerIndex)?.leaf)) as { type: string; policy: { version: number; digest: string } };
    assert.equal(leaf.type, 'bundle_activation');
    assert.deepEqual(leaf.policy, { domain: f.config.domain, version: 10, digest: verified.digest });
    assert.deepEqual(f.node.policy.active?.engine.policies.map((p) => p.id), ['allow-read']);
  });

  it('refuses a bundle whose file content was altered by one byte (bundle_file_mismatch)', async () => {
    const b = clone(good);
    b.files['policy.cedar'] = flipFirstChar(b.files['policy.cedar'] as string);
    await expectRefused(f, bundleBytes(b), 'bundle_file_mismatch');
  });

  it('refuses a bundle with a file missing (bundle_file_mismatch)', async () => {
    const b = clone(good);
    delete b.files['entities.json'];
    await expectRefused(f, bundleBytes(b), 'bundle_file_mismatch');
  });

  it('refuses a bundle with an extra, unsigned file (bundle_file_mismatch)', async () => {
    const b = clone(good);
    b.files['extra.cedar'] = base64url.encode('permit (principal, action, resource);');
    await expectRefused(f, bundleBytes(b), 'bundle_file_mismatch');
  });

  it('refuses an extra file whose name is an Object.prototype property (bundle_file_mismatch)', async () => {
    // Checked with verifyBundle so that, while this is broken, nothing gets activated as a side effect.
    const accepted: string[] = [];
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const json = JSON.stringify(good).replace('"files":{', `"files":{${JSON.stringify(name)}:"AAAA",`);
      assert.ok(json.includes(`"${name}":"AAAA"`));
      try {
        await verifyBundle(enc.encode(json), { trust: f.trust, now: new Date(), domain: f.config.domain });
        accepted.push(name);
      } catch (err) {
        assert.ok(err instanceof BundleError && err.code === 'bundle_file_mismatch', `${name}: ${String(err)}`);
      }
    }
    assert.deepEqual(accepted, [], `bundles carrying an unsigned extra file named ${accepted.join(', ')} were accepted`);
  });

  it('refuses an altered manifest payload: the signature no longer verifies (bundle_signature_invalid)', async () => {
    const b = clone(good);
    const m = decodePayload(b);
    m.version = 9_999;
    b.manifest.payload = base64url.encode(canonicalJson(m));
    await expectRefused(f, bundleBytes(b), 'bundle_signature_invalid');

    // also: a manifest that now names a tampered file, with the file changed to match
    const b2 = clone(good);
    const m2 = decodePayload(b2);
    const evil = enc.encode('permit (principal, action, resource);');
    const rebuilt = buildManifest(new Map([['policy.cedar', evil]]), { domain: m2.domain, version: m2.version, created: new Date(m2.created), expires: new Date(m2.expires) });
    b2.manifest.payload = base64url.encode(canonicalJson(rebuilt));
    b2.files = { 'policy.cedar': base64url.encode(evil) };
    await expectRefused(f, bundleBytes(b2), 'bundle_signature_invalid');
  });

  it('refuses a signature replaced by garbage (bundle_signature_invalid)', async () => {
    const sig = good.manifest.signatures[0];
    assert.ok(sig);
    for (const garbage of [base64url.encode(new Uint8Array(64).fill(7)), 'not!base64', '', base64url.encode('short')]) {
      const b = clone(good);
      b.manifest.signatures = [{ protected: sig.protected, signature: garbage }];
      await expectRefused(f, bundleBytes(b), 'bundle_signature_invalid');
    }
  });

  it('refuses a protected header with another alg or typ (bundle_signature_invalid)', async () => {
    const sig = good.manifest.signatures[0];
    assert.ok(sig);
    const header = JSON.parse(dec.decode(base64url.decode(sig.protected))) as Record<string, unknown>;
    for (const patch of [{ alg: 'none' }, { alg: 'HS256' }, { typ: 'JWT' }]) {
      const b = clone(good);
      b.manifest.signatures = [{ protected: base64url.encode(JSON.stringify({ ...header, ...patch })), signature: sig.signature }];
      await expectRefused(f, bundleBytes(b), 'bundle_signature_invalid');
    }
  });

  it('refuses a bundle signed by an unpinned key (bundle_unknown_key), even if it claims a pinned kid', async () => {
    const stranger = await newKeyPair();
    const files = readPolicyFolder(goodDir);
    const o = { domain: f.config.domain, version: 60, created: new Date(Date.now() - 1000), expires: new Date(Date.now() + 3600_000) };
    const b = await buildBundle(files, o, [{ kid: stranger.kid, key: stranger.privateKey }]);
    await expectRefused(f, bundleBytes(b), 'bundle_unknown_key');

    // an unpinned key that lies about its kid does not verify against the pinned key
    const pinnedKid = f.config.authority.keys[0]?.kid as string;
    const liar = await buildBundle(files, o, [{ kid: pinnedKid, key: stranger.privateKey }]);
    await expectRefused(f, bundleBytes(liar), 'bundle_signature_invalid');

    // a valid pinned signature plus an unpinned one is refused too (no unknown signers)
    const [pinned] = await authoritySigningKeys(f.home, f.config);
    assert.ok(pinned);
    const mixed = await buildBundle(files, o, [pinned, { kid: stranger.kid, key: stranger.privateKey }]);
    await expectRefused(f, bundleBytes(mixed), 'bundle_unknown_key');
  });

  it('refuses an expired bundle (bundle_expired)', async () => {
    const files = readPolicyFolder(goodDir);
    const keys = await authoritySigningKeys(f.home, f.config);
    const past = await buildBundle(files, { domain: f.config.domain, version: 70, created: new Date(Date.now() - 7200_000), expires: new Date(Date.now() - 3600_000) }, keys);
    await expectRefused(f, bundleBytes(past), 'bundle_expired');

    const shortLived = await f.sign(goodDir, { version: 71, expiresInMs: 5 });
    await sleep(30); // past its 5 ms lifetime: the point of the test
    await expectRefused(f, bundleBytes(shortLived), 'bundle_expired');
  });

  it('refuses a bundle for another domain (bundle_domain_mismatch)', async () => {
    const b = await f.sign(goodDir, { version: 80, domain: 'eu-west' });
    await expectRefused(f, bundleBytes(b), 'bundle_domain_mismatch');
  });

  it('refuses a signed bundle whose Cedar does not compile (bundle_policy_invalid), without raising the floor', async () => {
    const bad = policyFolder({ 'policy.cedar': 'permit (principal, action, resource)\nwhen { principal.level > };\n' });
    const b = await f.sign(bad, { version: 90 });
    await expectRefused(f, bundleBytes(b), 'bundle_policy_invalid');
    const badEntities = policyFolder({ 'policy.cedar': 'permit (principal, action, resource);', 'entities.json': '{"not":"an array"}' });
    await expectRefused(f, bundleBytes(await f.sign(badEntities, { version: 91 })), 'bundle_policy_invalid');
    const badSchema = policyFolder({
      'policy.cedar': 'permit (principal, action == Action::"read", resource) when { principal.nope == 1 };',
      'schema.cedarschema': 'entity User; entity Doc; action read appliesTo { principal: User, resource: Doc };',
    });
    await expectRefused(f, bundleBytes(await f.sign(badSchema, { version: 92 })), 'bundle_policy_invalid');
    // the refused versions did not consume the floor: the same version, valid, activates
    const ok = await f.sign(goodDir, { version: 90 });
    const { bundle } = await f.node.policy.activate(bundleBytes(ok));
    assert.equal(f.node.policy.active?.bundle.digest, bundle.digest);
    assert.equal(f.state.maxActivatedVersion(f.config.domain), 90);
  });

  it('refuses garbage, non-JSON, non-UTF-8 and wrong-format bundles (bundle_malformed)', async () => {
    const cases: Uint8Array[] = [
      enc.encode('this is not json {'),
      new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]),
      enc.encode('[]'),
      enc.encode('null'),
      enc.encode(JSON.stringify({ ...good, format: 'writ-bundle/v2' })),
      enc.encode(JSON.stringify({ ...good, format: undefined })),
      enc.encode(JSON.stringify({ format: BUNDLE_FORMAT, files: good.files })),
      enc.encode(JSON.stringify({ ...good, manifest: { payload: good.manifest.payload, signatures: [] } })),
      enc.encode(JSON.stringify({ ...good, manifest: 'eyJ.x.y' })),
      enc.encode(JSON.stringify({ ...good, files: 'nope' })),
      enc.encode(JSON.stringify({ ...good, manifest: { ...good.manifest, signatures: [{ protected: 42, signature: 'x' }] } })),
      enc.encode(JSON.stringify({ ...good, manifest: { ...good.manifest, signatures: [{ protected: '!!!', signature: 'x' }] } })),
    ];
    for (const bytes of cases) await expectRefused(f, bytes, 'bundle_malformed');
  });

  it('refuses a correctly signed manifest of the wrong shape (bundle_malformed)', async () => {
    const m = decodePayload(good);
    const bad: unknown[] = [
      { ...m, type: 'something-else' },
      { ...m, v: 2 },
      { ...m, version: 0 },
      { ...m, version: 1.5 },
      { ...m, version: '200' },
      { ...m, domain: 'Not A Domain' },
      { ...m, expires: 'tomorrow' },
      { ...m, files: { '../escape.cedar': { sha256: '0'.repeat(64), size: 0 } } },
      { ...m, files: { 'policy.cedar': { sha256: 'xyz', size: 1 } } },
      'a string',
    ];
    for (const payload of bad) await expectRefused(f, await signRawPayload(f, payload, good.files), 'bundle_malformed');
  });

  it('refuses an oversize bundle before parsing it (bundle_malformed)', async () => {
    const huge = new Uint8Array(MAX_BUNDLE_BYTES + 1).fill(0x20);
    await expectRefused(f, huge, 'bundle_malformed');
  });

  it('refuses rollback: a lower or equal version (bundle_rollback)', async () => {
    const high = await f.sign(goodDir, { version: 500 });
    await f.node.policy.activate(bundleBytes(high));
    assert.equal(f.node.policy.active?.bundle.manifest.version, 500);
    await expectRefused(f, bundleBytes(await f.sign(goodDir, { version: 499 })), 'bundle_rollback');
    await expectRefused(f, bundleBytes(await f.sign(goodDir, { version: 2 })), 'bundle_rollback');
    // equal version with different content, and the very same bundle again
    await expectRefused(f, bundleBytes(await f.sign(policyFolder({ 'p.cedar': 'permit (principal, action, resource);' }), { version: 500 })), 'bundle_rollback');
    await expectRefused(f, bundleBytes(high), 'bundle_rollback');
  });
});

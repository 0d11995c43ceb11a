/**
 * Signed policy bundles: every refusal has its exact reason code and leaves the
 * active bundle (version + digest), the anti-rollback floor and the ledger exactly
 * as they were. Also `writ policy lint` and the policy-folder reader.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { base64url, GeneralSign } from 'jose';
import { newKeyPair } from '../src/authority/keys.ts';
import { authoritySigningKeys, openHome, type OpenHome } from '../src/home/open.ts';
import { BUNDLE_FORMAT, MANIFEST_TYP, MAX_BUNDLE_BYTES, type BundleFile, type BundleManifest } from '../src/policy/manifest.ts';
import { buildBundle, buildManifest, readPolicyFolder, signManifest } from '../src/policy/sign.ts';
import { verifyBundle } from '../src/policy/verify-bundle.ts';
import { canonicalJson } from '../src/writ/intent.ts';
import { BundleError, type BundleReason } from '../src/reasons.ts';
import { bundleBytes, CLI, DEMO_POLICY, fixture, policyFolder, type Fixture } from './helpers.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

const GOOD_POLICY = {
  'policy.cedar': '@id("allow-read")\npermit (principal, action == Action::"read", resource);\n',
  'entities.json': '[{"uid":{"type":"User","id":"u1"},"attrs":{},"parents":[]}]',
};

interface Snapshot {
  version: number | undefined;
  digest: string | undefined;
  storedDigest: string | null;
  floor: number;
  ledgerSize: number;
}

function snapshot(h: OpenHome): Snapshot {
  const a = h.node.policy.active;
  return {
    version: a?.bundle.manifest.version,
    digest: a?.bundle.digest,
    storedDigest: h.state.activeBundleDigest(h.config.domain),
    floor: h.state.maxActivatedVersion(h.config.domain),
    ledgerSize: h.ledger.size(),
  };
}

/** Activation must fail with exactly `code`, and nothing may change. */
async function expectRefused(h: OpenHome, bytes: Uint8Array, code: BundleReason): Promise<void> {
  const before = snapshot(h);
  assert.ok(before.digest !== undefined, 'test setup: a bundle must be active before');
  await assert.rejects(h.node.policy.activate(bytes), (err: unknown) => {
    assert.ok(err instanceof BundleError, `expected a BundleError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
  assert.deepEqual(snapshot(h), before, 'a refused bundle must leave the active bundle, the floor and the ledger unchanged');
}

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
    await sleep(30);
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

describe('signing API', () => {
  it('buildManifest refuses bad domain, version and expiry; signManifest needs a key', async () => {
    const files = new Map([['p.cedar', enc.encode('permit (principal, action, resource);')]]);
    const created = new Date();
    const expires = new Date(created.getTime() + 1000);
    assert.throws(() => buildManifest(files, { domain: 'UPPER', version: 1, created, expires }), /invalid domain/);
    assert.throws(() => buildManifest(files, { domain: 'd', version: 0, created, expires }), /invalid version/);
    assert.throws(() => buildManifest(files, { domain: 'd', version: 1, created, expires: created }), /expiry/);
    await assert.rejects(signManifest(buildManifest(files, { domain: 'd', version: 1, created, expires }), []), /at least one/);
  });
});

describe('readPolicyFolder', () => {
  it('refuses unknown files so nothing is silently left out', () => {
    const dir = policyFolder({ 'p.cedar': 'permit (principal, action, resource);', 'notes.txt': 'hello' });
    assert.throws(() => readPolicyFolder(dir), /notes\.txt: not a policy file/);
    const dir2 = policyFolder({ 'p.cedar': 'permit (principal, action, resource);', 'schema.json': '{}' });
    assert.throws(() => readPolicyFolder(dir2), /schema\.json: not a policy file/);
  });

  it('reads policies, schema and entities; skips README.md and dotfiles; needs at least one .cedar', () => {
    const dir = policyFolder({ 'a.cedar': 'permit (principal, action, resource);', 'schema.cedarschema': 'entity User;', 'entities.json': '[]', 'README.md': '# x', '.hidden': 'x' });
    assert.deepEqual([...readPolicyFolder(dir).keys()].sort(), ['a.cedar', 'entities.json', 'schema.cedarschema']);
    assert.throws(() => readPolicyFolder(policyFolder({ 'entities.json': '[]' })), /no \*\.cedar policy files/);
  });
});

describe('writ policy lint (CLI)', () => {
  function lint(dir: string): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [CLI, 'policy', 'lint', dir], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('reports a syntax error on line 3 as DIR/file.cedar:3:COL: message and exits 1', () => {
    const dir = policyFolder({
      'file.cedar': 'permit (principal, action, resource);\n\npermit (principal, action, resource) when { 1 + };\n',
    });
    const r = lint(dir);
    assert.equal(r.status, 1, r.stderr);
    const out = r.stdout + r.stderr;
    const m = new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/file\\.cedar:3:(\\d+): .+`, 'm').exec(out);
    assert.ok(m, `expected ${dir}/file.cedar:3:COL: ..., got:\n${out}`);
    assert.ok(Number(m[1]) >= 1);
  });

  it('validates against schema.cedarschema: an undeclared attribute fails with file:line:col', () => {
    const dir = policyFolder({
      'schema.cedarschema': 'entity User { level: Long };\nentity Doc;\naction read appliesTo { principal: User, resource: Doc };\n',
      'rules.cedar': '@id("p")\npermit (principal, action == Action::"read", resource)\nwhen { principal.clearance > 1 };\n',
    });
    const r = lint(dir);
    assert.equal(r.status, 1, r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /rules\.cedar:3:\d+: .*clearance/);
  });

  it('exits 0 on a clean folder (with and without a schema)', () => {
    const plain = lint(policyFolder({ 'a.cedar': '@id("x")\npermit (principal, action, resource);\n' }));
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /1 policies ok/);
    const withSchema = lint(
      policyFolder({
        'schema.cedarschema': 'entity User { level: Long };\nentity Doc;\naction read appliesTo { principal: User, resource: Doc };\n',
        'rules.cedar': 'permit (principal, action == Action::"read", resource) when { principal.level > 1 };\n',
      }),
    );
    assert.equal(withSchema.status, 0, withSchema.stderr);
    assert.match(withSchema.stdout, /validated against schema/);
    const demo = lint(DEMO_POLICY);
    assert.equal(demo.status, 0, demo.stderr);
  });

  it('exits 1 on a folder with an unknown file', () => {
    const r = lint(policyFolder({ 'a.cedar': 'permit (principal, action, resource);', 'notes.txt': 'x' }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /notes\.txt: not a policy file/);
  });
});

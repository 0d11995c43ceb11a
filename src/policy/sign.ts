/** Building and signing bundles from a policy folder (authority side). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { base64url, GeneralSign, type CryptoKey } from 'jose';
import { canonicalJson } from '../canonical/json.ts';
import { sha256Hex } from '../util.ts';
import { BUNDLE_FORMAT, DOMAIN_NAME, isBundleFileName, MANIFEST_TYP, MANIFEST_TYPE, type BundleFile, type BundleManifest, type GeneralJws } from './manifest.ts';

export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

/**
 * The folder of request fixtures (`writ policy test`, docs/policy-test.md). Authoring-time
 * only, like README.md: never bundled, so the bundle format and digest do not change.
 */
export const POLICY_TESTS_DIR = 'tests';

/** Reads the bundle-able files of a policy folder; refuses unknown files so nothing is silently left out. */
export function readPolicyFolder(dir: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name === POLICY_TESTS_DIR && statSync(path).isDirectory()) continue;
    if (!statSync(path).isFile()) throw new Error(`${path}: policy folders hold only files`);
    if (name.startsWith('.') || name.toLowerCase() === 'readme.md') continue;
    if (!isBundleFileName(name)) {
      throw new Error(`${path}: not a policy file (expected *.cedar, schema.cedarschema, entities.json, usage.json or mcp-pins.json)`);
    }
    files.set(name, readFileSync(path));
  }
  if (![...files.keys()].some((n) => n.endsWith('.cedar'))) throw new Error(`${dir}: no *.cedar policy files`);
  return files;
}

export interface ManifestOptions {
  domain: string;
  version: number;
  created: Date;
  expires: Date;
}

export function buildManifest(files: Map<string, Uint8Array>, o: ManifestOptions): BundleManifest {
  if (!DOMAIN_NAME.test(o.domain)) throw new Error(`invalid domain ${JSON.stringify(o.domain)}: lower-case letters, digits, . _ -`);
  if (!Number.isSafeInteger(o.version) || o.version < 1) throw new Error(`invalid version ${o.version}: a positive integer`);
  if (o.expires <= o.created) throw new Error('expiry must be after creation');
  const entries: BundleManifest['files'] = {};
  for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    entries[name] = { sha256: sha256Hex(bytes), size: bytes.byteLength };
  }
  return {
    type: MANIFEST_TYPE,
    v: 1,
    domain: o.domain,
    version: o.version,
    created: o.created.toISOString(),
    expires: o.expires.toISOString(),
    files: entries,
  };
}

export async function signManifest(manifest: BundleManifest, keys: SigningKey[]): Promise<GeneralJws> {
  if (keys.length === 0) throw new Error('at least one authority key must sign');
  const signer = new GeneralSign(new TextEncoder().encode(canonicalJson(manifest)));
  for (const { kid, key } of keys) {
    signer.addSignature(key).setProtectedHeader({ alg: 'Ed25519', typ: MANIFEST_TYP, kid });
  }
  const jws = await signer.sign();
  return {
    payload: jws.payload,
    signatures: jws.signatures.map((s) => ({ protected: s.protected ?? '', signature: s.signature })),
  };
}

export async function buildBundle(files: Map<string, Uint8Array>, o: ManifestOptions, keys: SigningKey[]): Promise<BundleFile> {
  const manifest = buildManifest(files, o);
  const out: Record<string, string> = {};
  for (const [name, bytes] of files) out[name] = base64url.encode(bytes);
  return { format: BUNDLE_FORMAT, manifest: await signManifest(manifest, keys), files: out };
}

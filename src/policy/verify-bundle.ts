/**
 * Bundle verification. Every failure is a BundleError with a stable code, and
 * nothing is activated unless all checks pass:
 *   format → every signature valid and from a pinned key → threshold of distinct keys
 *   → manifest shape → domain → not expired → files match the manifest exactly.
 * Anti-rollback (version strictly greater than any ever activated) is checked by the
 * caller against its persisted state, in the same transaction as activation.
 */
import { base64url, flattenedVerify, importJWK, type JWK } from 'jose';
import { BundleError } from '../reasons.ts';
import { isRecord, sha256Hex } from '../util.ts';
import { BUNDLE_FORMAT, DOMAIN_NAME, isBundleFileName, MANIFEST_TYP, MANIFEST_TYPE, MAX_BUNDLE_BYTES, type BundleManifest, type VerifiedBundle } from './manifest.ts';

export interface AuthorityTrust {
  /** pinned authority public keys, each with its kid */
  keys: JWK[];
  /** number of distinct pinned keys that must sign */
  threshold: number;
}

export interface BundleCheckOptions {
  trust: AuthorityTrust;
  now: Date;
  /** when set, the bundle must be for this domain */
  domain?: string;
  /** false only when re-loading a bundle that was verified before (expiry is then judged per decision) */
  checkExpiry?: boolean;
}

function parseBundleJson(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw new BundleError('bundle_malformed', `bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new BundleError('bundle_malformed', 'bundle is not UTF-8 JSON');
  }
  if (!isRecord(v) || v.format !== BUNDLE_FORMAT) {
    throw new BundleError('bundle_malformed', `bundle format is not ${BUNDLE_FORMAT}`);
  }
  return v;
}

async function verifySignatures(jws: unknown, trust: AuthorityTrust): Promise<{ payload: Uint8Array; signers: string[] }> {
  if (!isRecord(jws) || typeof jws.payload !== 'string' || !Array.isArray(jws.signatures) || jws.signatures.length === 0) {
    throw new BundleError('bundle_malformed', 'manifest is not a signed JWS (General JSON serialization)');
  }
  const signers = new Set<string>();
  let payload: Uint8Array | undefined;
  for (const [i, sig] of jws.signatures.entries()) {
    if (!isRecord(sig) || typeof sig.protected !== 'string' || typeof sig.signature !== 'string') {
      throw new BundleError('bundle_malformed', `signature ${i} is malformed`);
    }
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(new TextDecoder().decode(base64url.decode(sig.protected))) as Record<string, unknown>;
    } catch {
      throw new BundleError('bundle_malformed', `signature ${i} has an unreadable protected header`);
    }
    if (header.alg !== 'Ed25519' || header.typ !== MANIFEST_TYP) {
      throw new BundleError('bundle_signature_invalid', `signature ${i}: alg must be Ed25519 and typ ${MANIFEST_TYP}`);
    }
    const jwk = trust.keys.find((k) => k.kid === header.kid);
    if (!jwk) throw new BundleError('bundle_unknown_key', `signature ${i} is by key ${JSON.stringify(header.kid)}, which is not a pinned authority key`);
    try {
      const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'Ed25519');
      const r = await flattenedVerify({ payload: jws.payload, protected: sig.protected, signature: sig.signature }, key, { algorithms: ['Ed25519'] });
      payload = r.payload;
    } catch {
      throw new BundleError('bundle_signature_invalid', `signature ${i} by ${String(header.kid)} does not verify`);
    }
    signers.add(String(header.kid));
  }
  if (signers.size < trust.threshold) {
    throw new BundleError('bundle_threshold_not_met', `${signers.size} distinct authority signature(s), ${trust.threshold} required`);
  }
  if (!payload) throw new BundleError('bundle_malformed', 'no signature');
  return { payload, signers: [...signers].sort() };
}

function parseManifest(payload: Uint8Array): BundleManifest {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new BundleError('bundle_malformed', 'manifest payload is not JSON');
  }
  const bad = (why: string): never => {
    throw new BundleError('bundle_malformed', `manifest: ${why}`);
  };
  if (!isRecord(m)) return bad('not an object');
  if (m.type !== MANIFEST_TYPE || m.v !== 1) bad(`type must be ${MANIFEST_TYPE} version 1`);
  if (typeof m.domain !== 'string' || !DOMAIN_NAME.test(m.domain)) bad('invalid domain');
  if (typeof m.version !== 'number' || !Number.isSafeInteger(m.version) || m.version < 1) bad('version must be a positive integer');
  for (const k of ['created', 'expires'] as const) {
    if (typeof m[k] !== 'string' || Number.isNaN(Date.parse(m[k]))) bad(`${k} must be an RFC 3339 time`);
  }
  if (!isRecord(m.files)) return bad('files must be an object');
  for (const [name, f] of Object.entries(m.files)) {
    if (!isBundleFileName(name)) bad(`file name ${JSON.stringify(name)} is not allowed`);
    if (!isRecord(f) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256) || typeof f.size !== 'number') {
      bad(`file ${name} entry is malformed`);
    }
  }
  return m as unknown as BundleManifest;
}

function checkFiles(manifest: BundleManifest, files: unknown): Map<string, Uint8Array> {
  if (!isRecord(files)) throw new BundleError('bundle_malformed', 'files must be an object');
  const out = new Map<string, Uint8Array>();
  for (const name of Object.keys(files)) {
    if (!Object.hasOwn(manifest.files, name)) throw new BundleError('bundle_file_mismatch', `file ${name} is in the bundle but not in the manifest`);
  }
  for (const [name, entry] of Object.entries(manifest.files)) {
    const content = files[name];
    if (typeof content !== 'string') throw new BundleError('bundle_file_mismatch', `file ${name} is in the manifest but missing from the bundle`);
    let bytes: Uint8Array;
    try {
      bytes = base64url.decode(content);
    } catch {
      throw new BundleError('bundle_malformed', `file ${name} is not base64url`);
    }
    if (bytes.byteLength !== entry.size || sha256Hex(bytes) !== entry.sha256) {
      throw new BundleError('bundle_file_mismatch', `file ${name} does not match its manifest digest`);
    }
    out.set(name, bytes);
  }
  return out;
}

export async function verifyBundle(bytes: Uint8Array, o: BundleCheckOptions): Promise<VerifiedBundle> {
  const bundle = parseBundleJson(bytes);
  const { payload, signers } = await verifySignatures(bundle.manifest, o.trust);
  const manifest = parseManifest(payload);
  if (o.domain !== undefined && manifest.domain !== o.domain) {
    throw new BundleError('bundle_domain_mismatch', `bundle is for domain ${manifest.domain}, this node serves ${o.domain}`);
  }
  if (o.checkExpiry !== false && Date.parse(manifest.expires) <= o.now.getTime()) {
    throw new BundleError('bundle_expired', `bundle version ${manifest.version} expired at ${manifest.expires}`);
  }
  const files = checkFiles(manifest, bundle.files);
  return { manifest, digest: `sha256:${sha256Hex(payload)}`, files, signers };
}

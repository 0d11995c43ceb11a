/**
 * Policy bundle format, version 1 (docs/bundle.md).
 *
 * A bundle file is JSON:
 *   { "format": "writ-bundle/v1",
 *     "manifest": <JWS General JSON serialization; payload = JCS(manifest)>,
 *     "files": { "<name>": "<base64url content>", ... } }
 * The manifest names every file with its SHA-256 and size; each authority key that
 * signs adds one signature (protected header {alg: Ed25519, typ: writ-bundle+json, kid}),
 * so k-of-n thresholds are counted over distinct pinned kids.
 * The bundle digest is `sha256:<hex>` of the manifest payload bytes: it commits to
 * the domain, version, expiry and every file.
 */
export const BUNDLE_FORMAT = 'writ-bundle/v1';
export const MANIFEST_TYPE = 'writ-bundle-manifest';
export const MANIFEST_TYP = 'writ-bundle+json';
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

export interface ManifestFile {
  sha256: string;
  size: number;
}

export interface BundleManifest {
  type: typeof MANIFEST_TYPE;
  v: 1;
  domain: string;
  version: number;
  /** RFC 3339 */
  created: string;
  /** RFC 3339 */
  expires: string;
  files: Record<string, ManifestFile>;
}

export interface GeneralJws {
  payload: string;
  signatures: { protected: string; signature: string }[];
}

export interface BundleFile {
  format: typeof BUNDLE_FORMAT;
  manifest: GeneralJws;
  files: Record<string, string>;
}

/** A bundle whose signatures, threshold, expiry and files were checked. */
export interface VerifiedBundle {
  manifest: BundleManifest;
  /** sha256:<hex> of the manifest payload */
  digest: string;
  files: Map<string, Uint8Array>;
  signers: string[];
}

/** File names a policy folder may hold: policies, an optional schema, entities, usage counters (docs/budgets.md), MCP definition pins (docs/mcp.md). */
export function isBundleFileName(name: string): boolean {
  return /^[A-Za-z0-9._-]+\.cedar$/.test(name) || name === 'schema.cedarschema' || name === 'entities.json' || name === 'usage.json' || name === 'mcp-pins.json';
}

export const DOMAIN_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * Signed status reports. Every second a node puts in the status bucket what it is
 * running (version, digest, beacon age, readiness, pending approvals, decision
 * statistics) as a compact JWS signed with its node key, `typ: writ-status+jwt`. The
 * authority's console believes a report only if it verifies under the key of that
 * node's certificate and names that node, filed under that node's key: whoever can
 * write the bucket still cannot speak for a node. The distinct `typ` keeps a report
 * from ever passing as a writ, and a writ from passing as a report.
 */
import { CompactSign, compactVerify, importJWK, type CryptoKey, type JWK } from 'jose';

export const STATUS_TYP = 'writ-status+jwt';

export async function signStatusReport(report: Record<string, unknown>, key: CryptoKey, kid: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(report))).setProtectedHeader({ alg: 'Ed25519', typ: STATUS_TYP, kid }).sign(key);
}

/** The header's kid, to find the key; null if the JWS is not even that. */
export function statusKid(jws: string): string | null {
  try {
    const header: unknown = JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { kid?: unknown }).kid === 'string' ? (header as { kid: string }).kid : null;
  } catch {
    return null;
  }
}

/** The report's JSON if the JWS verifies under `jwk` (Ed25519, the status typ); throws otherwise. */
export async function openStatusReport(jws: string, jwk: JWK): Promise<unknown> {
  const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'Ed25519');
  const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ['Ed25519'] });
  if (protectedHeader.typ !== STATUS_TYP) throw new Error(`status report: typ ${String(protectedHeader.typ)}`);
  if (protectedHeader.kid !== jwk.kid) throw new Error('status report: kid does not match the certified key');
  return JSON.parse(new TextDecoder().decode(payload)) as unknown;
}

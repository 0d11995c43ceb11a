/**
 * Signed status reports. Every second a node puts in the status bucket what it is
 * running (version, digest, beacon age, readiness, pending approvals, decision
 * statistics) as a compact JWS signed with its node key, `typ: writ-status+jwt`. The
 * authority's console believes a report only if it verifies under the key of that
 * node's certificate and names that node, filed under that node's key: whoever can
 * write the bucket still cannot speak for a node. The distinct `typ` keeps a report
 * from ever passing as a writ, and a writ from passing as a report.
 */
import type { CryptoKey, JWK } from 'jose';
import { compactHeader, TypedJwsError, verifyTyped } from '../writ/typed-jws.ts';
import { signTyped } from '../writ/sign-typed.ts';
import { failNaming } from './authority-message.ts';

export const STATUS_TYP = 'writ-status+jwt';

export async function signStatusReport(report: Record<string, unknown>, key: CryptoKey, kid: string): Promise<string> {
  return signTyped(report, STATUS_TYP, { kid, key });
}

/** The header's kid, to find the key; null if the JWS is not even that. */
export function statusKid(jws: string): string | null {
  const kid = compactHeader(jws)?.kid;
  return typeof kid === 'string' ? kid : null;
}

const failReport = failNaming('status report', () => 'status report: kid does not match the certified key');

/** The report's JSON object if the JWS verifies under `jwk` (Ed25519, the status typ); throws otherwise. */
export async function openStatusReport(jws: string, jwk: JWK): Promise<Record<string, unknown>> {
  return verifyTyped(jws, {
    typ: STATUS_TYP,
    keys: [jwk],
    validate: (report) => report,
    fail: (step, header) => {
      if (step === 'typ') throw new TypedJwsError(step, `status report: typ ${String(header?.typ)}`);
      return failReport(step, header);
    },
  });
}

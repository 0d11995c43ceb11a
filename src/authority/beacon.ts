/**
 * Freshness beacons (docs/fleet.md), signing side. A beacon is a compact JWS
 * (typ writ-beacon+jwt, alg Ed25519) by an authority key, re-issued every second and
 * valid for a few: it names the domain's current bundle (version, digest) and the
 * revocation-list version. A node without an unexpired beacon, or whose active bundle
 * is not the one the beacon names, decides nothing (stale_policy) — like TUF's
 * timestamp role: silence or a partition freezes decisions instead of letting stale
 * policy run.
 */
import type { CryptoKey } from 'jose';
import { signTyped } from '../writ/sign-typed.ts';

import { BEACON_TYP, type BeaconClaims } from '../node/beacon-format.ts';

export { BEACON_TYP, type BeaconClaims };

export async function signBeacon(c: Omit<BeaconClaims, 'v' | 'iss'>, key: { kid: string; key: CryptoKey }): Promise<string> {
  return signTyped({ v: 1, iss: 'writ-authority', ...c }, BEACON_TYP, key);
}

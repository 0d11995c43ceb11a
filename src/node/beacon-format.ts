/**
 * The freshness beacon's format (docs/fleet.md, "Beacon (v1)"): what a node verifies
 * (freshness.ts) and the authority signs (authority/beacon.ts). Here, in the core, so the
 * node depends on no outer module to read it.
 */
export const BEACON_TYP = 'writ-beacon+jwt';

export interface BeaconClaims {
  v: 1;
  iss: 'writ-authority';
  domain: string;
  /** strictly increasing per domain: an older beacon never replaces a newer one */
  seq: number;
  iat: number;
  exp: number;
  bundle: { version: number; digest: string } | null;
  revocations: { version: number };
}

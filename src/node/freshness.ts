/**
 * Freshness on a fleet node: the newest verified beacon, and the rule a decision must
 * pass — an unexpired beacon exists, it names exactly the active bundle, and every
 * revocation up to the version it names has been applied here. Otherwise: stale_policy.
 * Beacons are checked against the pinned authority keys (the algorithm is pinned),
 * must be for this domain, and must be newer (seq) than the last one accepted.
 */
import type { JWK } from 'jose';
import { BEACON_TYP, type BeaconClaims } from './beacon-format.ts';
import { isRecord } from '../util.ts';
import { verifyTyped, type TypedJwsStep } from '../writ/typed-jws.ts';
import { WritError } from '../writ/errors.ts';

export interface FreshnessCheck {
  /** null when decisions may proceed under `active`; else why not */
  stale(active: { version: number; digest: string }, now: Date): string | null;
}

export class BeaconError extends WritError {
  override name = 'BeaconError';
  constructor(message: string, options?: ErrorOptions) {
    super('beacon_invalid', message, options);
  }
}

const BEACON_PROBLEMS: Record<TypedJwsStep, (header: Readonly<Record<string, unknown>> | null) => string> = {
  shape: () => 'beacon header is not base64url JSON',
  header: () => 'beacon header is not base64url JSON',
  alg: () => `beacon must be alg Ed25519, typ ${BEACON_TYP}`,
  typ: () => `beacon must be alg Ed25519, typ ${BEACON_TYP}`,
  kid: (h) => `beacon signed by unknown key ${String(h?.kid)}`,
  signature: () => 'beacon signature does not verify',
  payload: () => 'beacon claims are malformed',
};

export async function verifyBeacon(jws: string, o: { keys: JWK[]; domain: string }): Promise<BeaconClaims> {
  return verifyTyped(jws, {
    typ: BEACON_TYP,
    keys: o.keys,
    fail: (step, header) => {
      throw new BeaconError(BEACON_PROBLEMS[step](header));
    },
    validate: (payload) => {
      const c = payload as unknown as BeaconClaims;
      if (c.v !== 1 || c.iss !== 'writ-authority' || !Number.isSafeInteger(c.seq) || !Number.isSafeInteger(c.exp) || !isRecord(c.revocations)) {
        throw new BeaconError('beacon claims are malformed');
      }
      if (c.domain !== o.domain) throw new BeaconError(`beacon is for domain ${c.domain}, not ${o.domain}`);
      return c;
    },
  });
}

export class BeaconTracker implements FreshnessCheck {
  private latest: BeaconClaims | null = null;
  private readonly o: { keys: JWK[]; domain: string; appliedRevocations: () => number };

  constructor(o: { keys: JWK[]; domain: string; appliedRevocations: () => number }) {
    this.o = o;
  }

  get beacon(): BeaconClaims | null {
    return this.latest;
  }

  /** Verifies and keeps a beacon if it is newer than the one held; throws BeaconError if it is bad. */
  async offer(jws: string): Promise<BeaconClaims> {
    const c = await verifyBeacon(jws, this.o);
    if (!this.latest || c.seq > this.latest.seq) this.latest = c;
    return c;
  }

  stale(active: { version: number; digest: string }, now: Date): string | null {
    const b = this.latest;
    if (!b) return 'no beacon from the authority has been received';
    const t = Math.floor(now.getTime() / 1000);
    if (b.exp <= t) return `the newest beacon expired ${t - b.exp}s ago (seq ${b.seq})`;
    if (!b.bundle) return 'the authority names no current bundle';
    if (b.bundle.digest !== active.digest || b.bundle.version !== active.version) {
      return `active bundle ${active.version} differs from the current one (${b.bundle.version})`;
    }
    const applied = this.o.appliedRevocations();
    if (applied < b.revocations.version) return `revocations up to ${b.revocations.version} are not yet applied here (${applied})`;
    return null;
  }
}

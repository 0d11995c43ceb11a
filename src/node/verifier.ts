/**
 * How a node verifies writs, as one set of `verifyWrit` options: the node's pinned keys,
 * its freshness (a stale node vouches for nothing), its single-use store (fleet-wide in a
 * fleet; a store that cannot answer fails closed with single_use_unavailable), its
 * revocations and the domains it accepts. `writ verify`, `writ exec`, `POST /v1/verify`
 * and an MCP server guarded beside a node all verify with exactly these.
 */
import type { JSONWebKeySet } from 'jose';
import type { WritClaims } from '../writ/claims.ts';
import { WritVerificationError, type VerifyWritOptions } from '../writ/verify.ts';
import { errorMessage } from '../util.ts';
import { SingleUseUnavailableError, type SingleUseStore } from './single-use.ts';
import type { NodeLimits } from './types.ts';

export type NodeVerifierOptions = Required<Pick<VerifyWritOptions, 'keys' | 'stale' | 'consume' | 'isConsumed' | 'acceptDomain' | 'isRevoked' | 'clockToleranceSeconds' | 'maxLifetimeSeconds'>>;

/** Any failure of the store (NATS silent, SQLite unwritable) means the writ cannot be proven unused: refused with a reason code. */
async function answered(f: () => Promise<boolean>): Promise<boolean> {
  try {
    return await f();
  } catch (err) {
    const message = err instanceof SingleUseUnavailableError ? err.message : `the single-use store failed (${errorMessage(err)}): the writ cannot be proven unused`;
    throw new WritVerificationError('single_use_unavailable', message);
  }
}

export function nodeVerifierOptions(n: {
  keys: JSONWebKeySet;
  limits: Pick<NodeLimits, 'clockSkewSeconds' | 'maxWritLifetimeSeconds'>;
  singleUse: SingleUseStore;
  stale: () => Promise<string | null>;
  acceptDomain: (domain: string) => boolean;
  isRevoked: (c: WritClaims) => string | null;
}): NodeVerifierOptions {
  return {
    keys: n.keys,
    stale: n.stale,
    consume: (jti, exp) => answered(() => n.singleUse.consume(jti, exp)),
    isConsumed: (jti) => answered(() => n.singleUse.isConsumed(jti)),
    acceptDomain: n.acceptDomain,
    isRevoked: n.isRevoked,
    clockToleranceSeconds: n.limits.clockSkewSeconds,
    maxLifetimeSeconds: n.limits.maxWritLifetimeSeconds,
  };
}

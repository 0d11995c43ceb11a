/** Pure checks of a request's shape on the decision path; each failure is a DenyError. */
import type { Lineage } from './lineage-gate.ts';
import { parseUid, type EntityUid } from '../canonical/uid.ts';
import { DenyError } from '../reasons.ts';
import type { NodeLimits } from './types.ts';

export function requestUid(text: unknown, what: string): EntityUid {
  const uid = typeof text === 'string' ? parseUid(text) : null;
  if (!uid) throw new DenyError('request_invalid', `${what} must be a Cedar entity UID such as Agent::"a1", got ${JSON.stringify(text)}`);
  return uid;
}

/** The writ's validity window: the requested or default lifetime, never beyond the parent's. */
export function writWindow(now: Date, ttlSeconds: number | undefined, lineage: Pick<Lineage, 'parentExp'>, limits: Pick<NodeLimits, 'writLifetimeSeconds' | 'maxWritLifetimeSeconds'>): { iat: number; exp: number } {
  const ttl = ttlSeconds ?? limits.writLifetimeSeconds;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > limits.maxWritLifetimeSeconds) {
    throw new DenyError('request_invalid', `ttlSeconds must be between 1 and ${limits.maxWritLifetimeSeconds}`);
  }
  const iat = Math.floor(now.getTime() / 1000);
  let exp = iat + ttl;
  if (lineage.parentExp !== null && exp > lineage.parentExp) {
    if (ttlSeconds !== undefined) throw new DenyError('child_wider_than_parent', 'requested lifetime outlives the parent writ');
    exp = lineage.parentExp; // a child never outlives its parent
  }
  return { iat, exp };
}

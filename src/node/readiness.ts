/**
 * Whether a node can allow anything now, and if not, why: the one answer `/readyz`, the
 * console's health page and a fleet node's status reports all give. In the order the gate
 * checks: an active bundle, not expired, and (fleet) provably current.
 */
import type { VerifiedBundle } from '../policy/manifest.ts';

export type Readiness =
  | { ready: true; bundle: { domain: string; version: number; digest: string; expires: string } }
  | { ready: false; reason: 'no_active_bundle' | 'bundle_expired' | 'stale_policy'; message: string; bundle: { domain: string; version: number; digest: string; expires: string } | null };

export function readiness(node: { policy: { active: { bundle: VerifiedBundle } | null }; staleness(now: Date): string | null }, now: Date): Readiness {
  const a = node.policy.active;
  if (!a) return { ready: false, reason: 'no_active_bundle', message: 'no policy bundle is active on this node', bundle: null };
  const m = a.bundle.manifest;
  const bundle = { domain: m.domain, version: m.version, digest: a.bundle.digest, expires: m.expires };
  if (Date.parse(m.expires) <= now.getTime()) return { ready: false, reason: 'bundle_expired', message: `active bundle version ${m.version} expired at ${m.expires}`, bundle };
  const stale = node.staleness(now);
  if (stale !== null) return { ready: false, reason: 'stale_policy', message: stale, bundle };
  return { ready: true, bundle };
}

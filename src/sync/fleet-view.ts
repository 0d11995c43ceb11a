/**
 * The authority's view of the fleet's nodes, for its console: which nodes are certified
 * (the nodes bucket, each certificate verified against the pinned authority keys) and
 * what each last reported (the status bucket, once a second per node).
 *
 * A status report is signed by its node (status-report.ts) and believed only under the
 * key of that node's certificate; it is then parsed strictly. It remains the node's own
 * account of itself, and what makes a node deny (beacons, bundles, revocations) never
 * depends on it. Ages are
 * measured on the authority's clock from when a report arrived, so a node's clock skew
 * cannot make it look fresh.
 */
import type { JWK } from 'jose';
import { verifyNodeCertificate } from '../authority/keys.ts';
import type { ApprovalRecord } from '../node/state.ts';
import { FleetStats } from '../telemetry/fleet-stats.ts';
import { isRecord } from '../util.ts';
import { kvKey, type Fleet } from './nats.ts';
import { openStatusReport, statusKid } from './status-report.ts';

/** a node reports every second: after this long without one it is shown as not reporting */
export const REPORT_STALE_MS = 3000;

export type PendingApprovalReport = Pick<ApprovalRecord, 'id' | 'intent' | 'principal' | 'action' | 'resource' | 'policyDigest' | 'expires'> & { status: 'pending' };

export interface StatusReport {
  node: string;
  domain: string;
  version: number | null;
  digest: string | null;
  expires: string | null;
  beacon: { seq: number; ageMs: number } | null;
  revocations: number;
  ready: boolean;
  reason: string | null;
  software: string;
  startedAt: string | null;
  address: string | null;
  approvals: PendingApprovalReport[];
}

export interface FleetNodeView {
  node: string;
  /** isolated by a verified node revocation (`writ isolate`) */
  isolated: boolean;
  /** from its certificate; null if it reported without a valid one */
  certified: { domain: string; expires: string } | null;
  report: StatusReport | null;
  /** milliseconds since its last report arrived */
  reportAgeMs: number | null;
}

const str = (v: unknown, max = 512): string | null => (typeof v === 'string' && v.length <= max ? v : null);
const nat = (v: unknown): number | null => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : null);

function parseApproval(v: unknown): PendingApprovalReport | null {
  if (!isRecord(v) || v.status !== 'pending') return null;
  const f = ['id', 'intent', 'principal', 'action', 'resource', 'policyDigest', 'expires'].map((k) => str(v[k]));
  if (f.some((x) => x === null)) return null;
  const [id, intent, principal, action, resource, policyDigest, expires] = f as string[];
  return { id: id!, intent: intent!, principal: principal!, action: action!, resource: resource!, policyDigest: policyDigest!, expires: expires!, status: 'pending' };
}

/** A status report, or null if it is not one (every field checked; unknown ones ignored). */
export function parseStatusReport(v: unknown, key: string): StatusReport | null {
  if (!isRecord(v)) return null;
  const node = str(v.node, 128);
  const domain = str(v.domain, 128);
  if (node === null || domain === null || typeof v.ready !== 'boolean') return null;
  const beacon = isRecord(v.beacon) && nat(v.beacon.seq) !== null && typeof v.beacon.ageMs === 'number' && Number.isFinite(v.beacon.ageMs) ? { seq: v.beacon.seq as number, ageMs: v.beacon.ageMs } : null;
  const approvals = Array.isArray(v.approvals) ? v.approvals.slice(0, 50).map(parseApproval) : [];
  if (approvals.some((a) => a === null)) return null;
  const report: StatusReport = {
    node,
    domain,
    version: nat(v.version),
    digest: str(v.digest, 128),
    expires: str(v.expires, 64),
    beacon,
    revocations: nat(v.revocations) ?? 0,
    ready: v.ready,
    reason: str(v.reason),
    software: str(v.software, 64) ?? 'unknown',
    startedAt: str(v.startedAt, 64),
    address: typeof v.address === 'string' && /^https?:\/\/[^\s"'<>]{1,200}$/.test(v.address) ? v.address : null,
    approvals: approvals as PendingApprovalReport[],
  };
  // a report filed under another node's key is not that node's report
  return key === kvKey(node) ? report : null;
}

export interface FleetView {
  nodes(): FleetNodeView[];
  /** the writ keys of the certified nodes that are not isolated: the fleet's JWKS */
  keys(): JWK[];
  /** marks a node isolated (the authority calls it for each verified node revocation) */
  isolate(node: string): void;
  stats: FleetStats;
  onCertified(f: (node: string, domain: string) => void): void;
  stop(): void;
}

export async function watchFleet(fleet: Fleet, authorityKeys: JWK[], log: (s: string) => void, clock: () => number = Date.now): Promise<FleetView> {
  const certified = new Map<string, { domain: string; expires: string; jwk: JWK }>();
  const reports = new Map<string, { report: StatusReport; at: number }>();
  const stats = new FleetStats(clock);
  const listeners: ((node: string, domain: string) => void)[] = [];
  const isolated = new Set<string>();
  const decoder = new TextDecoder();

  const nw = await fleet.kv.nodes.watch();
  void (async () => {
    for await (const e of nw) {
      if (e.operation !== 'PUT') continue;
      const cert = await verifyNodeCertificate(decoder.decode(e.value), authorityKeys).catch((err: unknown) => (log(`writ authority: ignoring node certificate ${e.key}: ${String(err)}`), null));
      if (!cert || typeof cert.domain !== 'string') continue;
      certified.set(cert.sub, { domain: cert.domain, expires: new Date(cert.exp * 1000).toISOString(), jwk: cert.jwk });
      for (const f of listeners) f(cert.sub, cert.domain);
    }
  })();
  // a report is believed only under its node's certified key; one that arrives before
  // the certificate waits for it (the latest per node)
  const waiting = new Map<string, string>();
  const accept = async (key: string, jws: string): Promise<void> => {
    const kid = statusKid(jws);
    const node = [...certified].find(([id, c]) => kvKey(id) === key && c.jwk.kid === kid);
    if (!node) {
      if (waiting.size < 10_000) waiting.set(key, jws);
      return;
    }
    waiting.delete(key);
    const raw = await openStatusReport(jws, node[1].jwk).catch(() => null);
    const report = raw === null ? null : parseStatusReport(raw, key);
    if (!report || report.node !== node[0]) return;
    reports.set(report.node, { report, at: clock() });
    if (isRecord(raw)) stats.offer(report.node, raw.stats);
  };
  listeners.push((node) => {
    const jws = waiting.get(kvKey(node));
    if (jws) void accept(kvKey(node), jws);
  });
  const sw = await fleet.kv.status.watch();
  void (async () => {
    for await (const e of sw) {
      if (e.operation !== 'PUT') continue;
      await accept(e.key, decoder.decode(e.value));
    }
  })();

  return {
    nodes() {
      const now = clock();
      const ids = [...new Set([...certified.keys(), ...reports.keys()])].sort();
      return ids.map((id) => {
        const c = certified.get(id);
        const r = reports.get(id);
        return { node: id, isolated: isolated.has(id), certified: c ? { domain: c.domain, expires: c.expires } : null, report: r?.report ?? null, reportAgeMs: r ? now - r.at : null };
      });
    },
    keys: () => [...certified].filter(([id]) => !isolated.has(id)).map(([, c]) => c.jwk),
    isolate: (node) => void isolated.add(node),
    stats,
    onCertified(f) {
      listeners.push(f);
      for (const [node, c] of certified) f(node, c.domain);
    },
    stop() {
      nw.stop();
      sw.stop();
    },
  };
}

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
import { CertificateSet } from '../node/certificate-set.ts';
import { kvKey, type BusWatch, type FleetBus } from '../node/fleet-bus.ts';
import { verifyNodeCertificate } from '../node/node-certificate.ts';
import type { ApprovalRecord } from '../node/state.ts';
import { FleetStats } from '../telemetry/fleet-stats.ts';
import { errorMessage, isRecord } from '../util.ts';
import { openStatusReport, statusKid } from '../node/status-report.ts';

/** a node reports every second: after this long without one it is shown as not reporting */
export const REPORT_STALE_MS = 3000;

export type PendingApprovalReport = Pick<ApprovalRecord, 'id' | 'intent' | 'principal' | 'action' | 'resource' | 'policyDigest' | 'expires'> & { status: 'pending' };
export type DecidedApprovalReport = Pick<ApprovalRecord, 'id' | 'status' | 'decidedBy'>;

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
  /** this boot's report counter: a report is believed only if newer than the last */
  seq: number | null;
  /** when the node signed it */
  time: string | null;
  address: string | null;
  approvals: PendingApprovalReport[];
  /** approvals decided in the last minutes, with what the node recorded */
  decided: DecidedApprovalReport[];
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
  const f = ['id', 'intent', 'principal', 'action', 'resource', 'policyDigest', 'expires'].map((k) => str(v[k], 1024));
  if (f.some((x) => x === null)) return null;
  const [id, intent, principal, action, resource, policyDigest, expires] = f as string[];
  return { id: id!, intent: intent!, principal: principal!, action: action!, resource: resource!, policyDigest: policyDigest!, expires: expires!, status: 'pending' };
}

function parseDecided(v: unknown): DecidedApprovalReport | null {
  if (!isRecord(v) || (v.status !== 'approved' && v.status !== 'rejected' && v.status !== 'expired')) return null;
  const id = str(v.id, 128);
  return id === null ? null : { id, status: v.status, decidedBy: str(v.decidedBy, 128) };
}

/** A status report, or null if it is not one (every field checked; unknown ones ignored). */
export function parseStatusReport(v: unknown, key: string): StatusReport | null {
  if (!isRecord(v)) return null;
  const node = str(v.node, 128);
  const domain = str(v.domain, 128);
  if (node === null || domain === null || typeof v.ready !== 'boolean') return null;
  const beacon = isRecord(v.beacon) && nat(v.beacon.seq) !== null && typeof v.beacon.ageMs === 'number' && Number.isFinite(v.beacon.ageMs) ? { seq: v.beacon.seq as number, ageMs: v.beacon.ageMs } : null;
  // one odd approval is left out, not the node's whole report
  const approvals = Array.isArray(v.approvals) ? v.approvals.slice(0, 50).map(parseApproval).filter((a) => a !== null) : [];
  const decided = Array.isArray(v.decided) ? v.decided.slice(0, 50).map(parseDecided).filter((a) => a !== null) : [];
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
    startedAt: str(v.startedAt, 64) !== null && !Number.isNaN(Date.parse(v.startedAt as string)) ? (v.startedAt as string) : null,
    seq: nat(v.seq),
    time: str(v.time, 64) !== null && !Number.isNaN(Date.parse(v.time as string)) ? (v.time as string) : null,
    // a plain origin, no user-info (http://authority@elsewhere): it is shown as a link
    address: typeof v.address === 'string' && /^https?:\/\/[A-Za-z0-9.\-[\]:]{1,200}$/.test(v.address) ? v.address : null,
    approvals,
    decided,
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

/** how far a report's own time may be from the authority's clock (beacons already need synchronised clocks) */
const MAX_REPORT_SKEW_MS = 30_000;
/** reports that arrived before their node's certificate, kept at most this long, this many, this big */
const WAITING_MS = 30_000;
const MAX_WAITING = 1000;
const MAX_REPORT_BYTES = 256 * 1024;
/** a report that took longer than this from signing to arrival is aged from its signing */
const HELD_BACK_MS = 2000;

export async function watchFleet(bus: FleetBus, authorityKeys: JWK[], log: (s: string) => void, clock: () => number): Promise<FleetView> {
  const certified = new CertificateSet((node) => kvKey(node));
  const reports = new Map<string, { report: StatusReport; at: number; sent: number }>();
  const stats = new FleetStats(clock);
  const listeners: ((node: string, domain: string) => void)[] = [];
  const isolated = new Set<string>();
  const decoder = new TextDecoder();

  // every revision: the newest certificate wins, whatever was put last
  const nw: BusWatch = await bus.certificates.watch({ history: true }, async (e) => {
    const cert = await verifyNodeCertificate(decoder.decode(e.value), authorityKeys, new Date(clock())).catch((err: unknown) => (log(`writ authority: ignoring node certificate ${e.key}: ${errorMessage(err)}`), null));
    if (!cert || certified.offer(e.key, cert) === 'refused') return;
    for (const f of listeners) f(cert.sub, cert.domain);
  });

  // A report is believed only under its node's certified key, and only if it is newer
  // than the last one believed (same boot, higher seq; or a later boot): a report put
  // again, by anyone, changes nothing. One that arrives before the certificate waits.
  const waiting = new Map<string, { jws: string; at: number }>();
  const accept = async (key: string, jws: string): Promise<void> => {
    if (jws.length > MAX_REPORT_BYTES) return;
    const kid = statusKid(jws);
    const node = certified.all(clock()).map((c) => [c.node, c] as const).find(([id, c]) => kvKey(id) === key && c.jwk.kid === kid);
    if (!node) {
      for (const [k, w] of waiting) if (clock() - w.at > WAITING_MS) waiting.delete(k);
      if (waiting.size < MAX_WAITING || waiting.has(key)) waiting.set(key, { jws, at: clock() });
      return;
    }
    waiting.delete(key);
    const raw = await openStatusReport(jws, node[1].jwk).catch(() => null);
    const report = raw === null ? null : parseStatusReport(raw, key);
    if (!report || report.node !== node[0] || report.seq === null || report.startedAt === null || report.time === null) return;
    const sent = Date.parse(report.time);
    if (Math.abs(clock() - sent) > MAX_REPORT_SKEW_MS) return;
    const last = reports.get(report.node)?.report;
    const boot = Date.parse(report.startedAt);
    if (last && last.startedAt !== null && last.seq !== null) {
      const lastBoot = Date.parse(last.startedAt);
      if (boot < lastBoot || (boot === lastBoot && report.seq <= last.seq)) return;
    }
    reports.set(report.node, { report, at: clock(), sent });
    if (isRecord(raw)) stats.offer(report.node, raw.stats);
  };
  listeners.push((node) => {
    const w = waiting.get(kvKey(node));
    if (w) void accept(kvKey(node), w.jws).catch(() => undefined);
  });
  const sw = await bus.status.watch({}, (e) => accept(e.key, decoder.decode(e.value)));

  return {
    nodes() {
      const now = clock();
      const ids = [...new Set([...certified.all(now).map((c) => c.node), ...reports.keys()])].sort();
      return ids.map((id) => {
        const c = certified.get(id, now);
        const r = reports.get(id);
        return {
          node: id,
          isolated: isolated.has(id),
          certified: c ? { domain: c.domain, expires: new Date(c.exp * 1000).toISOString() } : null,
          report: r?.report ?? null,
          // from its arrival; one that arrived well after it was signed (held back, put later) is as old as it says
          reportAgeMs: r ? now - (r.at - r.sent > HELD_BACK_MS ? r.sent : r.at) : null,
        };
      });
    },
    keys: () => certified.all(clock()).filter((c) => !isolated.has(c.node)).map((c) => c.jwk),
    isolate: (node) => void isolated.add(node),
    stats,
    onCertified(f) {
      listeners.push(f);
      for (const c of certified.all(clock())) f(c.node, c.domain);
    },
    stop() {
      nw.stop();
      sw.stop();
    },
  };
}

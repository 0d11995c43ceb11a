/**
 * A node's membership of a fleet (docs/fleet.md): what it takes from the bus and what it
 * tells it. It decides locally — no decision waits on the network — and is fed by one
 * watch per channel, each handled by a named step (fleet-handlers.ts):
 *   bundles         verified, anti-rollback, activated                 applyBundle
 *   beacons         verified, newest kept (→ stale_policy)             offerBeacon
 *   revocations     verified, applied in revision order; the applied   applyRevocation
 *                   version feeds the beacon rule
 *   certificates    the fleet's nodes → the keys writs verify with     offerCertificate
 *   approvals       decisions signed at the authority's console        applyApprovalDecision
 *   revocationList  the authority's signed list, relayed to executors  offerRevocationList
 * Evidence goes to the bus's stream (bus-ledger.ts) and is acknowledged before a writ is
 * returned; single use is the bus's create-once store (bus-single-use.ts). Every
 * `reportIntervalMs` the node signs its status and puts it in the status channel, and
 * retries a bundle whose activation could not be recorded.
 *
 * Storage, transport and time are parameters: the shipped `writ node` runs this over NATS
 * (sync/fleet-node.ts), the deterministic simulation over its simulated bus and clock.
 */
import type { JWK } from 'jose';
import type { Clock } from '../clock.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { errorMessage } from '../util.ts';
import { SOFTWARE_VERSION } from '../version.ts';
import { revocationListStaleness, type RevocationList } from '../writ/revocation-list.ts';
import { RevocationListHolder } from '../writ/revocation-poller.ts';
import { FLEET_HANDLERS, type FleetContext, type FleetHandlers } from './fleet-handlers.ts';
import { BUNDLE_KEY, kvKey, REVOCATION_LIST_KEY, type BusWatch, type FleetBus } from './fleet-bus.ts';
import { FleetKeyring } from './fleet-keyring.ts';
import type { BeaconTracker } from './freshness.ts';
import type { GovernanceNode } from './node.ts';
import type { NodeState } from './state.ts';
import { signStatusReport } from './status-report.ts';

/** pending approvals listed in a status report (the rest stay visible on the node's own console) */
const MAX_REPORTED_APPROVALS = 50;
/** seconds of decision statistics per report: a report every second, so a few lost ones leave no gap */
const STATS_REPORT_SECONDS = 5;
/** decided approvals stay in the reports this long */
const DECIDED_REPORT_MS = 5 * 60_000;

/** The revocation-list version applied here, read by the beacon rule (BeaconTracker's appliedRevocations). */
export class RevocationCursor {
  applied = 0;
}

export interface FleetMemberOptions {
  bus: FleetBus;
  node: GovernanceNode;
  state: NodeState;
  /** where approval decisions are recorded (the node's evidence ledger) */
  evidence: Ledger;
  beacons: BeaconTracker;
  cursor: RevocationCursor;
  /** this node's certificate (compact JWS), put in the certificates channel at start */
  certificate: string;
  authorityKeys: JWK[];
  clock: Clock;
  log: (s: string) => void;
  /** decision statistics for the status reports (telemetry/decision-stats.ts) */
  stats?: (seconds: number) => unknown;
  /** how long to wait at start for certificates and revocations to be applied (default 5 s) */
  catchUpTimeoutMs?: number;
  /** default 1 s */
  reportIntervalMs?: number;
  /** the steps, replaceable one by one: the simulation's mutation checks run a deliberately broken copy */
  handlers?: Partial<FleetHandlers>;
}

export interface FleetMember {
  /** highest revocation-list version (channel revision) applied */
  appliedRevocations(): number;
  status(): Record<string, unknown>;
  /** the full signed report's contents (what the authority's console shows) */
  report(): Record<string, unknown>;
  /** the URL this node's HTTP API and console are reached at, for the authority's console */
  advertise(url: string): void;
  /** the authority's newest signed revocation list; throws when none is held or it expired */
  revocationList(): RevocationList;
  /** signs and puts a status report now (also done every reportIntervalMs) */
  sendReport(): Promise<void>;
  stop(): void;
}

/**
 * Refuses a fleet whose consumed keys expire before a writ or an approval of this node can
 * stop being valid: single use could not hold (0: kept for ever).
 */
export async function checkConsumedTtl(bus: FleetBus, node: GovernanceNode): Promise<void> {
  const ttl = await bus.consumed.ttlMs();
  const l = node.limits;
  const mustKeepMs = Math.max(l.maxWritLifetimeSeconds * 1000, l.approvalTtlMs) + 2 * l.clockSkewSeconds * 1000;
  if (ttl !== 0 && ttl < mustKeepMs) {
    throw new Error(`the fleet's consumed bucket keeps jtis ${ttl / 1000} s, less than a writ or an approval here can stay valid (${mustKeepMs / 1000} s: the longer of writ.maxLifetimeSeconds and the approval lifetime, plus twice the clock skew): single use could not hold`);
  }
}

export async function joinFleet(o: FleetMemberOptions): Promise<FleetMember> {
  const { bus, node, state, clock, log } = o;
  const { nodeId, domain } = node.identity;
  const handlers: FleetHandlers = { ...FLEET_HANDLERS, ...o.handlers };
  await checkConsumedTtl(bus, node);
  const ctx: FleetContext = {
    node,
    state,
    evidence: o.evidence,
    beacons: o.beacons,
    cursor: o.cursor,
    authorityKeys: o.authorityKeys,
    keyring: new FleetKeyring(node.identity.verifierKeys, { self: nodeId, authorityKeys: o.authorityKeys, isIsolated: (n) => state.isRevoked('node', n), now: () => clock.now(), log }),
    revocationList: new RevocationListHolder({ keys: { keys: o.authorityKeys }, issuer: `authority:${bus.name}`, now: () => node.now() }),
    pendingRevocations: Promise.resolve(),
    retryBundle: null,
    log: (s) => log(`writ node ${nodeId}: ${s}`),
  };
  await bus.certificates.put(kvKey(nodeId), o.certificate);

  const on = (step: (c: FleetContext, e: { key: string; value: Uint8Array; revision: number }) => Promise<void>) => (e: { key: string; value: Uint8Array; revision: number }) => step(ctx, e);
  const watches: { bundles: BusWatch; beacons: BusWatch; revocations: BusWatch; approvals: BusWatch; certificates: BusWatch; revocationList: BusWatch } = {
    bundles: await (await bus.bundles(domain)).watch({ key: BUNDLE_KEY }, on(handlers.applyBundle)),
    beacons: await bus.beacons.watch({ key: kvKey(domain) }, on(handlers.offerBeacon)),
    revocations: await bus.revocations.watch({}, on(handlers.applyRevocation)),
    approvals: await bus.approvals.watch({ key: `${kvKey(nodeId)}.>` }, on(handlers.applyApprovalDecision)),
    // every revision kept, so an older certificate put last does not win at start
    certificates: await bus.certificates.watch({ history: true }, on(handlers.offerCertificate)),
    revocationList: await bus.revocationList.watch({ key: REVOCATION_LIST_KEY }, on(handlers.offerRevocationList)),
  };
  // Certificates (and the revocations that withdraw keys) are applied as they stand before
  // the node serves: otherwise a key retired by a later certificate could verify meanwhile.
  let cancelWait = () => undefined as void;
  await Promise.race([Promise.all([watches.revocations.caughtUp, watches.certificates.caughtUp]), new Promise<void>((r) => (cancelWait = clock.after(o.catchUpTimeoutMs ?? 5000, r)))]);
  cancelWait();

  const startedAt = new Date(clock.now()).toISOString();
  let address: string | null = null;
  let seq = 0;
  const status = () => {
    const a = node.policy.active;
    const b = o.beacons.beacon;
    // the same answer as /readyz (an expired bundle is not ready either); `reason` is the message
    const r = node.readiness();
    return {
      node: nodeId,
      domain,
      version: a?.bundle.manifest.version ?? null,
      digest: a?.bundle.digest ?? null,
      expires: a?.bundle.manifest.expires ?? null,
      beacon: b ? { seq: b.seq, ageMs: clock.now() - b.iat * 1000, exp: b.exp } : null,
      revocations: o.cursor.applied,
      ready: r.ready,
      reason: r.ready ? null : r.message,
      time: new Date(clock.now()).toISOString(),
    };
  };
  // What the authority's console shows of this node (docs/fleet.md, "Status reports").
  const report = () => {
    const now = clock.now();
    // the requests an admin can still decide, newest first (expired ones can no longer be approved)
    const open = state.pendingApprovals().filter((a) => Date.parse(a.expires) > now).reverse();
    return {
      ...status(),
      software: SOFTWARE_VERSION,
      startedAt,
      seq: ++seq,
      address,
      approvals: open.slice(0, MAX_REPORTED_APPROVALS).map(({ id, intent, principal, action, resource, policyDigest, expires, status: st }) => ({ id, intent, principal, action, resource, policyDigest, expires, status: st })),
      approvalsPending: open.length,
      // what became of recent decisions, so a decision made at the authority is confirmed with what was recorded
      decided: state.decidedApprovalsSince(new Date(now - DECIDED_REPORT_MS), MAX_REPORTED_APPROVALS).map(({ id, status: st, decidedBy }) => ({ id, status: st, decidedBy })),
      ...(o.stats && { stats: o.stats(STATS_REPORT_SECONDS) }),
    };
  };
  const sendReport = async () => {
    ctx.keyring.prune();
    const jws = await signStatusReport(report(), node.identity.privateKey, node.identity.kid);
    await bus.status.put(kvKey(nodeId), jws);
  };
  const stopReports = clock.every(o.reportIntervalMs ?? 1000, () => {
    void sendReport().catch(() => undefined);
    const retry = ctx.retryBundle;
    if (retry) void handlers.applyBundle(ctx, retry).catch((err: unknown) => ctx.log(`bundle (retry): ${errorMessage(err)}`));
  });

  return {
    appliedRevocations: () => o.cursor.applied,
    status,
    report,
    advertise: (url) => void (address = url),
    revocationList() {
      const list = ctx.revocationList.current();
      if (list === null) throw new Error('no revocation list from the authority yet');
      const stale = revocationListStaleness(list, new Date(clock.now()));
      if (stale !== null) throw new Error(`${stale}: the authority has not signed a newer one`);
      return list;
    },
    sendReport,
    stop() {
      stopReports();
      for (const w of Object.values(watches)) w.stop();
    },
  };
}

/**
 * `writ node`: an enforcement node of a fleet. It decides locally (no decision waits
 * on the network) and is fed by watches on the fleet's KV buckets:
 *   bundles      verified, anti-rollback, activated            (ActivePolicy)
 *   beacons      verified, newest kept                          (BeaconTracker → stale_policy)
 *   revocations  verified, applied to local state; the applied version feeds the beacon rule
 *   nodes        certificates of the fleet's nodes → the keys writs are verified with
 *   approvals    decisions signed at the authority's console → this node's pending approvals
 *   revocation_list  the authority's signed revocation list, newest kept, relayed at GET /v1/revocations
 * Evidence goes to the JetStream stream and is acknowledged before a writ is returned.
 * Every second the node reports its state in the status bucket.
 */
import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { JSONWebKeySet } from 'jose';
import { verifyApprovalDecision } from '../authority/approval-decision.ts';
import { verifyRevocation } from '../authority/revocation.ts';
import { decideApproval } from '../node/approval.ts';
import { CertificateSet } from '../authority/certificate-set.ts';
import { certifiedJwk, verifyNodeCertificate } from '../authority/keys.ts';
import { readConfig } from '../home/config.ts';
import { openHome, type OpenHome } from '../home/open.ts';
import { DecisionStats } from '../telemetry/decision-stats.ts';
import { SOFTWARE_VERSION } from '../version.ts';
import { BeaconTracker } from '../node/freshness.ts';
import { errorMessage } from '../util.ts';
import { drain } from './drain.ts';
import { JetStreamLedger } from './jetstream-ledger.ts';
import { signStatusReport } from './status-report.ts';
import { BUNDLE_KEY, connectFleet, kvKey, REVOCATION_LIST_KEY, type Fleet } from './nats.ts';
import { RevocationListHolder } from '../writ/revocation-poller.ts';
import { revocationListStaleness, type RevocationList } from '../writ/revocation-list.ts';
import { natsSingleUse } from './nats-single-use.ts';

/** pending approvals listed in a status report (the rest stay visible on the node's own console) */
const MAX_REPORTED_APPROVALS = 50;
/** seconds of decision statistics per report: a report every second, so a few lost ones leave no gap */
const STATS_REPORT_SECONDS = 5;
/** decided approvals stay in the reports this long */
const DECIDED_REPORT_MS = 5 * 60_000;

export interface FleetNode {
  home: OpenHome;
  fleet: Fleet;
  beacons: BeaconTracker;
  /** highest revocation-list version (KV revision) applied */
  appliedRevocations(): number;
  status(): Record<string, unknown>;
  /** this node's decision statistics (its status reports carry them; its console shows them) */
  stats: DecisionStats;
  /** the URL this node's HTTP API and console are reached at, for the authority's console */
  advertise(url: string): void;
  /** the authority's newest signed revocation list, to relay to executors; throws when none is held or it expired */
  revocationList(): Promise<RevocationList>;
  /** waits (bounded) until the node holds a current bundle and beacon; a one-shot enforcement point calls it first */
  waitFresh(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A watch; `caughtUp` resolves once what the bucket held when it started has been applied. */
async function watch(name: string, kv: KV, key: string | undefined, onEntry: (value: Uint8Array, key: string, revision: number) => Promise<void>, log: (s: string) => void, o: { history?: boolean } = {}): Promise<{ stop(): void; caughtUp: Promise<void> }> {
  let done: () => void = () => undefined;
  const caughtUp = new Promise<void>((r) => (done = r));
  if ((await kv.status()).values === 0) done();
  const w = await kv.watch({ ...(key !== undefined && { key }), ...(o.history && { include: KvWatchInclude.AllHistory }) });
  drain(`writ node: ${name}`, w, async (e) => {
    if (e.operation === 'PUT') await onEntry(e.value, e.key, e.revision).catch((err: unknown) => log(`writ node: ${name} ${e.key}: ${errorMessage(err)}`));
    if (e.delta === 0) done();
  }, log);
  return { stop: () => w.stop(), caughtUp };
}

export async function startFleetNode(o: { home: string; nats: string; fleet?: string; log?: (s: string) => void; connectTimeoutMs?: number }): Promise<FleetNode> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const fleet = await connectFleet(o.nats, { client: 'writ-node', ...(o.fleet && { fleet: o.fleet }), ...(o.connectTimeoutMs !== undefined && { connectTimeoutMs: o.connectTimeoutMs }) });
  let applied = 0;
  let pendingRevocations = Promise.resolve();
  const config = readConfig(o.home);
  const beacons = new BeaconTracker({ keys: config.authority.keys, domain: config.domain, appliedRevocations: () => applied });
  const evidence = new JetStreamLedger(fleet.js, { subject: fleet.subject, domain: config.domain, nodeId: config.nodeId, nc: fleet.nc });
  // Single use is fleet-wide: the jti is created once in the fleet's consumed bucket.
  const h = await openHome(o.home, { evidence, freshness: beacons, sharedSingleUse: natsSingleUse(fleet.kv.consumed, { nodeId: config.nodeId }) });
  // A consumed jti must outlive every writ that could still verify somewhere, and a used
  // approval (approval:<id>) every approval that could still be presented (0: kept for ever).
  const consumedTtlMs = (await fleet.kv.consumed.status()).ttl;
  const skewMs = 2 * h.node.limits.clockSkewSeconds * 1000;
  const mustKeepMs = Math.max(h.node.limits.maxWritLifetimeSeconds * 1000, h.node.limits.approvalTtlMs) + skewMs;
  if (consumedTtlMs !== 0 && consumedTtlMs < mustKeepMs) {
    h.close();
    await fleet.close().catch(() => undefined);
    throw new Error(`the fleet's consumed bucket keeps jtis ${consumedTtlMs / 1000} s, less than a writ or an approval here can stay valid (${mustKeepMs / 1000} s: the longer of writ.maxLifetimeSeconds and the approval lifetime, plus twice the clock skew): single use could not hold`);
  }
  // the fleet's certified nodes: writs from any of them verify here, unless isolated
  const keys: JSONWebKeySet = h.node.identity.verifierKeys;
  const certs = new CertificateSet((node) => kvKey(node));
  const dropKey = (kid: unknown) => {
    const i = keys.keys.findIndex((k) => k.kid === kid);
    if (i >= 0) keys.keys.splice(i, 1);
  };
  const pruneExpired = () => {
    for (const c of certs.expire()) {
      dropKey(c.jwk.kid);
      log(`writ node ${config.nodeId}: the certificate of ${c.node} expired: its writs no longer verify here`);
    }
  };
  await fleet.kv.nodes.put(kvKey(config.nodeId), config.node.certificate);
  const revocationList = new RevocationListHolder({ keys: { keys: config.authority.keys }, issuer: `authority:${fleet.name}` });

  const stops = [
    await watch('bundles', await fleet.bundles(config.domain), BUNDLE_KEY, async (bytes) => {
      const { bundle } = await h.node.policy.activate(bytes);
      log(`writ node ${config.nodeId}: activated bundle ${bundle.manifest.version} (${bundle.digest})`);
    }, log),
    await watch('beacons', fleet.kv.beacons, kvKey(config.domain), async (bytes) => {
      await beacons.offer(new TextDecoder().decode(bytes));
    }, log),
    await watch('revocations', fleet.kv.revocations, undefined, (bytes, _key, revision) => {
      // applied strictly in revision order, so `applied` never claims one that is not
      pendingRevocations = pendingRevocations
        .then(async () => {
          const r = await verifyRevocation(new TextDecoder().decode(bytes), config.authority.keys);
          h.state.revoke(r.kind, r.value, r.reason);
          // an isolated node's key leaves this node's trusted keys (its writs: writ_unknown_key)
          if (r.kind === 'node') {
            const held = certs.get(r.value);
            if (held && r.value !== config.nodeId) dropKey(held.jwk.kid);
          }
          applied = Math.max(applied, revision);
        })
        .catch((err: unknown) => log(`writ node ${config.nodeId}: revocation ${revision} refused: ${errorMessage(err)}`)); // the chain goes on
      return pendingRevocations;
    }, log),
    await watch('approvals', fleet.kv.approvals, `${kvKey(config.nodeId)}.>`, async (bytes) => {
      const d = await verifyApprovalDecision(new TextDecoder().decode(bytes), config.authority.keys);
      if (d.node !== config.nodeId) throw new Error(`the decision names node ${d.node}`);
      const a = h.state.approval(d.id);
      if (!a) throw new Error(`no approval request ${d.id}`);
      if (a.status !== 'pending') return; // decided already: a replay of the bucket, or decided here first
      if (a.intent !== d.intent) throw new Error(`approval ${d.id}: the decision was made for another intent`);
      await decideApproval(h.evidence, h.state, d.id, d.decision, 'authority-console');
      log(`writ node ${config.nodeId}: approval ${d.id} ${d.decision} at the authority's console`);
    }, log),
    // A node's newest certificate stands: a new one replaces the node's old key (rotation),
    // an older one put again does not bring that key back, and a key whose certificate
    // expired is dropped (pruneExpired, every second).
    await watch('nodes', fleet.kv.nodes, undefined, async (bytes, key) => {
      const cert = await verifyNodeCertificate(new TextDecoder().decode(bytes), config.authority.keys);
      const had = certs.offer(key, cert);
      if (had === 'refused') throw new Error(`certificate of ${cert.sub} refused: filed under another node's key, or older than the one held`);
      if (had && had.jwk.kid !== cert.jwk.kid) dropKey(had.jwk.kid);
      if (h.state.isRevoked('node', cert.sub)) return dropKey(cert.jwk.kid); // isolated: its key is not trusted here
      const jwk = certifiedJwk(cert); // bound to its node and domain
      const i = keys.keys.findIndex((k) => k.kid === cert.jwk.kid);
      if (i >= 0) keys.keys[i] = jwk;
      else keys.keys.push(jwk);
    }, log, { history: true }), // every revision kept, so an older certificate put last does not win at start
    await watch('revocation list', fleet.kv.revocation_list, REVOCATION_LIST_KEY, async (bytes) => {
      await revocationList.offer(new TextDecoder().decode(bytes));
    }, log),
  ];
  // Certificates (and the revocations that withdraw keys) are applied as they stand before
  // the node serves: otherwise a key retired by a later certificate could verify meanwhile.
  const [, , revocationsWatch, , nodesWatch] = stops;
  await Promise.race([Promise.all([revocationsWatch?.caughtUp, nodesWatch?.caughtUp]), new Promise((r) => setTimeout(r, 5000).unref())]);

  const stats = DecisionStats.observe(h.node);
  const startedAt = new Date().toISOString();
  let address: string | null = null;
  const status = () => {
    const a = h.node.policy.active;
    const b = beacons.beacon;
    // the same answer as /readyz (an expired bundle is not ready either); `reason` is the message
    const r = h.node.readiness();
    return {
      node: config.nodeId,
      domain: config.domain,
      version: a?.bundle.manifest.version ?? null,
      digest: a?.bundle.digest ?? null,
      expires: a?.bundle.manifest.expires ?? null,
      beacon: b ? { seq: b.seq, ageMs: Date.now() - b.iat * 1000, exp: b.exp } : null,
      revocations: applied,
      ready: r.ready,
      reason: r.ready ? null : r.message,
      time: new Date().toISOString(),
    };
  };
  // What the authority's console shows of this node (docs/fleet.md, "Status reports").
  let seq = 0;
  const fullReport = () => {
    const now = new Date();
    // the requests an admin can still decide, newest first (expired ones can no longer be approved)
    const open = h.state.pendingApprovals().filter((a) => Date.parse(a.expires) > now.getTime()).reverse();
    return {
      ...status(),
      software: SOFTWARE_VERSION,
      startedAt,
      seq: ++seq,
      address,
      approvals: open.slice(0, MAX_REPORTED_APPROVALS).map(({ id, intent, principal, action, resource, policyDigest, expires, status: st }) => ({ id, intent, principal, action, resource, policyDigest, expires, status: st })),
      approvalsPending: open.length,
      // what became of recent decisions, so a decision made at the authority is confirmed with what was recorded
      decided: h.state.decidedApprovalsSince(new Date(now.getTime() - DECIDED_REPORT_MS), MAX_REPORTED_APPROVALS).map(({ id, status: st, decidedBy }) => ({ id, status: st, decidedBy })),
      stats: stats.report(STATS_REPORT_SECONDS),
    };
  };
  const report = setInterval(() => {
    pruneExpired();
    signStatusReport(fullReport(), h.node.identity.privateKey, h.node.identity.kid)
      .then((jws) => fleet.kv.status.put(kvKey(config.nodeId), jws))
      .catch(() => undefined);
  }, 1000);
  report.unref();

  return {
    home: h,
    fleet,
    beacons,
    appliedRevocations: () => applied,
    status,
    stats,
    advertise: (url) => void (address = url),
    async revocationList() {
      const list = revocationList.current();
      if (list === null) throw new Error('no revocation list from the authority yet');
      const stale = revocationListStaleness(list);
      if (stale !== null) throw new Error(`${stale}: the authority has not signed a newer one`);
      return list;
    },
    async waitFresh(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (h.node.staleness() !== null) {
        if (Date.now() >= deadline) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    async close() {
      clearInterval(report);
      for (const w of stops) w.stop();
      await fleet.close().catch(() => undefined);
      h.close();
    },
  };
}

/**
 * The fleet authority (`writ authority`, docs/fleet.md) on any bus: publishes a signed
 * beacon per domain every `beaconIntervalMs` (1 s), valid for `beaconTtlMs` (5 s), naming
 * the domain's current bundle — the newest one in its bundle channel that verifies against
 * the pinned keys and threshold, never older than one named before (its BundleHistory) —
 * and the revocation-list version (the revocations channel's highest revision of a
 * revocation that verifies). It also signs the revocation list executors check offline,
 * and the approval decisions made at its console. If it stops, beacons expire and every
 * node denies with stale_policy; when it returns, nodes resume without a restart.
 */
import type { CryptoKey, JWK } from 'jose';
import type { Clock } from '../clock.ts';
import { canonicalUidText } from '../canonical/uid.ts';
import type { BundleHistory, NamedBundle } from '../ledger/pg-authority-history.ts';
import { BUNDLE_KEY, kvKey, REVOCATION_LIST_KEY, type BusWatch, type FleetBus } from '../node/fleet-bus.ts';
import { verifyRevocation } from '../node/revocation-message.ts';
import { RevocationListSigner } from '../node/revocation-list.ts';
import type { VerifiedBundle } from '../policy/manifest.ts';
import { verifyBundle } from '../policy/verify-bundle.ts';
import { errorMessage } from '../util.ts';
import type { RevokedKind } from '../writ/revocation-list.ts';
import { signApprovalDecision } from './approval-decision.ts';
import { signBeacon } from './beacon.ts';
import { watchFleet, type FleetView } from './fleet-view.ts';

export interface FleetAuthority {
  /** the fleet's nodes: certificates and status reports */
  view: FleetView;
  /** the beacon contents currently published, per domain */
  current(): Map<string, { version: number; digest: string }>;
  /** the verified bundle each beacon names, per domain (once its bytes were seen) */
  bundles(): Map<string, VerifiedBundle>;
  /** every bundle named current, newest first */
  named(): Promise<NamedBundle[]>;
  /** the revocation-list version the beacons name (the highest revision of a verified revocation) */
  revocationVersion(): number;
  /** signs an approval decision and puts it where the node holding the request applies it */
  sendApprovalDecision(d: { node: string; id: string; intent: string; decision: 'approved' | 'rejected' }): Promise<void>;
  /** publishes the beacons (and the revocation list, if it changed) now */
  publish(): Promise<void>;
  stop(): void;
}

export interface FleetAuthorityOptions {
  bus: FleetBus;
  /** this authority's own domain (its beacons are published even before a bundle exists) */
  domain: string;
  trust: { keys: JWK[]; threshold: number };
  signer: { kid: string; key: CryptoKey };
  history: BundleHistory;
  clock: Clock;
  log: (s: string) => void;
  beaconIntervalMs?: number;
  beaconTtlMs?: number;
  /** lifetime of the signed revocation list (default 60 s) */
  revocationListTtlSeconds?: number;
}

export async function runAuthority(o: FleetAuthorityOptions): Promise<FleetAuthority> {
  const { bus, clock, log, signer, history } = o;
  const bundles = await history.load();
  const verified = new Map<string, VerifiedBundle>();
  let revocationVersion = 0;
  let seq = 0;
  // every revocation that verifies, by revision: the signed list executors check offline
  const revoked: { seq: number; kind: RevokedKind; value: string }[] = [];
  const listSigner = new RevocationListSigner({
    issuer: `authority:${bus.name}`,
    key: signer,
    since: (s) => revoked.filter((r) => r.seq > s),
    now: () => new Date(clock.now()),
    ...(o.revocationListTtlSeconds !== undefined && { ttlSeconds: o.revocationListTtlSeconds }),
  });
  let listPut = '';
  const publishList = async () => {
    const list = await listSigner.current();
    if (list.etag === listPut) return;
    await bus.revocationList.put(REVOCATION_LIST_KEY, list.jws);
    listPut = list.etag;
  };

  const ttlMs = o.beaconTtlMs ?? 5000;
  const publish = async () => {
    const domains = new Set([o.domain, ...bundles.keys()]);
    for (const domain of domains) {
      const t = clock.now();
      seq = Math.max(seq + 1, t); // strictly increasing across restarts
      const jws = await signBeacon({ domain, seq, iat: Math.floor(t / 1000), exp: Math.ceil((t + ttlMs) / 1000), bundle: bundles.get(domain) ?? null, revocations: { version: revocationVersion } }, signer);
      await bus.beacons.put(kvKey(domain), jws);
    }
    await publishList();
  };
  const publishLogged = () => publish().catch((err: unknown) => log(`writ authority: beacon: ${errorMessage(err)}`));

  // One bundle channel per domain: the authority watches its own domain's and that of
  // every certified node that registers.
  const watching = new Map<string, Promise<BusWatch>>();
  const watchDomain = (domain: string) => {
    if (watching.has(domain)) return watching.get(domain) as Promise<BusWatch>;
    const w = bus.bundles(domain).then((ch) =>
      ch.watch({ key: BUNDLE_KEY }, async (e) => {
        try {
          const b = await verifyBundle(e.value, { trust: o.trust, now: new Date(clock.now()), domain });
          const cur = bundles.get(domain);
          if (cur && cur.version === b.manifest.version && cur.digest === b.digest) verified.set(domain, b); // named before a restart
          if (!cur || b.manifest.version > cur.version) {
            await history.record({ domain, version: b.manifest.version, digest: b.digest, named: new Date(clock.now()).toISOString() });
            bundles.set(domain, { version: b.manifest.version, digest: b.digest });
            verified.set(domain, b);
            // name it at once: nodes that activated it are stale until a beacon does
            await publishLogged();
          }
        } catch (err) {
          log(`writ authority: ignoring bundle for ${domain} (revision ${e.revision}): ${errorMessage(err)}`);
        }
      }),
    );
    watching.set(domain, w);
    return w;
  };
  await watchDomain(o.domain);
  const view = await watchFleet(bus, o.trust.keys, log, () => clock.now());
  view.onCertified((node, domain) => void watchDomain(domain).catch((err: unknown) => log(`writ authority: domain ${domain} (node ${node}): ${errorMessage(err)}`)));
  const rw = await bus.revocations.watch({}, async (e) => {
    // only revocations nodes can apply count; a bad one would freeze the fleet as stale
    const r = await verifyRevocation(new TextDecoder().decode(e.value), o.trust.keys).catch((err: unknown) => (log(`writ authority: ignoring revocation ${e.key}: ${errorMessage(err)}`), null));
    if (r) {
      revocationVersion = Math.max(revocationVersion, e.revision);
      const value = r.kind === 'principal' || r.kind === 'quarantine' ? canonicalUidText(r.value) : r.value;
      revoked.push({ seq: e.revision, kind: r.kind, value });
      if (r.kind === 'node') view.isolate(r.value);
    }
    await publish().catch(() => undefined);
  });

  const stopBeacons = clock.every(o.beaconIntervalMs ?? 1000, () => void publishLogged());
  await publishLogged();
  return {
    view,
    current: () => new Map(bundles),
    bundles: () => new Map(verified),
    named: () => history.list(),
    revocationVersion: () => revocationVersion,
    async sendApprovalDecision(d) {
      await bus.approvals.put(kvKey(d.node, d.id), await signApprovalDecision(d, signer, clock.now()));
    },
    publish,
    stop() {
      stopBeacons();
      for (const w of watching.values()) void w.then((x) => x.stop(), () => undefined);
      view.stop();
      rw.stop();
    },
  };
}

/**
 * `writ node`: an enforcement node of a fleet on NATS JetStream. The wiring only: the
 * bus (sync/nats/bus.ts), the node's home opened with the fleet's evidence stream, beacon
 * rule and single-use store, and the node's membership of the fleet (node/fleet-member.ts:
 * every watch, the keyring, status reports) on the system clock.
 */
import { systemClock, type Clock } from '../clock.ts';
import { readConfig } from '../home/config.ts';
import { openHome, type OpenHome } from '../home/open.ts';
import { BusLedger } from '../node/bus-ledger.ts';
import { busSingleUse } from '../node/bus-single-use.ts';
import type { FleetBus } from '../node/fleet-bus.ts';
import { joinFleet, RevocationCursor, type FleetMember } from '../node/fleet-member.ts';
import { BeaconTracker } from '../node/freshness.ts';
import { FleetUsageMeter } from '../node/usage-fleet.ts';
import { DecisionStats } from '../telemetry/decision-stats.ts';
import type { RevocationList } from '../writ/revocation-list.ts';
import { connectNatsBus } from './nats/bus.ts';

export interface FleetNode {
  home: OpenHome;
  bus: FleetBus;
  member: FleetMember;
  beacons: BeaconTracker;
  /** highest revocation-list version (channel revision) applied */
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

/** A fleet node on any bus: the home opened with the bus's evidence, single use and beacon rule, then joined. */
export async function startNodeOnBus(o: { home: string; bus: FleetBus; clock?: Clock; log?: (s: string) => void }): Promise<FleetNode> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const clock = o.clock ?? systemClock;
  const { bus } = o;
  const config = readConfig(o.home);
  const cursor = new RevocationCursor();
  const beacons = new BeaconTracker({ keys: config.authority.keys, domain: config.domain, appliedRevocations: () => cursor.applied });
  const evidence = new BusLedger(bus.evidence, bus.evidenceSubject(config.domain, config.nodeId));
  const now = () => new Date(clock.now());
  // Single use is fleet-wide: the jti is created once in the fleet's consumed store.
  // Usage counters are fleet-wide too: reserved in the fleet's store (docs/budgets.md); a bus without one leaves them unavailable (deny)
  const h = await openHome(o.home, { evidence, freshness: beacons, now, sharedSingleUse: busSingleUse(bus.consumed, { nodeId: config.nodeId, now }), ...(bus.usage && { usage: new FleetUsageMeter(bus.usage) }) });
  const stats = DecisionStats.observe(h.node);
  let member: FleetMember;
  try {
    member = await joinFleet({ bus, node: h.node, state: h.state, evidence: h.evidence, beacons, cursor, certificate: config.node.certificate, authorityKeys: config.authority.keys, clock, log, stats: (s) => stats.report(s) });
  } catch (err) {
    h.close();
    throw err;
  }
  return {
    home: h,
    bus,
    member,
    beacons,
    appliedRevocations: () => member.appliedRevocations(),
    status: () => member.status(),
    stats,
    advertise: (url) => member.advertise(url),
    revocationList: async () => member.revocationList(),
    async waitFresh(timeoutMs) {
      const deadline = clock.now() + timeoutMs;
      while (h.node.staleness() !== null) {
        if (clock.now() >= deadline) return false;
        await new Promise<void>((r) => clock.after(20, r));
      }
      return true;
    },
    async close() {
      member.stop();
      await bus.close().catch(() => undefined);
      h.close();
    },
  };
}

export async function startFleetNode(o: { home: string; nats: string; fleet?: string; log?: (s: string) => void; connectTimeoutMs?: number }): Promise<FleetNode> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const { bus } = await connectNatsBus(o.nats, { client: 'writ-node', log, ...(o.fleet && { fleet: o.fleet }), ...(o.connectTimeoutMs !== undefined && { connectTimeoutMs: o.connectTimeoutMs }) });
  try {
    return await startNodeOnBus({ home: o.home, bus, log });
  } catch (err) {
    await bus.close().catch(() => undefined);
    throw err;
  }
}

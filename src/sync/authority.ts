/**
 * `writ authority` on NATS JetStream: the wiring only — the bus (sync/nats/bus.ts), the
 * authority home's signing key, its history of named bundles (PostgreSQL with --pg,
 * ledger/pg-authority-history.ts; else its process memory), and the authority itself
 * (authority/fleet-authority.ts) on the system clock.
 */
import { systemClock } from '../clock.ts';
import { readConfig, type HomeConfig } from '../home/config.ts';
import { authoritySigningKeys } from '../home/open.ts';
import { memoryBundleHistory, PgBundleHistory } from '../ledger/pg-authority-history.ts';
import type { FleetBus } from '../node/fleet-bus.ts';
import { runAuthority, type FleetAuthority } from '../authority/fleet-authority.ts';
import { connectNatsBus } from './nats/bus.ts';

export type { NamedBundle } from '../ledger/pg-authority-history.ts';

export interface AuthorityHandle extends Omit<FleetAuthority, 'stop' | 'publish'> {
  bus: FleetBus;
  /** the authority home (where the fleet log's verifier key is kept) */
  home: string;
  config: HomeConfig;
  close(): Promise<void>;
}

export async function startAuthority(o: {
  home: string;
  nats: string;
  /** PostgreSQL: the authority's own record of every bundle it named current (its anti-rollback floor across restarts) */
  pg?: string;
  fleet?: string;
  beaconIntervalMs?: number;
  beaconTtlMs?: number;
  /** lifetime of the signed revocation list (default 60 s) */
  revocationListTtlSeconds?: number;
  log?: (s: string) => void;
}): Promise<AuthorityHandle> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const config = readConfig(o.home);
  const [signer] = await authoritySigningKeys(o.home, config);
  if (!signer) throw new Error(`${o.home} holds no authority key: beacons cannot be signed here`);
  const { bus } = await connectNatsBus(o.nats, { client: 'writ-authority', log, ...(o.fleet && { fleet: o.fleet }) });
  const history = o.pg ? new PgBundleHistory(o.pg, bus.name) : memoryBundleHistory();
  let a: FleetAuthority;
  try {
    a = await runAuthority({
      bus,
      domain: config.domain,
      trust: { keys: config.authority.keys, threshold: config.authority.threshold },
      signer,
      history,
      clock: systemClock,
      log,
      ...(o.beaconIntervalMs !== undefined && { beaconIntervalMs: o.beaconIntervalMs }),
      ...(o.beaconTtlMs !== undefined && { beaconTtlMs: o.beaconTtlMs }),
      ...(o.revocationListTtlSeconds !== undefined && { revocationListTtlSeconds: o.revocationListTtlSeconds }),
    });
  } catch (err) {
    await history.close().catch(() => undefined);
    await bus.close().catch(() => undefined);
    throw err;
  }
  return {
    view: a.view,
    current: a.current,
    bundles: a.bundles,
    named: a.named,
    revocationVersion: a.revocationVersion,
    sendApprovalDecision: a.sendApprovalDecision,
    bus,
    home: o.home,
    config,
    async close() {
      a.stop();
      await history.close();
      await bus.close().catch(() => undefined);
    },
  };
}

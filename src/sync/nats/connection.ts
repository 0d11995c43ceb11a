/**
 * The NATS JetStream connection behind the fleet's bus (node/fleet-bus.ts; the adapter is
 * ./bus.ts). What each channel is on NATS (docs/fleet.md):
 *   KV writ_bundles_<domain>  key bundle    the domain's current signed bundle (bytes): one bucket per domain
 *   KV writ_beacons       key <domain>        the newest signed beacon (compact JWS)
 *   KV writ_revocations   key <kind>.<id>     signed revocations; the bucket's revision is the revocation-list version
 *   KV writ_revocation_list key list     the authority's signed revocation list (writ.revocations/1), for executors that verify offline
 *   KV writ_nodes         key <node id>       node certificates (compact JWS by the authority)
 *   KV writ_status        key <node id>       each node's signed status report (version, digest, beacon age, readiness, …)
 *   KV writ_approvals     key <node>.<id>     approval decisions signed by the authority, for the node holding the request
 *   KV writ_consumed      key <jti>           writs used, fleet-wide: created once, atomically (./bus.ts); kept CONSUMED_TTL_MS
 *   KV writ_usage         key u.<digest>      usage counters' recent allows, compare-and-set (node/usage-fleet.ts); kept USAGE_TTL_MS
 *   stream WRIT_EVIDENCE  writ.evidence.<domain>.<node>   decision and outcome leaves; the stream
 *                         sequence is the ledger index (led = seq - 1); a node returns a writ only
 *                         after JetStream acknowledged its leaf
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

import { CONSUMED_TTL_MS } from '../../node/fleet-bus.ts';
import { USAGE_TTL_MS } from '../../node/usage-fleet.ts';

export { BUNDLE_KEY, CONSUMED_TTL_MS, kvKey, REVOCATION_LIST_KEY } from '../../node/fleet-bus.ts';

export const BUCKETS = ['beacons', 'revocations', 'revocation_list', 'nodes', 'status', 'approvals', 'consumed', 'usage'] as const;

/**
 * Names of a fleet's buckets and stream. Several fleets can share one NATS server,
 * each under its own name (`--fleet`, default `writ`): buckets `<fleet>_bundles`, …,
 * stream `<FLEET>_EVIDENCE` on subjects `<fleet>.evidence.<domain>.<node>`.
 */
export function fleetNames(fleet: string) {
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(fleet)) throw new Error(`invalid fleet name ${JSON.stringify(fleet)}: lower-case letters, digits, _`);
  return {
    bucket: (b: (typeof BUCKETS)[number]) => `${fleet}_${b}`,
    /** bucket names allow [A-Za-z0-9_-]: a domain with other characters is base64url-encoded */
    bundleBucket: (domain: string) => `${fleet}_bundles_${/^[a-z0-9_-]+$/.test(domain) ? domain : `b64_${Buffer.from(domain).toString('base64url')}`}`,
    stream: `${fleet.toUpperCase()}_EVIDENCE`,
    subject: `${fleet}.evidence`,
  };
}

export interface Fleet {
  name: string;
  nc: NatsConnection;
  js: JetStreamClient;
  kv: Record<(typeof BUCKETS)[number], KV>;
  /** the bundle bucket of a domain (created on first use) */
  bundles(domain: string): Promise<KV>;
  stream: string;
  /** where evidence is published: `<subject>.<domain>.<node>` */
  subject: string;
  close(): Promise<void>;
}

export async function connectFleet(url: string, o: { fleet?: string; client?: string; /** first connection (default: the client's 20 s) */ connectTimeoutMs?: number } = {}): Promise<Fleet> {
  const name = o.fleet ?? process.env.WRIT_FLEET ?? 'writ';
  const names = fleetNames(name);
  const nc = await connect({ servers: url, name: o.client ?? 'writ', maxReconnectAttempts: -1, reconnectTimeWait: 250, ...(o.connectTimeoutMs !== undefined && { timeout: o.connectTimeoutMs }) });
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(names.stream);
  } catch {
    await jsm.streams.add({ name: names.stream, subjects: [`${names.subject}.>`], duplicate_window: 120_000_000_000 });
  }
  const kvm = new Kvm(nc);
  const open = (b: (typeof BUCKETS)[number], history: number) => kvm.create(names.bucket(b), { history });
  const bundleBuckets = new Map<string, Promise<KV>>();
  const bundles = (domain: string) => {
    let b = bundleBuckets.get(domain);
    if (!b) bundleBuckets.set(domain, (b = kvm.create(names.bundleBucket(domain), { history: 10 })));
    return b;
  };
  const kv = {
    beacons: await open('beacons', 1),
    revocations: await open('revocations', 1),
    revocation_list: await open('revocation_list', 1),
    // several certificates per node (rotations): whoever reads the bucket fresh can still tell the newest
    nodes: await open('nodes', 16),
    status: await open('status', 1),
    // decisions are applied within seconds; a day is ample, and the bucket does not grow for ever
    approvals: await kvm.create(names.bucket('approvals'), { history: 1, ttl: 24 * 3600_000 }),
    consumed: await kvm.create(names.bucket('consumed'), { history: 1, ttl: CONSUMED_TTL_MS }),
    usage: await kvm.create(names.bucket('usage'), { history: 1, ttl: USAGE_TTL_MS }),
  };
  return { name, nc, js: jetstream(nc), kv, bundles, stream: names.stream, subject: names.subject, close: () => nc.drain() };
}

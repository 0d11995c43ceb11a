/**
 * The fleet's bus, as the node, the authority and the sequencer use it (docs/fleet.md,
 * "The bus"). The core defines it; transports implement it: NATS JetStream
 * (sync/nats/bus.ts) for fleets, an in-process bus (sync/in-process-bus.ts) for one
 * process and for the deterministic simulation, which runs the shipped node, authority and
 * sequencer over it.
 *
 *   channel          key               what                                      written by
 *   bundles(domain)  bundle            the domain's current signed bundle (bytes) writ fleet publish
 *   beacons          <domain>          the newest signed beacon                   authority
 *   revocations      <kind>.<id>       signed revocations; the channel's revision writ revoke/isolate/quarantine
 *                                      is the revocation-list version
 *   revocationList   list              the authority's signed revocation list     authority
 *   certificates     <node>            node certificates (newest per node stands) nodes, writ fleet add-node
 *   status           <node>            each node's signed status report           nodes
 *   approvals        <node>.<id>       approval decisions signed by the authority authority
 *   consumed         <jti>             writs used, fleet-wide: created once        nodes
 *   usage            u.<digest>        usage counters' recent allows (compare-and-set) nodes (docs/budgets.md)
 *   evidence         <domain>.<node>   decision and outcome leaves, acknowledged   nodes, the authority's CLI
 *
 * A channel keeps the newest message per key, each put numbered by a revision that grows
 * across the channel's keys (a JetStream KV bucket). A watch delivers, in revision order,
 * what the channel holds when it starts and then every later put; `caughtUp` resolves
 * once what was held at the start has been handled.
 */
import type { EvidenceStream } from '../ledger/evidence-stream.ts';

export const BUNDLE_KEY = 'bundle';
export const REVOCATION_LIST_KEY = 'list';

/**
 * How long a consumed jti is kept fleet-wide. It must outlast every writ a node accepts:
 * a node refuses to start if its longest writ lifetime plus twice the clock skew does not fit.
 */
export const CONSUMED_TTL_MS = 15 * 60_000;

export interface BusEntry {
  key: string;
  value: Uint8Array;
  revision: number;
}

export interface BusWatch {
  /** resolves once every entry the channel held when the watch started has been handled */
  readonly caughtUp: Promise<void>;
  stop(): void;
}

export interface WatchOptions {
  /** one key, or a prefix ending in `.>`; every key when absent */
  key?: string;
  /** every kept revision of each key, not only the newest (certificates: the newest by iat wins, whatever was put last) */
  history?: boolean;
}

export interface BusChannel {
  /** Stores `value` as the newest under `key`; resolves with its revision. */
  put(key: string, value: Uint8Array | string): Promise<number>;
  get(key: string): Promise<BusEntry | null>;
  /** What the channel holds now (every kept revision with `history`), in revision order. */
  list(o?: { history?: boolean }): Promise<BusEntry[]>;
  /** Delivers entries one at a time, in revision order; an error in `onEntry` is logged and the watch goes on. */
  watch(o: WatchOptions, onEntry: (e: BusEntry) => Promise<void>): Promise<BusWatch>;
}

/**
 * Keys created once (fleet-wide single use). `create` is atomic across the fleet: of any
 * number of concurrent creates of one key exactly one resolves true; a key ever written
 * (even deleted since) resolves false. Any other outcome — unreachable, timed out — rejects.
 */
export interface CreateOnceStore {
  create(key: string, value: string): Promise<boolean>;
  has(key: string): Promise<boolean>;
  /** how long a key is kept (0: for ever) */
  ttlMs(): Promise<number>;
}

/**
 * Values replaced only by whoever read the current one (usage counters, node/usage-fleet.ts).
 * `swap` writes `value` if the key's revision is still `revision` (0: the key holds no value)
 * and resolves false if another write came first; unreachable or timed out, it rejects.
 */
export interface SwapStore {
  get(key: string): Promise<{ value: Uint8Array; revision: number } | null>;
  swap(key: string, value: Uint8Array, revision: number): Promise<boolean>;
}

export interface FleetBus {
  /** the fleet's name (NATS: the prefix of its buckets and stream) */
  readonly name: string;
  /** the bundle channel of a domain (opened on first use) */
  bundles(domain: string): Promise<BusChannel>;
  readonly beacons: BusChannel;
  readonly revocations: BusChannel;
  readonly revocationList: BusChannel;
  readonly certificates: BusChannel;
  readonly status: BusChannel;
  readonly approvals: BusChannel;
  readonly consumed: CreateOnceStore;
  /** usage counters, fleet-wide (absent: a bus without one, and its nodes deny what a counter counts) */
  readonly usage?: SwapStore;
  readonly evidence: EvidenceStream;
  /** the subject a node (or `authority`) publishes its evidence under */
  evidenceSubject(domain: string, node: string): string;
  close(): Promise<void>;
}

/** Channel keys allow [-/_=.a-zA-Z0-9]: anything else (a Cedar UID, say) is base64url-encoded. */
export function kvKey(...parts: string[]): string {
  return parts.map((p) => (/^[-_=a-zA-Z0-9]+$/.test(p) ? p : `b64_${Buffer.from(p).toString('base64url')}`)).join('.');
}

/** Whether `key` is selected by a watch's `key` option (exact, or a `prefix.>`). */
export function keyMatches(filter: string | undefined, key: string): boolean {
  if (filter === undefined) return true;
  return filter.endsWith('.>') ? key.startsWith(filter.slice(0, -1)) : key === filter;
}

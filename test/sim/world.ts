/** Shared vocabulary of the fleet simulation: endpoints, events, constants, mutations, the world interface. */
import type { Prng } from './prng.ts';

/** Simulated time 0 is this wall-clock instant; node clocks are EPOCH_MS + sim time + skew. */
export const EPOCH_MS = Date.parse('2030-01-01T00:00:00.000Z');
export const DOMAIN = 'sim';
export const FLEET = 'sim';
/** the authority publishes beacons every 1 s (the default) or 2 s, per seed, valid for BEACON_TTL_MS */
export const BEACON_INTERVALS_MS = [1000, 2000] as const;
export const BEACON_TTL_MS = 5000;
/** how long a request on the bus (an evidence append, a consume, a put) waits for its answer */
export const BUS_TIMEOUT_MS = 1000;
/** the operator's loop: re-puts the current bundle if the channel holds another, replaces one about to expire */
export const OPERATOR_INTERVAL_MS = 1000;
export const CHECKPOINT_INTERVAL_MS = 1500;
/** bound on |node clock − true time| */
export const MAX_SKEW_MS = 2000;

export const PRINCIPALS = ['Agent::"a1"', 'Agent::"a2"', 'Agent::"a3"', 'Agent::"a4"'] as const;
export const RESOURCES = ['Doc::"d1"', 'Doc::"d2"', 'Doc::"d3"', 'Doc::"secret"'] as const;
export const ACTION = 'Action::"read"';

/**
 * Deliberate defects, each a broken copy of one piece of the shipped wiring (test/sim/mutations.ts),
 * used only by the negative tests to show that the simulator finds violations:
 * - no-freshness: nodes are built without their BeaconTracker (invariant 1);
 * - applied-before-revoked: the node's revocation step counts a revocation applied without applying it (invariant 2);
 * - writ-before-evidence: the node's evidence ledger returns an index before the stream acknowledged the leaf (invariant 3);
 * - lossy-disk-no-proof: the sequencer's store loses its tail on a crash and its signer skips the consistency proof (invariant 4).
 */
export const MUTATIONS = ['none', 'no-freshness', 'applied-before-revoked', 'writ-before-evidence', 'lossy-disk-no-proof'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export type NodeId = `n${number}`;
/** who talks to the bus: the nodes, the shipped authority and sequencer, the operator (writ policy push, writ revoke) and an attacker with write access to the bus */
export type Endpoint = 'authority' | 'sequencer' | 'operator' | 'attacker' | NodeId;

export type Ev =
  | { kind: 'call'; id: number }
  | { kind: 'operator-tick' }
  | { kind: 'authorize' }
  | { kind: 'verify' }
  | { kind: 'publish' }
  | { kind: 'revoke' }
  | { kind: 'rollback-attempt' }
  | { kind: 'forgery' }
  | { kind: 'partition' }
  | { kind: 'partition-end'; endpoint: Endpoint }
  | { kind: 'crash-node' }
  | { kind: 'restart-node'; node: NodeId }
  | { kind: 'crash-sequencer' }
  | { kind: 'restart-sequencer' }
  | { kind: 'heal' }
  | { kind: 'probe' }
  | { kind: 'end' };

export interface World {
  readonly prng: Prng;
  readonly mutation: Mutation;
  /** simulated milliseconds since EPOCH_MS */
  now(): number;
  /** index of the event being handled */
  step(): number;
  after(delayMs: number, ev: Ev): void;
  /** Runs `f` after `delayMs` of simulated time (a timer or a message of the code under test); returns a cancel. */
  schedule(delayMs: number, f: () => void): () => void;
  trace(line: string): void;
}

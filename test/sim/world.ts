/** Shared vocabulary of the fleet simulation: endpoints, messages, events, constants, the world interface. */
import type { AppendRequest } from '../../src/ledger/ledger.ts';
import type { Prng } from './prng.ts';

/** Simulated time 0 is this wall-clock instant; node clocks are EPOCH_MS + sim time + skew. */
export const EPOCH_MS = Date.parse('2030-01-01T00:00:00.000Z');
export const DOMAIN = 'sim';
export const LOG_ORIGIN = 'sim.writ.example/log';
/** the authority re-issues beacons every 1 s (the default) or 2 s, per seed; they expire after BEACON_TTL_S */
export const BEACON_INTERVALS_MS = [1000, 2000] as const;
export const BEACON_TTL_S = 5;
export const APPEND_TIMEOUT_MS = 1000;
export const RETRY_INTERVAL_MS = 1000;
/** a node that has not reported the current bundle gets it again at most this often */
export const BUNDLE_RESEND_MS = 2000;
export const CHECKPOINT_INTERVAL_MS = 1500;
/** bound on |node clock − true time| */
export const MAX_SKEW_MS = 2000;

export const PRINCIPALS = ['Agent::"a1"', 'Agent::"a2"', 'Agent::"a3"', 'Agent::"a4"'] as const;
export const RESOURCES = ['Doc::"d1"', 'Doc::"d2"', 'Doc::"d3"', 'Doc::"secret"'] as const;
export const ACTION = 'Action::"read"';

/**
 * Deliberate defects, each in a copy of one component, used only by the negative tests
 * to show that the simulator does find violations:
 * - no-freshness: nodes are constructed without their BeaconTracker (invariant 1);
 * - early-revocation-ack: the authority calls a revocation acknowledged fleet-wide on the first ack (invariant 2);
 * - ack-before-durable: the sequencer acks before its write is durable, and a crash loses the unsynced tail (invariant 3);
 * - lossy-disk-no-proof: a sequencer crash loses its last entries and it signs without proving consistency (invariant 4).
 */
export const MUTATIONS = ['none', 'no-freshness', 'early-revocation-ack', 'ack-before-durable', 'lossy-disk-no-proof'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export type NodeId = `n${number}`;
export type Endpoint = 'authority' | 'sequencer' | NodeId;

export type Msg =
  | { kind: 'beacon'; seq: number; jws: string; forged?: boolean }
  | { kind: 'bundle'; version: number; bytes: Uint8Array; why: 'publish' | 'resend' | 'rollback' | 'forged' }
  | { kind: 'revoke'; r: number; what: 'principal' | 'writ'; value: string }
  | { kind: 'revoke-ack'; r: number; node: NodeId }
  | { kind: 'status'; node: NodeId; version: number }
  | { kind: 'append'; id: string; node: NodeId; req: AppendRequest }
  | { kind: 'append-ack'; id: string; index: number };

export type Ev =
  | { kind: 'deliver'; from: Endpoint; to: Endpoint; msg: Msg; copy: number }
  | { kind: 'beacon-tick' }
  | { kind: 'retry-tick' }
  | { kind: 'checkpoint-tick' }
  | { kind: 'flush-tick' }
  | { kind: 'append-timeout'; node: NodeId; incarnation: number; id: string }
  | { kind: 'authorize' }
  | { kind: 'verify' }
  | { kind: 'publish' }
  | { kind: 'revoke' }
  | { kind: 'rollback-attempt' }
  | { kind: 'forgery' }
  | { kind: 'partition' }
  | { kind: 'partition-end'; node: NodeId; link: 'authority' | 'sequencer' }
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
  send(from: Endpoint, to: Endpoint, msg: Msg): void;
  after(delayMs: number, ev: Ev): void;
  trace(line: string): void;
}

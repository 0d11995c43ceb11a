/** A seed's fault profile ("swarm testing": each seed its own mix), and what a run reports. */
import type { Finding, Violation } from './checker.ts';
import type { Prng } from './prng.ts';
import { BEACON_INTERVALS_MS, MAX_SKEW_MS, type Mutation } from './world.ts';

export interface SimResult {
  seed: number;
  mutation: Mutation;
  ok: boolean;
  violations: Violation[];
  findings: Finding[];
  /** SHA-256 of the trace: equal for equal seeds */
  digest: string;
  steps: number;
  profile: Profile;
  counts: Record<string, number>;
  trace: string[];
}

export interface Profile {
  loss: number;
  dup: number;
  slow: number;
  skewMs: number;
  beaconIntervalMs: number;
  partitions: number;
  nodeCrashes: number;
  sequencerCrashes: number;
  authorizes: number;
  verifies: number;
  publishes: number;
  revokes: number;
  rollbacks: number;
  forgeries: number;
}

export function pickProfile(r: Prng): Profile {
  return {
    loss: r.pick([0, 0.01, 0.05, 0.15]),
    dup: r.pick([0, 0.02, 0.1]),
    slow: r.pick([0, 0.02, 0.1, 0.25]),
    skewMs: r.pick([0, 250, MAX_SKEW_MS]),
    beaconIntervalMs: r.pick(BEACON_INTERVALS_MS),
    partitions: r.int(0, 4),
    nodeCrashes: r.int(0, 3),
    sequencerCrashes: r.int(0, 2),
    authorizes: r.int(25, 45),
    verifies: r.int(3, 8),
    publishes: r.int(0, 3),
    revokes: r.int(0, 3),
    rollbacks: r.int(0, 2),
    forgeries: r.int(0, 2),
  };
}

export function describeFailure(r: SimResult): string {
  const lines = [
    `seed ${r.seed} (mutation ${r.mutation}) violates:`,
    ...r.violations.map((v) => `  [invariant ${v.invariant}] step ${v.step} t=${v.time}: ${v.message}`),
    `replay: node test/sim/run.ts --seed ${r.seed}${r.mutation === 'none' ? '' : ` --mutation ${r.mutation}`} --trace`,
    `     or: WRIT_SIM_SEED=${r.seed} node --test test/fleet-simulation.test.ts`,
    'trace tail:',
    ...r.trace.slice(-30).map((l) => `  ${l}`),
  ];
  return lines.join('\n');
}

/** A worker thread running a range of seeds (test/fleet-simulation.test.ts spreads seeds over cores). */
import { parentPort, workerData } from 'node:worker_threads';
import { runSeed } from './simulation.ts';
import type { Mutation } from './world.ts';

const { seeds, mutation } = workerData as { seeds: number[]; mutation: Mutation };
for (const seed of seeds) {
  const r = await runSeed({ seed, mutation });
  parentPort?.postMessage(r);
}

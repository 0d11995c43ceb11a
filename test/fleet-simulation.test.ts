/**
 * Deterministic fault simulation of the fleet (issue 5, point 10): thousands of seeds of
 * authority, nodes, sequencer and a faulty network under a simulated clock, checking the
 * invariants of test/sim/checker.ts on every step. A failing seed replays exactly from its
 * number; see test/sim/simulation.ts.
 *
 *   WRIT_SIM_SEEDS=<n>        how many seeds (default 2000)
 *   WRIT_SIM_SEED_START=<n>   first seed of the sweep (default 1)
 *   WRIT_SIM_SEED=<n>         run only this seed (replay), printing its trace
 *   WRIT_SIM_WORKERS=<n>      worker threads for the sweep (default: available cores, at most 4)
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { Finding } from './sim/checker.ts';
import { describeFailure, runSeed, type SimResult } from './sim/simulation.ts';
import type { Mutation } from './sim/world.ts';

const env = process.env;
const ONE = env.WRIT_SIM_SEED !== undefined && env.WRIT_SIM_SEED !== '' ? Number(env.WRIT_SIM_SEED) : null;
const COUNT = Number(env.WRIT_SIM_SEEDS ?? 2000);
const START = Number(env.WRIT_SIM_SEED_START ?? 1);
const WORKERS = Math.max(1, Number(env.WRIT_SIM_WORKERS ?? Math.min(4, availableParallelism())));

/** Runs seeds over worker threads (each seed is independent and deterministic on its own). */
async function sweep(seeds: number[], mutation: Mutation, maxWorkers = WORKERS): Promise<SimResult[]> {
  const workers = Math.min(maxWorkers, seeds.length);
  if (workers <= 1) {
    const out: SimResult[] = [];
    for (const seed of seeds) out.push(await runSeed({ seed, mutation }));
    return out;
  }
  const parts = await Promise.all(
    Array.from(
      { length: workers },
      (_, w) =>
        new Promise<SimResult[]>((resolve, reject) => {
          const mine = seeds.filter((_, i) => i % workers === w);
          const results: SimResult[] = [];
          const worker = new Worker(new URL('./sim/worker.ts', import.meta.url), { workerData: { seeds: mine, mutation } });
          worker.on('message', (r: SimResult) => results.push(r));
          worker.on('error', reject);
          worker.on('exit', (code) => (code === 0 && results.length === mine.length ? resolve(results) : reject(new Error(`simulation worker exited with ${code} after ${results.length}/${mine.length} seeds`))));
        }),
    ),
  );
  return parts.flat().sort((a, b) => a.seed - b.seed);
}

function summarizeFindings(results: SimResult[]): string[] {
  const byKind = new Map<Finding['kind'], { seeds: number[]; example: string }>();
  for (const r of results) {
    for (const f of r.findings) {
      const e = byKind.get(f.kind) ?? { seeds: [], example: `seed ${r.seed}: ${f.message}` };
      if (!e.seeds.includes(r.seed)) e.seeds.push(r.seed);
      byKind.set(f.kind, e);
    }
  }
  return [...byKind].map(([kind, e]) => `${kind}: ${e.seeds.length} seeds (e.g. ${e.seeds.slice(0, 6).join(', ')}); ${e.example}`);
}

describe('fleet simulation (deterministic, seeded)', { timeout: 600_000 }, () => {
  if (ONE !== null) {
    it(`seed ${ONE} holds every invariant`, async () => {
      const r = await runSeed({ seed: ONE, keepTrace: true });
      for (const l of r.trace) console.log(l);
      console.log(`seed ${ONE}: digest ${r.digest}, ${r.steps} steps, ${JSON.stringify(r.counts)}`);
      for (const f of r.findings) console.log(`finding [${f.kind}] step ${f.step}: ${f.message}`);
      assert.ok(r.ok, describeFailure(r));
    });
    return;
  }

  it(`the invariants hold over ${COUNT} seeds (${START}..${START + COUNT - 1})`, async () => {
    const began = performance.now();
    const seeds = Array.from({ length: COUNT }, (_, i) => START + i);
    const results = await sweep(seeds, 'none');
    const seconds = (performance.now() - began) / 1000;
    const total = (k: string) => results.reduce((n, r) => n + (r.counts[k] ?? 0), 0);
    console.log(
      `fleet simulation: ${results.length} seeds in ${seconds.toFixed(1)} s on ${WORKERS} worker(s); ` +
        `${total('allow')} allows, ${total('deny')} denials, ${total('writs')} writs checked against the ledger, ` +
        `${total('checkpoints')} checkpoints, ${total('activations')} activations, ${total('refusals')} refused bundles, ` +
        `${total('lost')} messages lost, ${total('crashes')} crashes`,
    );
    for (const line of summarizeFindings(results)) console.log(`finding ${line}`);
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, `${failed.length} of ${results.length} seeds violate an invariant:\n\n${failed.slice(0, 5).map(describeFailure).join('\n\n')}`);
  });

  it('a seed replays exactly: the same seed gives the same trace digest (here and in another thread)', async () => {
    const seeds = [START, START + 7, START + 4242];
    const elsewhere = await sweep(seeds, 'none', 3);
    for (const seed of seeds) {
      const a = await runSeed({ seed });
      const b = await runSeed({ seed });
      assert.equal(a.digest, b.digest, `seed ${seed} is not deterministic`);
      assert.equal(a.steps, b.steps);
      assert.deepEqual(a.counts, b.counts);
      assert.equal(elsewhere.find((r) => r.seed === seed)?.digest, a.digest, `seed ${seed} runs differently in a worker thread`);
    }
    const other = await runSeed({ seed: START + 1 });
    assert.notEqual(other.digest, (await runSeed({ seed: START })).digest, 'different seeds explore different runs');
  });

  // Negative tests: each runs a copy of the fleet with one component deliberately broken
  // (test/sim/world.ts MUTATIONS) and asserts that the simulator catches it.
  const NEGATIVE: { mutation: Mutation; invariant: number; within: number; what: string }[] = [
    { mutation: 'no-freshness', invariant: 1, within: 20, what: 'nodes built without their BeaconTracker' },
    { mutation: 'applied-before-revoked', invariant: 2, within: 200, what: "the node's revocation step counts a revocation applied without applying it" },
    { mutation: 'writ-before-evidence', invariant: 3, within: 200, what: "the node's evidence ledger takes an unacknowledged append as done" },
    { mutation: 'lossy-disk-no-proof', invariant: 4, within: 50, what: 'the sequencer loses its tail on a crash and signs without a consistency proof' },
  ];
  for (const n of NEGATIVE) {
    it(`NEGATIVE TEST (deliberately broken copy: ${n.what}): a violation of invariant ${n.invariant} is found within ${n.within} seeds`, async () => {
      for (let seed = START; seed < START + n.within; seed++) {
        const r = await runSeed({ seed, mutation: n.mutation });
        const hit = r.violations.find((v) => v.invariant === n.invariant);
        if (hit) {
          console.log(`mutation ${n.mutation}: seed ${seed} violates invariant ${n.invariant}: ${hit.message}`);
          return;
        }
      }
      assert.fail(`mutation ${n.mutation}: no violation of invariant ${n.invariant} in ${n.within} seeds`);
    });
  }
});

/**
 * Runs the fleet simulation from the command line.
 *
 *   node test/sim/run.ts --seed 1234 [--mutation no-freshness] [--trace]   replay one seed
 *   node test/sim/run.ts --seeds 500 [--start 1]                           sweep seeds
 *
 * Exit status 1 if any seed violates an invariant.
 */
import { parseArgs } from 'node:util';
import { describeFailure, runSeed } from './simulation.ts';
import { MUTATIONS, type Mutation } from './world.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string', default: '100' },
    start: { type: 'string', default: '1' },
    mutation: { type: 'string', default: 'none' },
    nodes: { type: 'string', default: '3' },
    trace: { type: 'boolean', default: false },
  },
});

const mutation = values.mutation as Mutation;
if (!MUTATIONS.includes(mutation)) throw new Error(`--mutation must be one of ${MUTATIONS.join(', ')}`);
const nodes = Number(values.nodes);

if (values.seed !== undefined) {
  const r = await runSeed({ seed: Number(values.seed), mutation, nodes, keepTrace: values.trace });
  if (values.trace) for (const l of r.trace) console.log(l);
  console.log(JSON.stringify({ seed: r.seed, ok: r.ok, digest: r.digest, steps: r.steps, profile: r.profile, counts: r.counts }, null, 1));
  for (const f of r.findings) console.log(`finding [${f.kind}] step ${f.step} t=${f.time}: ${f.message}`);
  if (!r.ok) console.log(describeFailure(r));
  process.exitCode = r.ok ? 0 : 1;
} else {
  const start = Number(values.start);
  const count = Number(values.seeds);
  const began = performance.now();
  let failed = 0;
  const findings = new Map<string, number[]>();
  for (let seed = start; seed < start + count; seed++) {
    const r = await runSeed({ seed, mutation, nodes });
    for (const f of r.findings) findings.set(f.kind, [...(findings.get(f.kind) ?? []), seed]);
    if (!r.ok) {
      failed++;
      console.log(describeFailure(r));
    }
  }
  const s = (performance.now() - began) / 1000;
  console.log(`${count} seeds (${start}..${start + count - 1}), mutation ${mutation}: ${failed} failed, ${s.toFixed(1)} s (${((s * 1000) / count).toFixed(1)} ms/seed)`);
  for (const [kind, seeds] of findings) {
    const uniq = [...new Set(seeds)];
    console.log(`finding ${kind}: ${uniq.length} seeds, e.g. ${uniq.slice(0, 8).join(', ')}`);
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

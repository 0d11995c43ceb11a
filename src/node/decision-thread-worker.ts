/**
 * A decision thread (decision-threads.ts): compiles bundles it is given, evaluates Cedar
 * requests under the bundle each names, and signs writs with the node's key. It answers
 * every message (a batch of jobs) with one message of results, in order.
 */
import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { PolicyEngine } from '../policy/engine.ts';
import { errorMessage } from '../util.ts';
import { signWrit } from '../writ/issue.ts';
import type { DecisionJob, DecisionJobResult } from './decision-threads.ts';

const { key, kid } = workerData as { key: KeyObject; kid: string };
const engines = new Map<string, PolicyEngine | Error>();

async function run(job: DecisionJob): Promise<unknown> {
  switch (job.op) {
    case 'load':
      try {
        engines.set(job.digest, PolicyEngine.fromFiles(job.files));
      } catch (err) {
        // the main thread compiled this bundle before activating it: reaching here is a fault, and every evaluation under it denies
        engines.set(job.digest, err instanceof Error ? err : new Error(String(err)));
      }
      return null;
    case 'drop': {
      const e = engines.get(job.digest);
      if (e instanceof PolicyEngine) e.dispose();
      engines.delete(job.digest);
      return null;
    }
    case 'evaluate': {
      const engine = engines.get(job.digest);
      if (engine === undefined) throw new Error(`decision thread: bundle ${job.digest} is not loaded`);
      if (engine instanceof Error) throw new Error(`decision thread: bundle ${job.digest} does not compile: ${engine.message}`);
      return engine.evaluate(job.input);
    }
    case 'sign':
      return signWrit(job.claims, key, kid);
  }
}

parentPort?.on('message', (jobs: DecisionJob[]) => {
  void Promise.all(
    jobs.map(async (job): Promise<DecisionJobResult | null> => {
      try {
        const value = await run(job);
        return job.op === 'load' || job.op === 'drop' ? null : { id: job.id, ok: true, value }; // nobody waits on loads and drops
      } catch (err) {
        return { id: job.id, ok: false, error: errorMessage(err) };
      }
    }),
  ).then((results) => parentPort?.postMessage(results.filter((r) => r !== null)));
});

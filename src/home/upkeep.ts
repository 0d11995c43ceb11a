/**
 * What a long-running process serving an embedded home does every second (`writ up`,
 * `writ k8s admission`): pick up a bundle activated by another process of the home, and
 * sign a checkpoint of the home's log if it grew. Returns the function that stops it.
 */
import { errorMessage } from '../util.ts';
import type { OpenHome } from './open.ts';

export function startHomeUpkeep(h: Pick<OpenHome, 'node' | 'log'>, log: (s: string) => void, everyMs = 1000): () => void {
  const timer = setInterval(() => {
    h.node.policy.refresh().catch((err: unknown) => log(`could not load the active bundle: ${errorMessage(err)}`));
    try {
      h.log.checkpoint();
    } catch (err) {
      log(`could not sign a checkpoint: ${errorMessage(err)}`);
    }
  }, everyMs);
  return () => clearInterval(timer);
}

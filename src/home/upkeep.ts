/**
 * What a long-running process serving an embedded home does every second (`writ up`,
 * `writ k8s admission`): pick up a bundle activated by another process of the home, and
 * sign a checkpoint of the home's log if it grew. With witnesses (`writ up --witness`,
 * docs/witness.md) the latest checkpoint is then handed to them, not awaited: a witness
 * that is down delays no checkpoint and no tick (LogWitnessing asks each witness once at a
 * time, and a failed one again only after its retry delay). Pending approval requests past
 * their expiry are recorded as expired, so they leave the pending list (approval.ts
 * expireOverdue). Returns the function that stops it.
 */
import { storeProver, type CheckpointWitnesses } from '../ledger/checkpoint-signer.ts';
import { expireOverdue } from '../node/approval.ts';
import { errorMessage } from '../util.ts';
import type { OpenHome } from './open.ts';

export function startHomeUpkeep(h: Pick<OpenHome, 'node' | 'log' | 'ledger' | 'state'>, log: (s: string) => void, everyMs = 1000, witnesses?: CheckpointWitnesses): () => void {
  let sweeping = false;
  const timer = setInterval(() => {
    // one sweep at a time: a slow ledger append must not pile sweeps up behind it
    if (!sweeping) {
      sweeping = true;
      expireOverdue(h.ledger, h.state, h.node.now())
        .catch((err: unknown) => log(`could not expire overdue approval requests: ${errorMessage(err)}`))
        .finally(() => (sweeping = false));
    }
    h.node.policy.refresh().catch((err: unknown) => log(`could not load the active bundle: ${errorMessage(err)}`));
    try {
      const cp = h.log.checkpoint();
      if (cp && witnesses) void witnesses.submit(cp, storeProver(h.log.store, cp.size));
    } catch (err) {
      log(`could not sign a checkpoint: ${errorMessage(err)}`);
    }
  }, everyMs);
  return () => clearInterval(timer);
}

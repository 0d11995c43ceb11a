/**
 * Fleet-wide single use over the bus's create-once store: consuming a writ is an atomic
 * create of the key `<jti>` (NATS: a put expecting no earlier revision of that key).
 * Of any number of concurrent consumptions on any number of nodes exactly one succeeds;
 * the others find the key and the writ is `writ_replayed`. Any other outcome — the bus
 * unreachable, a timeout, a partition — is not an answer: SingleUseUnavailableError, and
 * the verification fails closed.
 *
 * Keys live as long as the store keeps them (CONSUMED_TTL_MS), which a node checks at start
 * to be longer than any writ it accepts can stay valid (lifetime plus clock skew on both
 * sides): a key never expires while its writ could still verify somewhere.
 */
import { errorMessage } from '../util.ts';
import { kvKey, type CreateOnceStore } from './fleet-bus.ts';
import { SingleUseUnavailableError, type SingleUseStore } from './single-use.ts';

export function busSingleUse(consumed: CreateOnceStore, o: { nodeId: string; now: () => Date }): SingleUseStore {
  const unavailable = (err: unknown) => new SingleUseUnavailableError(`the fleet's single-use store did not answer (${errorMessage(err)}): the writ cannot be proven unused`);
  return {
    async consume(jti, exp) {
      const record = JSON.stringify({ node: o.nodeId, exp, at: o.now().toISOString() });
      try {
        return await consumed.create(kvKey(jti), record);
      } catch (err) {
        throw unavailable(err);
      }
    },
    async isConsumed(jti) {
      try {
        return await consumed.has(kvKey(jti));
      } catch (err) {
        throw unavailable(err);
      }
    },
  };
}

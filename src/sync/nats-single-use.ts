/**
 * Fleet-wide single use on NATS JetStream KV: consuming a writ is an atomic create of
 * the key `<jti>` in the fleet's `consumed` bucket (a put expecting no earlier revision
 * of that key). JetStream orders every put of the bucket, so of any number of
 * concurrent consumptions on any number of nodes exactly one succeeds; the others get
 * "wrong last sequence" and the writ is `writ_replayed`. Any other failure — NATS
 * unreachable, a timeout, a partition — is not an answer: SingleUseUnavailableError,
 * and the verification fails closed.
 *
 * Keys live as long as the bucket's max age (CONSUMED_TTL_MS), which a node checks at
 * start to be longer than any writ it accepts can stay valid (lifetime plus clock skew
 * on both sides): a key never expires while its writ could still verify somewhere.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { SingleUseUnavailableError, type SingleUseStore } from '../node/single-use.ts';
import { errorMessage } from '../util.ts';
import { kvKey } from './nats.ts';

/** how long one consumption may wait for JetStream before the writ is refused */
export const CONSUME_TIMEOUT_MS = 2000;

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

export function natsSingleUse(kv: KV, o: { nodeId: string; timeoutMs?: number }): SingleUseStore {
  const timeout = o.timeoutMs ?? CONSUME_TIMEOUT_MS;
  return {
    async consume(jti, exp) {
      const record = JSON.stringify({ node: o.nodeId, exp, at: new Date().toISOString() });
      try {
        // previousSeq 0: the key must never have been written — even a delete marker
        // left by someone with write access to the bucket does not make a jti fresh
        await withDeadline(kv.put(kvKey(jti), record, { previousSeq: 0, timeout }), timeout + 250, 'consume');
        return true;
      } catch (err) {
        if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) return false;
        throw new SingleUseUnavailableError(`the fleet's single-use store did not answer (${errorMessage(err)}): the writ cannot be proven unused`);
      }
    },
    async isConsumed(jti) {
      try {
        return (await withDeadline(kv.get(kvKey(jti)), timeout, 'lookup')) !== null;
      } catch (err) {
        throw new SingleUseUnavailableError(`the fleet's single-use store did not answer (${errorMessage(err)}): the writ cannot be proven unused`);
      }
    },
  };
}

/**
 * Single use of writs (DESIGN §2.6): a `jti` is consumed once in the whole system, not
 * once per node. The node consumes through a SingleUseStore: embedded, its own state;
 * in a fleet, its own state first (a local replay is refused without a round trip) and
 * then a store every node of the fleet shares, whose atomic create decides the race.
 * A store that cannot tell whether a jti was used throws SingleUseUnavailableError, and
 * the verification fails closed (`single_use_unavailable`).
 */
import type { ConsumedStore } from './state.ts';
import { WritError } from '../writ/errors.ts';

export interface SingleUseStore {
  /** true if this call consumed the jti, false if it had been used before */
  consume(jti: string, exp: number): Promise<boolean>;
  /** whether the jti has been used; throws SingleUseUnavailableError if it cannot be told */
  isConsumed(jti: string): Promise<boolean>;
}

export class SingleUseUnavailableError extends WritError {
  override name = 'SingleUseUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super('single_use_unavailable', message, options);
  }
}

/** The node's own state (SQLite): single use across every process sharing the home. */
export function stateSingleUse(state: ConsumedStore): SingleUseStore {
  return {
    consume: (jti, exp) => Promise.resolve(state.consumeJti(jti, exp)),
    isConsumed: (jti) => Promise.resolve(state.isJtiConsumed(jti)),
  };
}

/**
 * Local first, then shared. A jti consumed locally but not in the shared store (it was
 * unreachable) stays spent here: the writ is refused everywhere, which is the safe side.
 */
export function layeredSingleUse(local: SingleUseStore, shared: SingleUseStore): SingleUseStore {
  return {
    async consume(jti, exp) {
      if (!(await local.consume(jti, exp))) return false;
      return shared.consume(jti, exp);
    },
    async isConsumed(jti) {
      return (await local.isConsumed(jti)) || shared.isConsumed(jti);
    },
  };
}

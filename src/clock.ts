/**
 * Time, as the node, the authority and the sequencer see it: a parameter. Production code
 * runs on `systemClock`; the deterministic fleet simulation (test/sim) runs the same code
 * on a simulated clock whose timers are events in its queue. Core code reads time only
 * through an injected clock (or an injected `now`), never `Date.now()` beside it.
 *
 * `now()` is wall-clock milliseconds since the epoch (governance time: writ iat/exp,
 * beacon and bundle expiry). Timers fire after at least `ms` of that clock.
 */
export interface Clock {
  now(): number;
  /** Runs `f` once after `ms`; the returned function cancels it. */
  after(ms: number, f: () => void): () => void;
  /** Runs `f` every `ms` until cancelled. */
  every(ms: number, f: () => void): () => void;
}

/** The process's clock. Its timers do not keep the process alive (they are unref'd). */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, f) {
    const t = setTimeout(f, ms);
    t.unref();
    return () => clearTimeout(t);
  },
  every(ms, f) {
    const t = setInterval(f, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.after(ms, resolve));
}

/**
 * Resolves after `ms` on `clock`, for a wait somebody awaits (a decision waiting for its
 * bundle, a call waiting for its approval): on the system clock the process stays alive
 * meanwhile (a plain, ref'd timer; systemClock's own are unref'd), so an otherwise idle
 * process does not exit halfway through the wait. On any other clock it is `sleep`.
 */
export function pause(clock: Clock, ms: number): Promise<void> {
  if (clock === systemClock) return new Promise((resolve) => setTimeout(resolve, ms));
  return sleep(clock, ms);
}

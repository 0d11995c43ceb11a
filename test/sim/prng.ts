/**
 * The simulation's only source of randomness: the tests' shared PRNG (test/prng.ts,
 * xoshiro128** seeded through splitmix32 from a 32-bit seed, the same sequence as ever).
 * Every choice the simulator makes (what happens, when, to whom, which message is lost,
 * delayed, duplicated) is drawn from one instance, in the order the events are handled,
 * so a seed replays exactly.
 */
export { Prng } from '../prng.ts';

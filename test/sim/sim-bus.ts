/**
 * Time and transport of the simulated fleet, as the shipped code sees them: a Clock
 * (src/clock.ts) per process, whose `now` is true simulated time plus the process's skew
 * and whose timers are events in the simulator's queue, and the BusNetwork of the shipped
 * in-process bus (src/sync/in-process-bus.ts) with the faults of the seed's profile:
 *
 *   requests and answers (put, publish, consume and their acks): lost, duplicated, delayed
 *     (a slow one is held 0.1–3 s, so they overtake each other); dropped while the sender
 *     is cut off from the bus
 *   watch and stream deliveries: never lost, in order per endpoint (a JetStream consumer
 *     resumes where it was), delayed — a slow one holds back those behind it — and held
 *     while the endpoint is cut off from the bus
 */
import type { Clock } from '../../src/clock.ts';
import type { BusNetwork } from '../../src/sync/in-process-bus.ts';
import { EPOCH_MS, type Endpoint, type World } from './world.ts';

/** A process's clock: `alive()` false (the process crashed) and its timers never fire. */
export function simClock(world: World, skewMs: number, alive: () => boolean = () => true): Clock {
  return {
    now: () => EPOCH_MS + world.now() + skewMs,
    after: (ms, f) => world.schedule(ms, () => alive() && f()),
    every(ms, f) {
      let cancel = () => undefined as void;
      const tick = () => {
        if (!alive()) return;
        cancel = world.schedule(ms, tick);
        f();
      };
      cancel = world.schedule(ms, tick);
      return () => cancel();
    },
  };
}

export interface Faults {
  loss: number;
  dup: number;
  slow: number;
}

export class SimNetwork implements BusNetwork {
  private readonly world: World;
  readonly faults: Faults;
  /** endpoint → simulated time its partition from the bus ends */
  private readonly cuts = new Map<string, number>();
  private readonly queues = new Map<string, { ready: number; arrive: () => void }[]>();
  /** endpoints whose queue is being delivered, with the cancel of the next delivery */
  private readonly pumping = new Map<string, () => void>();
  readonly counts = { messages: 0, lost: 0, duplicated: 0, cut: 0 };

  constructor(world: World, faults: Faults) {
    this.world = world;
    this.faults = { ...faults };
  }

  cut(endpoint: Endpoint, ms: number): void {
    this.cuts.set(endpoint, Math.max(this.cuts.get(endpoint) ?? 0, this.world.now() + ms));
  }

  isCut(endpoint: string): boolean {
    return (this.cuts.get(endpoint) ?? -1) > this.world.now();
  }

  cutEnds(endpoint: string): number {
    return this.cuts.get(endpoint) ?? 0;
  }

  heal(): void {
    this.faults.loss = 0;
    this.faults.dup = 0;
    this.faults.slow = 0;
    this.cuts.clear();
    // deliveries held for a partition go out now
    for (const [to, cancel] of [...this.pumping]) {
      cancel();
      this.pump(to);
    }
  }

  private delay(): number {
    return this.world.prng.chance(this.faults.slow) ? this.world.prng.int(100, 3000) : this.world.prng.int(1, 30);
  }

  /** a request or an answer: one trip, which faults may lose, duplicate or delay */
  private trip(endpoint: string, what: string, arrive: () => void): void {
    this.counts.messages++;
    if (this.isCut(endpoint)) {
      this.counts.cut++;
      return;
    }
    if (this.world.prng.chance(this.faults.loss)) {
      this.counts.lost++;
      this.world.trace(`lost ${what} ${endpoint}`);
      return;
    }
    const copies = this.world.prng.chance(this.faults.dup) ? 2 : 1;
    if (copies === 2) this.counts.duplicated++;
    for (let i = 0; i < copies; i++) {
      this.world.schedule(this.delay(), () => {
        if (this.isCut(endpoint)) {
          this.counts.cut++;
          return;
        }
        arrive();
      });
    }
  }

  request(from: string, arrive: () => void): void {
    this.trip(from, 'request from', arrive);
  }

  reply(to: string, arrive: () => void): void {
    this.trip(to, 'answer to', arrive);
  }

  deliver(to: string, arrive: () => void): void {
    this.counts.messages++;
    const q = this.queues.get(to) ?? [];
    this.queues.set(to, q);
    q.push({ ready: this.world.now() + this.delay(), arrive });
    if (!this.pumping.has(to)) this.pump(to);
  }

  /** Delivers the endpoint's queue in order: the head when it is ready and the endpoint reachable. */
  private pump(to: string): void {
    const q = this.queues.get(to) ?? [];
    const head = q[0];
    if (!head) {
      this.pumping.delete(to);
      return;
    }
    const at = Math.max(head.ready, this.isCut(to) ? this.cutEnds(to) : 0);
    this.pumping.set(to, this.world.schedule(Math.max(0, at - this.world.now()), () => {
      if (this.isCut(to)) return this.pump(to);
      q.shift();
      head.arrive();
      this.pump(to);
    }));
  }

  reachable(endpoint: string): boolean {
    return !this.isCut(endpoint);
  }
}

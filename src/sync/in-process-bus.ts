/**
 * The fleet's bus (node/fleet-bus.ts) inside one process: an `InProcessBusServer` holds
 * what a NATS JetStream server would (channels with revisions and kept history, the
 * create-once store with its TTL, the evidence stream with message-id de-duplication),
 * and each endpoint — a node, the authority, the sequencer — connects to it and gets a
 * FleetBus with the semantics the NATS adapter has: a watch delivers in revision order,
 * a put or publish resolves when the server's answer arrives and rejects if none does
 * within its timeout, a closed connection (a crashed process) sees nothing more.
 *
 * How messages travel is a parameter, the `BusNetwork`: `directNetwork` delivers at once
 * (in order); the deterministic simulation (test/sim) passes one that delays, loses,
 * duplicates and partitions on its simulated clock, and so runs the shipped node,
 * authority and sequencer over a faulty bus.
 */
import type { Clock } from '../clock.ts';
import type { EvidenceMessage, EvidenceStream } from '../ledger/evidence-stream.ts';
import { CONSUMED_TTL_MS, keyMatches, kvKey, type BusChannel, type BusEntry, type BusWatch, type CreateOnceStore, type FleetBus } from '../node/fleet-bus.ts';
import { errorMessage } from '../util.ts';

export interface BusNetwork {
  /** Carries a request (put, publish, create, get) from `from` to the server: `arrive` runs when it gets there, or never (lost). */
  request(from: string, arrive: () => void): void;
  /** Carries the server's answer back to `to`, or loses it. */
  reply(to: string, arrive: () => void): void;
  /** Carries a watch delivery to `to`: in order per endpoint, never lost (held while `to` is cut off; a JetStream consumer resumes). */
  deliver(to: string, arrive: () => void): void;
  /** whether `endpoint` can reach the server now (evidence appends fail at once when not) */
  reachable(endpoint: string): boolean;
}

export const directNetwork: BusNetwork = {
  request: (_from, arrive) => queueMicrotask(arrive),
  reply: (_to, arrive) => queueMicrotask(arrive),
  deliver: (_to, arrive) => queueMicrotask(arrive),
  reachable: () => true,
};

/** kept revisions per key (NATS: the bucket's history setting) */
const HISTORY: Record<string, number> = { certificates: 16 };
const DEFAULT_HISTORY = 1;
const DUPLICATE_WINDOW_MS = 120_000;
const DEFAULT_TIMEOUT_MS = 2000;

interface Watcher {
  endpoint: string;
  filter: string | undefined;
  deliver(e: BusEntry): void;
}

class ServerChannel {
  private revision = 0;
  /** every kept entry, in revision order */
  entries: BusEntry[] = [];
  readonly watchers = new Set<Watcher>();
  private readonly history: number;

  constructor(history: number) {
    this.history = history;
  }

  put(key: string, value: Uint8Array): BusEntry {
    const e = { key, value, revision: ++this.revision };
    this.entries.push(e);
    const mine = this.entries.filter((x) => x.key === key);
    if (mine.length > this.history) {
      const drop = new Set(mine.slice(0, mine.length - this.history));
      this.entries = this.entries.filter((x) => !drop.has(x));
    }
    for (const w of this.watchers) if (keyMatches(w.filter, key)) w.deliver(e);
    return e;
  }

  newest(key: string): BusEntry | null {
    return this.entries.findLast((e) => e.key === key) ?? null;
  }

  snapshot(filter: string | undefined, history: boolean): BusEntry[] {
    const selected = this.entries.filter((e) => keyMatches(filter, e.key));
    return history ? selected : selected.filter((e) => this.newest(e.key) === e);
  }
}

export class InProcessBusServer {
  readonly name: string;
  private readonly clock: Clock;
  private readonly network: BusNetwork;
  private readonly channels = new Map<string, ServerChannel>();
  private readonly consumed = new Map<string, { value: string; at: number }>();
  private readonly consumedTtlMs: number;
  private readonly messages: EvidenceMessage[] = [];
  private readonly byMsgId = new Map<string, { seq: number; at: number }>();
  private readonly readers = new Set<{ endpoint: string; next: number; deliver(m: EvidenceMessage): void }>();
  /** told of every put the server applies (ground truth for tests and the simulation) */
  onPut: (channel: string, e: BusEntry, from: string) => void = () => undefined;

  constructor(o: { name?: string; clock: Clock; network?: BusNetwork; consumedTtlMs?: number }) {
    this.name = o.name ?? 'writ';
    this.clock = o.clock;
    this.network = o.network ?? directNetwork;
    this.consumedTtlMs = o.consumedTtlMs ?? CONSUMED_TTL_MS;
  }

  /** the evidence stream as the server holds it */
  evidence(): readonly EvidenceMessage[] {
    return this.messages;
  }

  channel(name: string): ServerChannel {
    let c = this.channels.get(name);
    if (!c) this.channels.set(name, (c = new ServerChannel(HISTORY[name] ?? (name.startsWith('bundles:') ? 10 : DEFAULT_HISTORY))));
    return c;
  }

  /** A connection of `endpoint` (a node id, `authority`, `sequencer`): its FleetBus. */
  connect(endpoint: string, o: { timeoutMs?: number; log?: (s: string) => void } = {}): FleetBus {
    return new Connection(this, endpoint, this.clock, this.network, o.timeoutMs ?? DEFAULT_TIMEOUT_MS, o.log ?? (() => undefined));
  }

  // The server's side of each request (run when the request arrives).

  applyPut(channel: string, key: string, value: Uint8Array, from: string): number {
    const e = this.channel(channel).put(key, value);
    this.onPut(channel, e, from);
    return e.revision;
  }

  applyCreate(key: string, value: string): boolean {
    const now = this.clock.now();
    const held = this.consumed.get(key);
    if (held && (this.consumedTtlMs === 0 || now - held.at < this.consumedTtlMs)) return false;
    this.consumed.set(key, { value, at: now });
    return true;
  }

  hasConsumed(key: string): boolean {
    const held = this.consumed.get(key);
    return held !== undefined && (this.consumedTtlMs === 0 || this.clock.now() - held.at < this.consumedTtlMs);
  }

  ttl(): number {
    return this.consumedTtlMs;
  }

  applyPublish(subject: string, leaf: Uint8Array, msgId: string): number {
    const now = this.clock.now();
    for (const [id, d] of this.byMsgId) if (now - d.at > DUPLICATE_WINDOW_MS) this.byMsgId.delete(id);
    const dup = this.byMsgId.get(msgId);
    if (dup) return dup.seq;
    const m = { seq: this.messages.length + 1, subject, leaf };
    this.messages.push(m);
    this.byMsgId.set(msgId, { seq: m.seq, at: now });
    for (const r of this.readers) r.deliver(m);
    return m.seq;
  }

  addReader(r: { endpoint: string; next: number; deliver(m: EvidenceMessage): void }): () => void {
    for (const m of this.messages.slice(r.next - 1)) r.deliver(m);
    this.readers.add(r);
    return () => this.readers.delete(r);
  }
}

/** One endpoint's connection: requests travel over the network, answers come back over it, or time out. */
class Connection implements FleetBus {
  readonly name: string;
  readonly beacons: BusChannel;
  readonly revocations: BusChannel;
  readonly revocationList: BusChannel;
  readonly certificates: BusChannel;
  readonly status: BusChannel;
  readonly approvals: BusChannel;
  readonly consumed: CreateOnceStore;
  readonly evidence: EvidenceStream;
  private closed = false;
  private readonly stops = new Set<() => void>();
  private readonly server: InProcessBusServer;
  private readonly endpoint: string;
  private readonly clock: Clock;
  private readonly network: BusNetwork;
  private readonly timeoutMs: number;
  private readonly log: (s: string) => void;

  constructor(server: InProcessBusServer, endpoint: string, clock: Clock, network: BusNetwork, timeoutMs: number, log: (s: string) => void) {
    this.server = server;
    this.endpoint = endpoint;
    this.clock = clock;
    this.network = network;
    this.timeoutMs = timeoutMs;
    this.log = log;
    this.name = server.name;
    this.beacons = this.channel('beacons');
    this.revocations = this.channel('revocations');
    this.revocationList = this.channel('revocationList');
    this.certificates = this.channel('certificates');
    this.status = this.channel('status');
    this.approvals = this.channel('approvals');
    this.consumed = {
      create: (key, value) => this.call('consume', () => server.applyCreate(key, value)),
      has: (key) => this.call('lookup', () => server.hasConsumed(key)),
      ttlMs: async () => server.ttl(),
    };
    this.evidence = this.evidenceStream();
  }

  async bundles(domain: string): Promise<BusChannel> {
    return this.channel(`bundles:${domain}`);
  }

  evidenceSubject(domain: string, node: string): string {
    return `${this.server.name}.evidence.${kvKey(domain)}.${kvKey(node)}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.stops) s();
    this.stops.clear();
  }

  /** A request answered by the server: resolves with its answer, rejects after the timeout (a dead connection's never settle). */
  private call<T>(what: string, atServer: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`${what}: the connection is closed`));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const cancel = this.clock.after(this.timeoutMs, () => {
        if (settled || this.closed) return;
        settled = true;
        reject(new Error(`${what}: no answer within ${this.timeoutMs} ms`));
      });
      this.network.request(this.endpoint, () => {
        let answer: { ok: T } | { err: unknown };
        try {
          answer = { ok: atServer() };
        } catch (err) {
          answer = { err };
        }
        this.network.reply(this.endpoint, () => {
          if (settled || this.closed) return;
          settled = true;
          cancel();
          if ('ok' in answer) resolve(answer.ok);
          else reject(answer.err instanceof Error ? answer.err : new Error(String(answer.err)));
        });
      });
    });
  }

  private channel(name: string): BusChannel {
    const server = this.server;
    return {
      put: (key, value) => {
        const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
        return this.call(`put ${name}`, () => server.applyPut(name, key, bytes, this.endpoint));
      },
      get: (key) => this.call(`get ${name}`, () => server.channel(name).newest(key)),
      list: (o = {}) => this.call(`list ${name}`, () => server.channel(name).snapshot(undefined, o.history ?? false)),
      watch: async (o, onEntry) => this.watch(server.channel(name), name, o.key, o.history ?? false, onEntry),
    };
  }

  private watch(ch: ServerChannel, name: string, filter: string | undefined, history: boolean, onEntry: (e: BusEntry) => Promise<void>): BusWatch {
    let stopped = false;
    let chain = Promise.resolve();
    const handle = (e: BusEntry) => {
      if (stopped || this.closed) return;
      chain = chain.then(() => (stopped || this.closed ? undefined : onEntry(e))).catch((err: unknown) => this.log(`${name} ${e.key}: ${errorMessage(err)}`));
    };
    const initial = ch.snapshot(filter, history);
    let done: () => void = () => undefined;
    const caughtUp = new Promise<void>((r) => (done = r));
    if (initial.length === 0) done();
    initial.forEach((e, i) =>
      this.network.deliver(this.endpoint, () => {
        handle(e);
        if (i === initial.length - 1) void chain.then(done);
      }),
    );
    const w: Watcher = { endpoint: this.endpoint, filter, deliver: (e) => this.network.deliver(this.endpoint, () => handle(e)) };
    ch.watchers.add(w);
    const stop = () => {
      stopped = true;
      ch.watchers.delete(w);
    };
    this.stops.add(stop);
    return { caughtUp, stop };
  }

  private evidenceStream(): EvidenceStream {
    const server = this.server;
    return {
      publish: (subject, leaf, msgId) => this.call('publish', () => server.applyPublish(subject, leaf, msgId)),
      connected: () => !this.closed && this.network.reachable(this.endpoint),
      lastSeq: () => this.call('stream info', () => server.evidence().length),
      read: (fromSeq, onBatch, onEnd) => {
        let stopped = false;
        let chain = Promise.resolve();
        const stopReader = server.addReader({
          endpoint: this.endpoint,
          next: fromSeq,
          deliver: (m) =>
            this.network.deliver(this.endpoint, () => {
              if (stopped || this.closed) return;
              chain = chain.then(() => (stopped ? undefined : onBatch([m]))).catch((err: unknown) => {
                if (stopped) return;
                end();
                onEnd(err);
              });
            }),
        });
        const end = () => {
          stopped = true;
          stopReader();
        };
        // a closed connection (a crashed process) hears nothing more; a reader stopped by its caller ends
        this.stops.add(end);
        return {
          stop: () => {
            if (stopped) return;
            end();
            onEnd(null);
          },
        };
      },
    };
  }
}

/**
 * The fleet's bus (node/fleet-bus.ts) on NATS JetStream: each channel is a KV bucket
 * (connection.ts names them), the create-once store is the `consumed` bucket with puts
 * that expect no earlier revision, and the evidence stream is the JetStream stream whose
 * acknowledged sequence is the ledger index plus one.
 */
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { EvidenceMessage, EvidenceStream } from '../../ledger/evidence-stream.ts';
import type { BusChannel, BusEntry, BusWatch, CreateOnceStore, FleetBus, SwapStore } from '../../node/fleet-bus.ts';
import { kvKey } from '../../node/fleet-bus.ts';
import { errorMessage } from '../../util.ts';
import { connectFleet, type Fleet } from './connection.ts';
import { drain } from './drain.ts';

/** how long one consumption (or an evidence publish) may wait for JetStream before it fails */
export const CONSUME_TIMEOUT_MS = 2000;
const PUBLISH_TIMEOUT_MS = 2000;

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Whether the bucket holds any message under `key` (one key or a `prefix.>`; every key when absent). */
async function holds(kv: KV, key: string | undefined): Promise<boolean> {
  for await (const e of await kv.history(key !== undefined ? { key } : {})) {
    void e;
    return true;
  }
  return false;
}

function kvChannel(kv: KV, name: string, log: (s: string) => void): BusChannel {
  return {
    put: (key, value) => kv.put(key, value),
    async get(key) {
      const e = await kv.get(key);
      return e && e.operation === 'PUT' ? { key: e.key, value: e.value, revision: e.revision } : null;
    },
    async list(o = {}) {
      const out: BusEntry[] = [];
      if (o.history) {
        for await (const e of await kv.history()) if (e.operation === 'PUT') out.push({ key: e.key, value: e.value, revision: e.revision });
      } else {
        for await (const key of await kv.keys()) {
          const e = await kv.get(key);
          if (e?.operation === 'PUT') out.push({ key: e.key, value: e.value, revision: e.revision });
        }
      }
      return out.sort((a, b) => a.revision - b.revision);
    },
    async watch(o, onEntry): Promise<BusWatch> {
      let done: () => void = () => undefined;
      const caughtUp = new Promise<void>((r) => (done = r));
      // nothing selected is held (the channel may hold other keys): no entry will come to say caught up
      if (!(await holds(kv, o.key))) done();
      const w = await kv.watch({ ...(o.key !== undefined && { key: o.key }), ...(o.history && { include: KvWatchInclude.AllHistory }) });
      drain(name, w, async (e) => {
        if (e.operation === 'PUT') await onEntry({ key: e.key, value: e.value, revision: e.revision }).catch((err: unknown) => log(`${name} ${e.key}: ${errorMessage(err)}`));
        if (e.delta === 0) done();
      }, log);
      return { caughtUp, stop: () => w.stop() };
    },
  };
}

function consumedStore(kv: KV): CreateOnceStore {
  return {
    async create(key, value) {
      try {
        // previousSeq 0: the key must never have been written — even a delete marker
        // left by someone with write access to the bucket does not make a jti fresh
        await withDeadline(kv.put(key, value, { previousSeq: 0, timeout: CONSUME_TIMEOUT_MS }), CONSUME_TIMEOUT_MS + 250, 'consume');
        return true;
      } catch (err) {
        if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) return false;
        throw err;
      }
    },
    async has(key) {
      return (await withDeadline(kv.get(key), CONSUME_TIMEOUT_MS, 'lookup')) !== null;
    },
    async ttlMs() {
      return (await kv.status()).ttl;
    },
  };
}

/** Usage counters (node/usage-fleet.ts): a put that expects the revision read (0: no message under the key). */
function swapStore(kv: KV): SwapStore {
  return {
    async get(key) {
      const e = await withDeadline(kv.get(key), CONSUME_TIMEOUT_MS, 'usage lookup');
      if (!e) return null;
      // a delete marker holds no events; a swap expects its revision
      return { value: e.operation === 'PUT' ? e.value : new Uint8Array(), revision: e.revision };
    },
    async swap(key, value, revision) {
      try {
        await withDeadline(kv.put(key, value, { previousSeq: revision, timeout: CONSUME_TIMEOUT_MS }), CONSUME_TIMEOUT_MS + 250, 'usage update');
        return true;
      } catch (err) {
        if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) return false;
        throw err;
      }
    },
  };
}

function evidenceStream(f: Fleet): EvidenceStream {
  // While disconnected, publishes fail at once instead of waiting out the publish timeout.
  let connected = true;
  void (async () => {
    for await (const s of f.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })();
  return {
    async publish(subject, leaf, msgId) {
      return (await f.js.publish(subject, leaf, { msgID: msgId, timeout: PUBLISH_TIMEOUT_MS })).seq;
    },
    connected: () => connected && !f.nc.isClosed(),
    async lastSeq() {
      const jsm = await jetstreamManager(f.nc);
      return (await jsm.streams.info(f.stream)).state.last_seq;
    },
    read(fromSeq, onBatch, onEnd) {
      let running = true;
      void (async () => {
        const consumer = await f.js.consumers.get(f.stream, { opt_start_seq: fromSeq, deliver_policy: DeliverPolicy.StartSequence });
        while (running) {
          const batch: EvidenceMessage[] = [];
          for await (const m of await consumer.fetch({ max_messages: 500, expires: 1000 })) batch.push({ seq: m.seq, subject: m.subject, leaf: m.data });
          if (batch.length > 0 && running) await onBatch(batch);
        }
      })().then(() => onEnd(null), (err: unknown) => onEnd(err));
      return { stop: () => void (running = false) };
    },
  };
}

/** The bus over an open NATS connection (the caller keeps the raw `Fleet` for what only NATS has). */
export function natsBus(f: Fleet, log: (s: string) => void, label = 'writ'): FleetBus {
  const ch = (kv: KV, name: string) => kvChannel(kv, `${label}: ${name}`, log);
  return {
    name: f.name,
    bundles: async (domain) => ch(await f.bundles(domain), 'bundles'),
    beacons: ch(f.kv.beacons, 'beacons'),
    revocations: ch(f.kv.revocations, 'revocations'),
    revocationList: ch(f.kv.revocation_list, 'revocation list'),
    certificates: ch(f.kv.nodes, 'nodes'),
    status: ch(f.kv.status, 'status'),
    approvals: ch(f.kv.approvals, 'approvals'),
    consumed: consumedStore(f.kv.consumed),
    usage: swapStore(f.kv.usage),
    evidence: evidenceStream(f),
    evidenceSubject: (domain, node) => `${f.subject}.${kvKey(domain)}.${kvKey(node)}`,
    close: () => f.close(),
  };
}

/** Connects to the fleet's NATS server and opens its bus. */
export async function connectNatsBus(url: string, o: { fleet?: string; client?: string; connectTimeoutMs?: number; log?: (s: string) => void } = {}): Promise<{ bus: FleetBus; nats: Fleet }> {
  const nats = await connectFleet(url, o);
  // what a watch logs is prefixed with who logs it: `writ node: revocations …`
  const label = (o.client ?? 'writ').replace('-', ' ');
  return { bus: natsBus(nats, o.log ?? ((s) => process.stderr.write(s + '\n')), label), nats };
}

/**
 * The FleetBus contract (src/node/fleet-bus.ts, docs/fleet.md "The bus"), run against both
 * adapters: NATS JetStream (src/sync/nats/bus.ts, on the NATS server of $WRIT_TEST_NATS)
 * and the in-process bus (src/sync/in-process-bus.ts, on the direct network). Every case
 * opens a fresh fleet with two connections, `a` and `b`, so that what one puts the other
 * reads or watches.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { systemClock } from '../src/clock.ts';
import type { EvidenceMessage } from '../src/ledger/evidence-stream.ts';
import { BUNDLE_KEY, CONSUMED_TTL_MS, type BusChannel, type BusEntry, type FleetBus } from '../src/node/fleet-bus.ts';
import { InProcessBusServer } from '../src/sync/in-process-bus.ts';
import { connectNatsBus } from '../src/sync/nats/bus.ts';
import { fleetNames } from '../src/sync/nats/connection.ts';
import { NATS_URL } from './fleet-harness.ts';
import { sleep, waitFor } from './wait.ts';

interface OpenFleet {
  a: FleetBus;
  b: FleetBus;
  /** what either connection logged (watch handler errors) */
  logs: string[];
  close(): Promise<void>;
}

interface Adapter {
  name: string;
  open(): Promise<OpenFleet>;
}

let fleets = 0;

const nats: Adapter = {
  name: 'NATS JetStream',
  async open() {
    const fleet = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}_${fleets++}`;
    const logs: string[] = [];
    const log = (s: string) => void logs.push(s);
    const a = await connectNatsBus(NATS_URL, { fleet, client: 'test-a', log });
    const b = await connectNatsBus(NATS_URL, { fleet, client: 'test-b', log });
    return {
      a: a.bus,
      b: b.bus,
      logs,
      async close() {
        await Promise.all([a.bus.close().catch(() => undefined), b.bus.close().catch(() => undefined)]);
        // remove the fleet's buckets (KV_<fleet>_…) and stream from the shared server
        const nc = await connect({ servers: NATS_URL, name: 'test-cleanup' });
        try {
          const jsm = await jetstreamManager(nc);
          for await (const s of jsm.streams.names()) if (s.startsWith(`KV_${fleet}_`) || s === fleetNames(fleet).stream) await jsm.streams.delete(s);
        } finally {
          await nc.close();
        }
      },
    };
  },
};

const inProcess: Adapter = {
  name: 'in-process',
  async open() {
    const server = new InProcessBusServer({ clock: systemClock });
    const logs: string[] = [];
    const log = (s: string) => void logs.push(s);
    const a = server.connect('a', { log });
    const b = server.connect('b', { log });
    return { a, b, logs, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
};

const text = (v: Uint8Array) => Buffer.from(v).toString();
const view = (es: BusEntry[]) => es.map((e) => `${e.key}=${text(e.value)}@${e.revision}`);
const values = (es: BusEntry[]) => es.map((e) => `${e.key}=${text(e.value)}`);

/** A watch that records what it was handed (after an optional delay per entry). */
async function recording(ch: BusChannel, o: { key?: string; history?: boolean }, delayMs = 0) {
  const seen: BusEntry[] = [];
  const w = await ch.watch(o, async (e) => {
    if (delayMs > 0) await sleep(delayMs);
    seen.push(e);
  });
  return { seen, w };
}

/** Resolves with `p`, or rejects after `ms` (a deadline for something that must happen, not a sleep). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

function increasing(es: BusEntry[], what: string) {
  for (let i = 1; i < es.length; i++) assert.ok(es[i]!.revision > es[i - 1]!.revision, `${what}: revisions in order: ${view(es).join(', ')}`);
}

for (const adapter of [nats, inProcess]) {
  describe(`FleetBus contract: ${adapter.name}`, { timeout: 60_000 }, () => {
    const withFleet = (f: (fl: OpenFleet) => Promise<void>) => async () => {
      const fl = await adapter.open();
      try {
        await f(fl);
      } finally {
        await fl.close();
      }
    };

    it('put numbers revisions across a channel; get, list and list({history}) show what it keeps', withFleet(async ({ a, b }) => {
      const r1 = await a.certificates.put('n1', 'n1 first');
      const r2 = await b.certificates.put('n2', 'n2 first');
      const r3 = await a.certificates.put('n1', 'n1 newer');
      const r4 = await b.certificates.put('n1', 'n1 older, put last'); // the newest by iat is not necessarily the last put
      assert.ok(r1 < r2 && r2 < r3 && r3 < r4, `increasing revisions: ${[r1, r2, r3, r4].join(' ')}`);

      const got = await b.certificates.get('n1');
      assert.deepEqual(got && [text(got.value), got.revision], ['n1 older, put last', r4]);
      assert.equal(await a.certificates.get('nobody'), null);
      assert.deepEqual(view(await a.certificates.list()), [`n2=n2 first@${r2}`, `n1=n1 older, put last@${r4}`]);
      // certificates keep several revisions per node (rotations), on both adapters
      assert.deepEqual(view(await b.certificates.list({ history: true })), [`n1=n1 first@${r1}`, `n2=n2 first@${r2}`, `n1=n1 newer@${r3}`, `n1=n1 older, put last@${r4}`]);

      // beacons keep the newest only: the history is what list() shows
      await a.beacons.put('d1', 'old');
      await a.beacons.put('d2', 'other');
      const r = await b.beacons.put('d1', 'new');
      assert.deepEqual(values(await a.beacons.list({ history: true })), ['d2=other', 'd1=new']);
      assert.deepEqual(view(await a.beacons.list()).at(-1), `d1=new@${r}`);

      // bundles keep the domain's recent bundles
      const bundles = await a.bundles('d1');
      for (const v of ['b1', 'b2', 'b3']) await bundles.put(BUNDLE_KEY, v);
      assert.deepEqual(values(await (await b.bundles('d1')).list({ history: true })), ['bundle=b1', 'bundle=b2', 'bundle=b3']);
      assert.deepEqual(values(await bundles.list()), ['bundle=b3']);
    }));

    it('watch delivers what was held, then every later put, in revision order, of exactly the selected keys', withFleet(async ({ a, b }) => {
      await a.status.put('x.1', 'v1');
      await a.status.put('x.2', 'v2');
      await b.status.put('y.1', 'v3');
      await a.status.put('x.1', 'v4');
      const held = ['x.2=v2', 'y.1=v3', 'x.1=v4'];

      // a slow handler: caughtUp must wait for it to have handled every held entry
      const all = await recording(b.status, {}, 20);
      const seenAtCaughtUp = await within(all.w.caughtUp.then(() => values(all.seen)), 5000, 'caughtUp');
      assert.deepEqual(seenAtCaughtUp, held);
      const exact = await recording(b.status, { key: 'x.1' });
      const prefix = await recording(a.status, { key: 'x.>' });
      await within(Promise.all([exact.w.caughtUp, prefix.w.caughtUp]), 5000, 'caughtUp of the filtered watches');
      assert.deepEqual(values(exact.seen), ['x.1=v4']);
      assert.deepEqual(values(prefix.seen), ['x.2=v2', 'x.1=v4']);

      await a.status.put('y.2', 'v5');
      await b.status.put('x.3', 'v6');
      await a.status.put('xx', 'v7'); // neither x.1 nor under x.
      await a.status.put('x.1', 'v8');
      for (const w of [all, exact, prefix]) await waitFor('the last put', () => w.seen.at(-1)?.revision === all.seen.at(-1)?.revision && text(w.seen.at(-1)!.value) === 'v8');
      assert.deepEqual(values(all.seen), [...held, 'y.2=v5', 'x.3=v6', 'xx=v7', 'x.1=v8']);
      assert.deepEqual(values(exact.seen), ['x.1=v4', 'x.1=v8']);
      assert.deepEqual(values(prefix.seen), ['x.2=v2', 'x.1=v4', 'x.3=v6', 'x.1=v8']);
      for (const w of [all, exact, prefix]) increasing(w.seen, 'watch');

      // stop(): the stopped watch gets nothing more; the prefix watch is the marker
      all.w.stop();
      exact.w.stop();
      await a.status.put('x.1', 'after stop');
      await a.status.put('x.9', 'marker');
      await waitFor('the marker', () => prefix.seen.some((e) => text(e.value) === 'marker'));
      assert.deepEqual(values(prefix.seen).slice(-2), ['x.1=after stop', 'x.9=marker']);
      assert.equal(values(all.seen).at(-1), 'x.1=v8');
      assert.equal(values(exact.seen).at(-1), 'x.1=v8');
      prefix.w.stop();
    }));

    it('caughtUp resolves at once when nothing selected is held', withFleet(async ({ a, b }) => {
      const empty = await recording(b.approvals, {});
      await within(empty.w.caughtUp, 2000, 'caughtUp on an empty channel');
      // a channel that holds entries, none of them selected
      await a.approvals.put('n1.r1', 'decision');
      const none = await recording(b.approvals, { key: 'n2.>' });
      const one = await recording(b.approvals, { key: 'n2.r1' });
      await within(Promise.all([none.w.caughtUp, one.w.caughtUp]), 2000, 'caughtUp of a watch whose keys the channel does not hold');
      await a.approvals.put('n2.r1', 'mine');
      await waitFor('the first selected put', () => none.seen.length > 0 && one.seen.length > 0);
      assert.deepEqual(values(none.seen), ['n2.r1=mine']);
      assert.deepEqual(values(one.seen), ['n2.r1=mine']);
      assert.deepEqual(values(empty.seen), ['n1.r1=decision', 'n2.r1=mine']);
      for (const w of [empty, none, one]) w.w.stop();
    }));

    it('an error thrown by a watch handler is logged and the watch goes on', withFleet(async ({ a, b, logs }) => {
      await a.beacons.put('d1', 'held, bad');
      const seen: string[] = [];
      const w = await b.beacons.watch({}, async (e) => {
        seen.push(text(e.value));
        if (text(e.value).includes('bad')) throw new Error(`boom ${text(e.value)}`);
      });
      await within(w.caughtUp, 5000, 'caughtUp after a failing handler');
      await a.beacons.put('d1', 'bad');
      await a.beacons.put('d2', 'good');
      await waitFor('the put after the failing one', () => seen.includes('good'));
      assert.deepEqual(seen, ['held, bad', 'bad', 'good']);
      await waitFor('the handler errors logged', () => logs.filter((l) => l.includes('boom')).length === 2);
      w.stop();
    }));

    it('bundles(domain) is a channel per domain', withFleet(async ({ a, b }) => {
      const d1 = await recording(await b.bundles('d1'), { key: BUNDLE_KEY });
      const d2 = await recording(await b.bundles('Acme Prod/2'), { key: BUNDLE_KEY });
      await (await a.bundles('d1')).put(BUNDLE_KEY, 'for d1');
      await (await a.bundles('Acme Prod/2')).put(BUNDLE_KEY, 'for Acme');
      await waitFor('each domain its bundle', () => d1.seen.length > 0 && d2.seen.length > 0);
      await (await a.bundles('d1')).put(BUNDLE_KEY, 'd1 again');
      await waitFor('the second d1 bundle', () => d1.seen.length === 2);
      // a put in one domain would come before the other domain's later put: the later one is the marker
      await (await a.bundles('Acme Prod/2')).put(BUNDLE_KEY, 'Acme again');
      await waitFor('the second Acme bundle', () => d2.seen.length === 2);
      assert.deepEqual(values(d1.seen), ['bundle=for d1', 'bundle=d1 again']);
      assert.deepEqual(values(d2.seen), ['bundle=for Acme', 'bundle=Acme again']);
      assert.equal(text((await (await b.bundles('d1')).get(BUNDLE_KEY))!.value), 'd1 again');
      assert.equal(await (await b.bundles('d3')).get(BUNDLE_KEY), null);
      assert.deepEqual(values(await (await b.bundles('d3')).list({ history: true })), []);
      d1.w.stop();
      d2.w.stop();
    }));

    it('consumed: exactly one create of a key is true, across connections', withFleet(async ({ a, b }) => {
      assert.equal(await a.consumed.create('jti-1', 'n1'), true);
      assert.equal(await a.consumed.create('jti-1', 'n1'), false);
      assert.equal(await b.consumed.create('jti-1', 'n2'), false);
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).consumed.create('jti-2', `n${i}`)));
      assert.equal(answers.filter((x) => x).length, 1, `one true of ${JSON.stringify(answers)}`);
      assert.equal(await b.consumed.has('jti-2'), true);
      assert.equal(await a.consumed.has('jti-1'), true);
      assert.equal(await a.consumed.has('jti-never'), false);
      assert.equal(await b.consumed.create('jti-never', 'n2'), true);
      assert.equal(await a.consumed.ttlMs(), CONSUMED_TTL_MS);
      assert.ok((await b.consumed.ttlMs()) > 0);
    }));

    it('evidence: sequences from 1, a repeated message id keeps its sequence, read delivers in order then live', withFleet(async ({ a, b }) => {
      const s1 = a.evidenceSubject('d', 'n1');
      const s2 = b.evidenceSubject('d', 'n2');
      assert.notEqual(s1, s2);
      assert.notEqual(a.evidenceSubject('d', 'authority'), s1);
      assert.notEqual(a.evidenceSubject('e', 'n1'), s1);
      assert.equal(await a.evidence.lastSeq(), 0);
      const leaves = Array.from({ length: 5 }, (_, i) => new Uint8Array([0, i, 255, ...randomBytes(8)]));
      assert.equal(await a.evidence.publish(s1, leaves[0]!, 'm1'), 1);
      assert.equal(await b.evidence.publish(s2, leaves[1]!, 'm2'), 2);
      assert.equal(await a.evidence.publish(s1, leaves[2]!, 'm3'), 3);
      assert.equal(await b.evidence.publish(s1, leaves[0]!, 'm1'), 1, 'a repeated message id keeps its first sequence');
      assert.equal(await a.evidence.publish(s2, leaves[1]!, 'm2'), 2);
      assert.equal(await b.evidence.lastSeq(), 3);

      const got: EvidenceMessage[] = [];
      const ends: unknown[] = [];
      const r = b.evidence.read(2, async (batch) => void got.push(...batch), (err) => void ends.push(err ?? 'stopped'));
      const seqs = () => got.map((m) => m.seq);
      await waitFor('messages 2 and 3', () => got.length >= 2);
      assert.deepEqual(seqs(), [2, 3]);
      assert.deepEqual(got.map((m) => [m.subject, Buffer.from(m.leaf).toString('hex')]), [
        [s2, Buffer.from(leaves[1]!).toString('hex')],
        [s1, Buffer.from(leaves[2]!).toString('hex')],
      ]);
      assert.equal(await a.evidence.publish(s2, leaves[3]!, 'm4'), 4);
      await waitFor('message 4, published while reading', () => got.length >= 3);
      assert.deepEqual(seqs(), [2, 3, 4]);
      assert.deepEqual(Buffer.from(got[2]!.leaf), Buffer.from(leaves[3]!));

      r.stop();
      await waitFor('the reader to end once stopped', () => ends.length > 0, 5000);
      assert.deepEqual(ends, ['stopped']);
      assert.equal(await a.evidence.publish(s1, leaves[4]!, 'm5'), 5);
      // the marker: another reader sees message 5; the stopped one must not have
      const later: number[] = [];
      const r2 = a.evidence.read(4, async (batch) => void later.push(...batch.map((m) => m.seq)), () => undefined);
      await waitFor('message 5 at another reader', () => later.includes(5));
      assert.deepEqual(later, [4, 5]);
      assert.deepEqual(seqs(), [2, 3, 4]);
      r2.stop();
    }));

    it('connected() while the connection lives; after close() it is false and puts reject', withFleet(async ({ a, b }) => {
      assert.equal(a.evidence.connected(), true);
      assert.equal(b.evidence.connected(), true);
      await a.close();
      await waitFor('connected() false after close', () => !a.evidence.connected());
      await assert.rejects(a.beacons.put('d1', 'after close'));
      await assert.rejects(a.evidence.publish(a.evidenceSubject('d', 'n1'), new Uint8Array([1]), 'x'));
      // the other connection is not affected
      assert.equal(b.evidence.connected(), true);
      assert.equal(typeof (await b.beacons.put('d1', 'still')), 'number');
    }));
  });
}

/**
 * Chaos (issue 5, point 7): "nothing is lost when … NATS or PostgreSQL is killed and
 * restarted". A fleet of 3 `writ node`s, the authority and the sequencer runs under
 * concurrent load against a real NATS JetStream server and a real PostgreSQL server that
 * this test owns (chaos/servers.ts: the machine's binaries on their own ports and data,
 * so that killing them hurts nobody else), and
 *   1. NATS is SIGKILLed, twice, for 3 s each: while it is down every answer is a deny
 *      without a writ (no ack, no writ); after the restart the nodes allow again without
 *      being restarted; every writ ever returned is still in the JetStream stream at its
 *      index (JetStream's default sync settings) and reaches PostgreSQL;
 *   2. PostgreSQL is stopped immediately (SIGQUIT to the postmaster: crash recovery on
 *      restart), three times: the nodes keep issuing writs (decisions need only NATS),
 *      PostgreSQL keeps what it committed, the sequencer survives and catches up;
 * and then every writ ever returned is in the PostgreSQL ledger at its index with its
 * jti, the tree and every signed checkpoint are recomputed from the stored entries, and
 * the checkpoints taken before each crash are proven consistent with the last one.
 *
 * Not part of `npm test` (whose files run concurrently): `npm run test:chaos`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Checkpoint } from '../src/tlog/checkpoint.ts';
import type { FleetNodeProc, TestFleet as Fleet } from '../test/fleet-harness.ts';
import { startChaosServers } from './servers.ts';

// the servers first: the harness reads WRIT_TEST_NATS / WRIT_TEST_PG when it is imported
const servers = await startChaosServers();
after(() => servers.stop());
const { allowedRequest, decodeClaims, sleep, startLoad, TestFleet, waitFor } = await import('../test/fleet-harness.ts');
const { assertIncluded, assertLedgerConsistent, assertWritsInLedger, latestCheckpoint, waitCheckpoint } = await import('../test/fleet-ledger.ts');

const LOOPS = 6;
/** answers that arrive this long after NATS died can no longer carry an acknowledgement sent before */
const GRACE_MS = 250;
/**
 * How long NATS stays down: longer than a node's bounded wait for an acknowledgement
 * (2 s, src/sync/jetstream-ledger.ts), so that every node also answers requests that
 * arrive after the ones caught in flight by the kill.
 */
const NATS_OUTAGE_MS = 3000;
const NATS_KILLS = 2;
const PG_STOPS = 3;
const PG_OUTAGE_MS = 1500;

/** Until the load got `n` more writs (evidence, not time). */
function moreWrits(f: Fleet, n: number, what: string): Promise<boolean> {
  const from = f.writs.length;
  return waitFor(`${n} more writs ${what}`, () => f.writs.length >= from + n, 30_000, 10);
}

interface Answer {
  node: string;
  decisionId: string | null;
  sent: number;
  at: number;
  decision: 'allow' | 'deny' | 'error';
  writ: boolean;
  reasons: string[];
}

/** One caller per node beside the load, every answer timestamped (the load's are not). */
function startProbes(f: Fleet) {
  const answers: Answer[] = [];
  let running = true;
  let i = 0;
  const probe = async (n: FleetNodeProc) => {
    while (running) {
      const sent = performance.now();
      try {
        const r = await f.authorize(n, allowedRequest(1_000_000 + i++), AbortSignal.timeout(5000));
        answers.push({ node: n.id, decisionId: r.body.decisionId, sent, at: performance.now(), decision: r.body.decision, writ: r.body.writ !== undefined, reasons: r.body.reasons });
      } catch (err) {
        answers.push({ node: n.id, decisionId: null, sent, at: performance.now(), decision: 'error', writ: false, reasons: [String(err)] });
      }
      await sleep(20);
    }
  };
  const all = f.nodes.map((n) => probe(n));
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(all);
      return answers;
    },
  };
}

function count(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * Every writ's evidence is in the JetStream stream at sequence led + 1: a decision leaf
 * naming the writ's jti (what a node was acknowledged for before it returned the writ).
 * Returns the writs that are not, by their position in `writs`.
 */
async function missingFromStream(f: Fleet, writs: string[]): Promise<{ i: number; message: string }[]> {
  const jsm = await jetstreamManager(f.fleet.nc);
  const missing: { i: number; message: string }[] = [];
  const claims = writs.map(decodeClaims);
  for (let k = 0; k < claims.length; k += 200) {
    await Promise.all(
      claims.slice(k, k + 200).map(async (c, j) => {
        const i = k + j;
        try {
          const m = await jsm.streams.getMessage(f.fleet.stream, { seq: c.led + 1 });
          if (!m) throw new Error('no message at that sequence');
          const leaf = JSON.parse(new TextDecoder().decode(m.data)) as { type?: string; writ?: { jti?: string } | null; node?: string };
          if (leaf.type !== 'decision' || leaf.writ?.jti !== c.jti) missing.push({ i, message: `${c.jti} (led ${c.led}, from ${c.iss}): stream holds ${leaf.type} ${leaf.writ?.jti ?? '-'} from ${leaf.node ?? '?'}` });
        } catch (err) {
          missing.push({ i, message: `${c.jti} (led ${c.led}, from ${c.iss}): ${(err as Error).message}` });
        }
      }),
    );
  }
  return missing.sort((x, y) => x.i - y.i);
}

/** No two writs name the same ledger index (a stream that lost its tail would hand its sequences out again). */
function assertDistinctIndexes(writs: string[]): void {
  const seen = new Map<number, string>();
  const dup: string[] = [];
  for (const c of writs.map(decodeClaims)) {
    const other = seen.get(c.led);
    if (other !== undefined && other !== c.jti) dup.push(`led ${c.led}: ${other} and ${c.jti}`);
    seen.set(c.led, c.jti);
  }
  assert.deepEqual(dup, [], `${dup.length} ledger indexes were given to two writs`);
}

/** every probe answer and the wall-clock times of the NATS kills, for the final report */
const probeAnswers: Answer[] = [];
const natsKills: string[] = [];

describe('chaos: the real NATS and PostgreSQL servers killed under load; nothing returned is lost', { timeout: 170_000 }, () => {
  let f: Fleet;
  const checkpoints: Checkpoint[] = [];
  before(async () => {
    f = await TestFleet.start({ nodes: 3, sequencer: true, initialVersion: 1, beaconInterval: '250ms', beaconTtl: '2s' });
    // the test's own pool outlives PostgreSQL's crash: its idle connections die with it
    f.db.on('error', () => undefined);
  });
  after(async () => {
    await f?.close();
  });

  it('NATS SIGKILLed under load, twice: every answer while it is down is a deny without a writ; the nodes allow again after its restart without being restarted; every acknowledged writ is still in the stream and reaches PostgreSQL', async () => {
    const load = startLoad(f, LOOPS);
    const probes = startProbes(f);
    const cycles: { killedAt: number; restartedAt: number; upMs: number; writs: Record<string, number>; recovery: Record<string, number> }[] = [];
    try {
      await moreWrits(f, 20, 'to warm up');
      for (let k = 0; k < NATS_KILLS; k++) {
        const c = { killedAt: NaN, restartedAt: NaN, upMs: NaN, writs: {} as Record<string, number>, recovery: {} as Record<string, number> };
        cycles.push(c);
        try {
          checkpoints.push(await waitCheckpoint(f, 1)); // to be proven consistent with the checkpoints after the crash
          c.writs.beforeKill = f.writs.length;
          c.killedAt = await servers.nats.kill('SIGKILL');
          natsKills.push(new Date().toISOString());
          c.writs.killed = f.writs.length;
          await sleep(GRACE_MS); // the outage's phases last this long: the point of the test
          c.writs.outageFrom = f.writs.length;
          await sleep(NATS_OUTAGE_MS - GRACE_MS);
          c.writs.outageTo = f.writs.length;
          c.restartedAt = performance.now();
        } finally {
          // NATS comes back whatever happened above
          if (!servers.nats.running) c.upMs = (await servers.nats.start()).ms;
        }
        const up = performance.now();
        // the nodes recover by themselves: each one allows again
        await Promise.all(
          f.nodes.map(async (n) => {
            await waitFor(`${n.id} to allow again after NATS restarted`, async () => (await f.authorize(n, allowedRequest())).body.decision === 'allow', 30_000, 50);
            c.recovery[n.id] = Math.round(performance.now() - up);
          }),
        );
        await moreWrits(f, 20, `after NATS restarted (kill ${k + 1})`);
        c.writs.after = f.writs.length;
      }
    } finally {
      const stats = await load.stop();
      probeAnswers.push(...(await probes.stop()));
      console.log(`# NATS kills: load ${stats.allows} allows, denials ${JSON.stringify(Object.fromEntries(stats.denies))}, ${stats.errors} failed requests`);
    }

    const lost = await missingFromStream(f, f.writs);
    for (const [k, c] of cycles.entries()) {
      // fail closed: every request sent after the kill and answered before the restart
      const outage = probes.answers.filter((a) => a.sent >= c.killedAt && a.at < c.restartedAt);
      const caught = probes.answers.filter((a) => a.sent < c.killedAt && a.at >= c.killedAt);
      const lostBefore = lost.filter((l) => l.i < (c.writs.killed ?? 0)).length;
      console.log(
        `# NATS kill ${k + 1}: writs returned ${JSON.stringify(c.writs)}; NATS up (JetStream answering) ${Math.round(c.upMs)} ms after the restart began; nodes allowing again ${JSON.stringify(c.recovery)} ms after that\n` +
          `#   caught in flight by the kill: ${caught.length} probe answers ${JSON.stringify(count(caught.map((a) => `${a.decision}:${a.reasons.join('+')}`)))} after ${caught.map((a) => Math.round(a.at - a.sent)).join(', ')} ms\n` +
          `#   during the outage: ${outage.length} probe answers ${JSON.stringify(count(outage.map((a) => `${a.decision}:${a.reasons.join('+')}`)))}; slowest ${Math.round(Math.max(0, ...outage.map((a) => a.at - a.sent)))} ms\n` +
          `#   JetStream: ${lostBefore} of the ${c.writs.killed} writs returned before the kill are not in the stream as returned`,
      );
      assert.deepEqual(outage.filter((a) => a.decision === 'allow' || a.writ), [], `kill ${k + 1}: no answer while NATS is down is an allow or carries a writ`);
      for (const n of f.nodes) assert.ok(outage.some((a) => a.node === n.id && a.decision === 'deny'), `kill ${k + 1}: ${n.id} answered (deny) while NATS was down`);
      assert.equal(c.writs.outageTo, c.writs.outageFrom, `kill ${k + 1}: no writ was returned while NATS was down (${(c.writs.outageTo ?? 0) - (c.writs.outageFrom ?? 0)} were)`);
      assert.ok((c.writs.beforeKill ?? 0) > 0, `kill ${k + 1}: the load produced writs before the kill`);
      assert.ok((c.writs.after ?? 0) > (c.writs.outageTo ?? 0), `kill ${k + 1}: writs were issued again after the restart`);
    }
    for (const n of f.nodes) assert.equal(n.starts, 1, `${n.id} recovered without a restart`);
    assert.ok(f.sequencer?.running, `the sequencer survived NATS's crashes:\n${f.sequencer?.output.slice(-2000)}`);
    // JetStream kept every acknowledged message (with JetStream's default sync settings, the server's process killed)
    assert.deepEqual(lost.map((l) => l.message), [], `${lost.length} of ${f.writs.length} acknowledged writs are not in the JetStream stream after NATS's SIGKILL`);
    assertDistinctIndexes(f.writs);

    const started = performance.now();
    const size = await f.waitSequenced(30_000);
    console.log(`# sequencer caught up (${size} entries) ${Math.round(performance.now() - started)} ms after the load stopped; it said: ${JSON.stringify(f.sequencer?.output.split('\n').slice(1).filter(Boolean))}`);
    await assertWritsInLedger(f, f.writs);
  });

  it('PostgreSQL stopped immediately under load, three times: the nodes keep issuing writs, the sequencer survives and catches up after each restart; every writ is in the ledger', async () => {
    const load = startLoad(f, LOOPS);
    const cycles: { committed: number; sequenced: number; restartMs: number; writs: Record<string, number> }[] = [];
    const deaths: string[] = [];
    try {
      await moreWrits(f, 20, 'to warm up');
      for (let k = 0; k < PG_STOPS; k++) {
        const c = { committed: NaN, sequenced: NaN, restartMs: NaN, writs: {} as Record<string, number> };
        cycles.push(c);
        try {
          checkpoints.push(await latestCheckpoint(f)); // to be proven consistent with the checkpoints after the crash
          c.committed = await f.sequenced();
          c.writs.beforeStop = f.writs.length;
          await servers.pg.immediateStop();
          c.writs.stopped = f.writs.length;
          await sleep(PG_OUTAGE_MS); // the outage lasts this long: the point of the test
          c.writs.down = f.writs.length;
        } finally {
          // PostgreSQL comes back (crash recovery) whatever happened above
          if (!servers.pg.running) c.restartMs = (await servers.pg.start()).ms;
        }
        c.sequenced = await f.sequenced();
        await moreWrits(f, 20, `after PostgreSQL came back (stop ${k + 1})`);
        c.writs.after = f.writs.length;
        const seq = f.sequencer;
        if (seq && !seq.running) {
          deaths.push(`stop ${k + 1}: ${seq.output.slice(-2500)}`);
          console.log(`# the sequencer died at PostgreSQL's stop ${k + 1}; started again so that the ledger can still be checked:\n${seq.output.slice(-2500)}`);
          seq.output = '';
          await seq.start();
        }
      }
    } finally {
      const stats = await load.stop();
      console.log(`# PostgreSQL stops: load ${stats.allows} allows, denials ${JSON.stringify(Object.fromEntries(stats.denies))}, ${stats.errors} failed requests`);
    }
    for (const [k, c] of cycles.entries()) {
      console.log(`# PostgreSQL stop ${k + 1}: writs returned ${JSON.stringify(c.writs)}; ${c.committed} entries committed before the stop, ${c.sequenced} found after the restart (crash recovery ${Math.round(c.restartMs)} ms)`);
      assert.ok((c.writs.down ?? 0) > (c.writs.stopped ?? 0), `stop ${k + 1}: the nodes kept issuing writs while PostgreSQL was down`);
      assert.ok((c.writs.after ?? 0) > (c.writs.down ?? 0), `stop ${k + 1}: and after it came back`);
      assert.ok(c.sequenced >= c.committed, `stop ${k + 1}: PostgreSQL kept the ${c.committed} entries committed before its crash (found ${c.sequenced})`);
    }
    const started = performance.now();
    const size = await f.waitSequenced(30_000);
    console.log(`# sequencer caught up (${size} entries) ${Math.round(performance.now() - started)} ms after the load stopped`);
    await assertWritsInLedger(f, f.writs);
    assertDistinctIndexes(f.writs);
    assert.deepEqual(deaths, [], `the sequencer survives PostgreSQL's crash and resumes by itself; it died ${deaths.length} of ${PG_STOPS} times`);
  });

  it('nothing was lost: every writ ever returned is in PostgreSQL at its index with its jti; the tree and every checkpoint are consistent, also with those signed before each crash', async () => {
    await f.waitSequenced(30_000);
    await assertWritsInLedger(f, f.writs);
    assertDistinctIndexes(f.writs);
    const { size, checkpoints: n } = await assertLedgerConsistent(f, checkpoints);
    console.log(`# ledger: ${f.writs.length} writs checked against ${size} entries; ${n} signed checkpoints recomputed; consistency proven from sizes ${checkpoints.map((c) => c.size).join(', ')}`);
    // the other way round (reported, not a loss): entries no returned writ accounts for
    const returned = new Set(f.writs.map((w) => decodeClaims(w).jti));
    const rows = (await f.db.query<{ idx: string; type: string; jti: string | null; leaf: Buffer }>(`SELECT idx, type, jti, leaf FROM ${f.name}.entries`)).rows;
    const unreturned = rows.filter((r) => !(r.type === 'decision' && r.jti !== null && returned.has(r.jti)));
    console.log(`# entries without a returned writ: ${JSON.stringify(count(unreturned.map((r) => `${r.type}${r.type === 'decision' ? (r.jti ? ' with a writ' : ' without a writ') : ''}`)))}`);
    // an allow recorded whose writ nobody received: the node gave up waiting for the acknowledgement (and denied), the publish still reached the stream
    for (const r of unreturned.filter((x) => x.type === 'decision' && x.jti !== null)) {
      const leaf = JSON.parse(r.leaf.toString('utf8')) as { id: string; time: string; node: string };
      const answer = probeAnswers.find((a) => a.decisionId === leaf.id);
      console.log(`#   allow at ${r.idx} (${leaf.node}, ${leaf.time}; NATS killed at ${natsKills.join(', ')}) without a returned writ; ${answer ? `the node answered ${answer.decision} ${answer.reasons.join('+')} after ${Math.round(answer.at - answer.sent)} ms` : 'answered to the load'}`);
    }
    const cp = await latestCheckpoint(f);
    for (const w of [f.writs[0], f.writs[Math.floor(f.writs.length / 2)], f.writs.at(-1)]) await assertIncluded(f, decodeClaims(w as string).led, cp);
  });
});

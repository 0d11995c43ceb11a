/**
 * Evidence across the fleet (issue 5, points 7 and 9): three `writ node`s publish to the
 * JetStream evidence stream, `writ sequencer` builds the one Merkle ledger in the real
 * PostgreSQL. Every writ any node returned is checked against the ledger — at its index
 * `led`, with its jti — and the tree and signed checkpoints are recomputed from the
 * stored entries; also after a node, the sequencer and the authority were SIGKILLed and
 * restarted under concurrent load.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Checkpoint } from '../src/tlog/checkpoint.ts';
import { allowedRequest, decodeClaims, sleep, startLoad, TestFleet, waitFor } from './fleet-harness.ts';
import { assertIncluded, assertLedgerConsistent, assertWritsInLedger, latestCheckpoint, waitCheckpoint } from './fleet-ledger.ts';

describe('fleet: evidence in PostgreSQL, and nothing lost when processes crash', { timeout: 180_000 }, () => {
  let f: TestFleet;
  const checkpoints: Checkpoint[] = [];
  before(async () => {
    f = await TestFleet.start({ nodes: 3, sequencer: true, beaconInterval: '250ms', beaconTtl: '2s' });
  });
  after(async () => {
    await f?.close();
  });

  it('every writ returned by any node is in PostgreSQL at its index led with its jti; a signed checkpoint covers it and inclusion proofs verify', async () => {
    const writs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const rs = await Promise.all(f.nodes.map((n) => f.authorize(n, allowedRequest(i))));
      for (const r of rs) {
        assert.equal(r.body.decision, 'allow', r.body.message);
        const c = decodeClaims(r.body.writ as string);
        assert.equal(c.led, r.body.ledgerIndex, 'the writ names the index the node reported');
        writs.push(r.body.writ as string);
      }
    }
    assert.equal(new Set(writs.map((w) => decodeClaims(w).led)).size, writs.length, 'every writ has its own index');
    const size = await f.waitSequenced();
    await assertWritsInLedger(f, writs);
    const cp = await waitCheckpoint(f, size);
    assert.ok(cp.note.startsWith(`writ.fleet/${f.name}/default\n`), "a C2SP checkpoint under the fleet log's own origin, not the sequencer home's local log's");
    for (const w of writs) await assertIncluded(f, decodeClaims(w).led, cp);
    checkpoints.push(cp);
  });

  it('under concurrent load, a node, the sequencer and the authority are SIGKILLed and restarted one at a time; the nodes keep deciding', async () => {
    const load = startLoad(f, 4);
    const phases: { phase: string; writs: number }[] = [];
    const mark = (phase: string) => phases.push({ phase, writs: f.writs.length });
    // each phase lasts until the load got `n` more writs through the nodes still up (evidence, not time)
    const writs = (n: number, what: string) => {
      const from = f.writs.length;
      return waitFor(`${n} more writs ${what}`, () => f.writs.length >= from + n, 20_000, 10);
    };
    try {
      await writs(20, 'to warm up');
      mark('warm');

      const n2 = f.node('n2');
      await n2.kill('SIGKILL');
      mark('n2 killed');
      await writs(10, 'from the other nodes while n2 is down');
      await n2.start();
      await writs(20, 'after n2 restarted');
      mark('n2 restarted');

      const seq = f.sequencer;
      assert.ok(seq);
      checkpoints.push(await latestCheckpoint(f)); // to be proven consistent with the checkpoints after the crash
      await seq.kill('SIGKILL');
      mark('sequencer killed');
      await writs(30, 'while the sequencer is down'); // nodes keep deciding: their evidence waits in the stream
      mark('sequencer down');
      await seq.start();
      await writs(20, 'after the sequencer restarted');
      mark('sequencer restarted');

      await f.authority.kill('SIGKILL');
      mark('authority killed');
      await sleep(500); // down for a while (within the beacon TTL, nothing to wait for)
      await f.authority.start();
      await f.waitReady(1, f.nodes, 10_000);
      mark('authority restarted');
      await writs(10, 'after the authority restarted');
    } finally {
      const stats = await load.stop();
      mark('end');
      console.log(`# crash run: ${stats.allows} allows, denials ${JSON.stringify(Object.fromEntries(stats.denies))}, ${stats.errors} failed requests; writs by phase ${JSON.stringify(phases)}`);
    }
    const at = (p: string) => phases.find((x) => x.phase === p)?.writs ?? NaN;
    assert.ok(at('warm') > 0, 'the load produced writs');
    assert.ok(at('n2 restarted') > at('n2 killed'), 'the other nodes kept deciding while n2 was down');
    assert.ok(at('sequencer down') > at('sequencer killed'), 'nodes kept issuing writs while the sequencer was down');
    assert.ok(at('end') > at('authority restarted'), 'decisions resumed after the authority restart');
    assert.equal(f.node('n2').starts, 2);
    assert.equal((await f.authorize(f.node('n2'))).body.decision, 'allow', 'the restarted node decides under its persisted bundle');
    assert.equal(f.sequencer?.starts, 2);
    assert.equal(f.authority.starts, 2);
  });

  it('after its crash the sequencer catches up with the stream promptly (within 15 s)', async () => {
    const started = performance.now();
    await f.waitSequenced(15_000);
    console.log(`# sequencer caught up ${Math.round(performance.now() - started)} ms after the load stopped`);
  });

  it('nothing was lost: every writ ever returned is in PostgreSQL at its index with its jti; the tree and every checkpoint are consistent', async () => {
    await f.waitSequenced(60_000); // however long the previous step found it takes
    await assertWritsInLedger(f, f.writs);
    const { size, checkpoints: n } = await assertLedgerConsistent(f, checkpoints);
    console.log(`# ledger: ${f.writs.length} writs checked against ${size} entries; ${n} signed checkpoints recomputed`);
    // and the latest checkpoint proves the inclusion of writs issued before and after the crashes
    const cp = await latestCheckpoint(f);
    for (const w of [f.writs[0], f.writs[Math.floor(f.writs.length / 2)], f.writs.at(-1)]) await assertIncluded(f, decodeClaims(w as string).led, cp);
  });
  // NATS and PostgreSQL themselves are killed under load in chaos/fleet-chaos.test.ts (npm run test:chaos).
});

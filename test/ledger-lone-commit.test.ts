/**
 * Lone appends on the worker writer (issue 14, point 2): committed on the loop's thread or
 * on the worker, whichever has recently been faster (src/ledger/lone-commit.ts). Either
 * way, every append is durable before its promise resolves, indexes stay dense and in
 * order across the two connections, and a failed commit rejects only its own append.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LoneCommitChooser, type LonePath } from '../src/ledger/lone-commit.ts';
import { openDatabase } from '../src/ledger/sqlite-batch.ts';
import { SqliteLedger } from '../src/ledger/sqlite-ledger.ts';
import type { AppendRequest } from '../src/ledger/ledger.ts';
import { tempDir } from './helpers.ts';

function decision(i: number, decisionId: string = randomUUID()): AppendRequest {
  return { type: 'decision', leaf: new TextEncoder().encode(JSON.stringify({ i, approval: null })), decisionId, jti: null };
}

/** A chooser that takes the given ways in turn (and records nothing). */
class Scripted extends LoneCommitChooser {
  private k = 0;
  private readonly ways: LonePath[];
  constructor(ways: LonePath[]) {
    super();
    this.ways = ways;
  }
  override next(): LonePath {
    return this.ways[this.k++ % this.ways.length] as LonePath;
  }
}

async function withLedger(run: (l: SqliteLedger, file: string) => Promise<void>): Promise<void> {
  const dir = tempDir('writ-lone-');
  const file = join(dir, 'ledger.db');
  const l = new SqliteLedger(openDatabase(file), { writer: 'worker', file });
  try {
    await run(l, file);
  } finally {
    await l.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The stored leaves, read through a connection of their own: what is on disk. */
function storedIndexes(file: string): number[] {
  const db = openDatabase(file);
  try {
    return (db.prepare('SELECT idx, leaf FROM ledger_entries ORDER BY idx').all() as unknown as { idx: number; leaf: Uint8Array }[]).map((r) => {
      const leaf = JSON.parse(new TextDecoder().decode(r.leaf)) as { i: number };
      assert.equal(leaf.i, Number(r.idx), `leaf ${r.idx} holds append ${leaf.i}`);
      return Number(r.idx);
    });
  } finally {
    db.close();
  }
}

describe('lone appends on the worker writer', () => {
  for (const ways of [['here'], ['worker'], ['here', 'worker'], ['worker', 'worker', 'here']] as LonePath[][]) {
    it(`one at a time, taking ${ways.join(', ')} in turn: dense indexes, each durable when it resolves`, async () => {
      await withLedger(async (l, file) => {
        l.lone = new Scripted(ways);
        for (let i = 0; i < 24; i++) {
          assert.equal(await l.append(decision(i)), i);
          // visible to an independent connection as soon as the promise resolved
          assert.deepEqual(storedIndexes(file).at(-1), i);
          assert.equal(l.size(), i + 1, 'the loop thread reads its own and the worker\'s commits');
        }
        assert.deepEqual(storedIndexes(file), Array.from({ length: 24 }, (_, i) => i));
        const expectHere = ways.includes('here') ? 24 * (ways.filter((w) => w === 'here').length / ways.length) : 0;
        assert.equal(l.batches.here, expectHere);
        assert.equal(l.batches.worker, 24 - expectHere);
      });
    });
  }

  it('appends that arrive together go to the worker as one batch, never to the loop thread', async () => {
    await withLedger(async (l, file) => {
      l.lone = new Scripted(['here']);
      const indexes = await Promise.all(Array.from({ length: 50 }, (_, i) => l.append(decision(i))));
      assert.deepEqual(indexes, Array.from({ length: 50 }, (_, i) => i), 'indexes in append order');
      assert.equal(l.batches.here, 0);
      assert.ok(l.batches.worker >= 1 && l.batches.worker < 50, `batched (${l.batches.worker} batches)`);
      assert.deepEqual(storedIndexes(file), indexes);
    });
  });

  it('the next lone append after a burst waits for the loop to be quiet, then commits alone', async () => {
    await withLedger(async (l) => {
      l.lone = new Scripted(['here']);
      const burst = Array.from({ length: 10 }, (_, i) => l.append(decision(i)));
      await Promise.all(burst);
      const lone = await l.append(decision(10));
      assert.equal(lone, 10);
      assert.equal(l.batches.here, 1);
    });
  });

  it("another connection's write lock never stalls the loop: the lone append goes to the worker, which waits for it", async () => {
    await withLedger(async (l, file) => {
      l.lone = new Scripted(['here']);
      assert.equal(await l.append(decision(0)), 0);
      assert.equal(l.batches.here, 1);
      // another process's writer (a CLI's commit, say) holds the write lock for 300 ms
      const other = openDatabase(file);
      other.exec('BEGIN IMMEDIATE');
      const release = setTimeout(() => other.exec('COMMIT'), 300);
      const started = performance.now();
      const appended = l.append(decision(1));
      // the loop is free while the lock is held: a timer set now fires long before the release
      const loopFree = await new Promise<number>((r) => setTimeout(() => r(performance.now() - started), 10));
      assert.ok(loopFree < 200, `the event loop was blocked for ${loopFree.toFixed(0)} ms`);
      assert.equal(await appended, 1);
      assert.ok(performance.now() - started >= 250, 'the append waited for the lock (on the worker)');
      clearTimeout(release);
      other.close();
      assert.equal(l.batches.busyHere, 1);
      assert.equal(l.batches.worker, 1);
      // with the lock free again, the loop's thread commits as chosen
      assert.equal(await l.append(decision(2)), 2);
      assert.equal(l.batches.here, 2);
      assert.deepEqual(storedIndexes(file), [0, 1, 2]);
    });
  });

  for (const way of ['here', 'worker'] as LonePath[]) {
    it(`a commit that fails (${way}) rejects its append, leaves no entry, and the next append takes the index`, async () => {
      await withLedger(async (l, file) => {
        l.lone = new Scripted([way]);
        const id = randomUUID();
        assert.equal(await l.append(decision(0, id)), 0);
        // the same decision id twice breaks a unique index: the COMMIT never happens
        await assert.rejects(l.append(decision(1, id)), /ledger append failed/);
        assert.equal(await l.append(decision(1)), 1);
        assert.deepEqual(storedIndexes(file), [0, 1]);
      });
    });
  }
});

describe('LoneCommitChooser', () => {
  it('starts on the worker, tries the loop thread once, then takes it only while it is clearly faster', () => {
    const c = new LoneCommitChooser(5, 1000, 0.8);
    assert.equal(c.next(), 'worker');
    c.record('worker', 0.6);
    assert.equal(c.next(), 'here');
    c.record('here', 0.55);
    assert.equal(c.next(), 'worker', 'faster, but by less than the margin');
    for (let i = 0; i < 5; i++) c.record('here', 0.3);
    assert.equal(c.next(), 'here');
    for (let i = 0; i < 5; i++) c.record('worker', 0.3);
    assert.equal(c.next(), 'worker', 'the worker caught up');
  });

  it('retries the other way every explore-th lone append', () => {
    const c = new LoneCommitChooser(5, 4);
    c.record('here', 0.3);
    c.record('worker', 0.7);
    const taken = Array.from({ length: 12 }, () => c.next());
    assert.deepEqual(taken.filter((w) => w === 'worker').length, 3);
    assert.deepEqual(taken.slice(0, 4), ['here', 'here', 'here', 'worker']);
  });

  it('uses the median of a window: one slow outlier does not flip the choice; old samples age out', () => {
    const c = new LoneCommitChooser(5, 1000);
    for (const ms of [0.4, 0.4, 50, 0.4, 0.4]) c.record('here', ms);
    c.record('worker', 0.6);
    assert.equal(c.median('here'), 0.4);
    assert.equal(c.next(), 'here');
    for (let i = 0; i < 5; i++) c.record('here', 2);
    assert.equal(c.median('here'), 2, 'the window holds the last 5');
    assert.equal(c.next(), 'worker');
  });

  it('ignores a measurement that is not a duration', () => {
    const c = new LoneCommitChooser();
    c.record('worker', Number.NaN);
    c.record('worker', -1);
    c.record('worker', Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(c.median('worker')));
    assert.equal(c.next(), 'worker');
  });
});

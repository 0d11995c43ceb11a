/**
 * Where the log keeps its witnesses' cosignatures (issue 18, point 2): beside its
 * checkpoints, in the home's SQLite (`ledger_checkpoints.cosignatures`, added on first use
 * to a home made before it) and in the fleet's PostgreSQL (`<schema>.checkpoints
 * .cosignatures`, added to an existing schema by the same DDL). A restarted log reads them
 * back (verified again with the pinned key: an edited row is dropped and the witness asked
 * again) and serves them without asking; the sequencer in process with `witnesses`
 * submits each checkpoint and serves the cosigned one, a down witness delaying nothing.
 * PostgreSQL at WRIT_TEST_PG (127.0.0.1:5432; scripts/with-test-services.ts).
 */
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { systemClock } from '../src/clock.ts';
import { openHome } from '../src/home/open.ts';
import type { EvidenceStream } from '../src/ledger/evidence-stream.ts';
import { PgLog, pgSchema } from '../src/ledger/pg-log.ts';
import { applyDdl } from '../src/ledger/pg-ddl.ts';
import { runSequencer } from '../src/ledger/sequencer.ts';
import { buildSequencerApp } from '../src/server/sequencer-app.ts';
import { generateCosignerKey, newCosigner, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { newVerifier } from '../src/tlog/note.ts';
import { LogWitnessing } from '../src/witness/log-witnessing.ts';
import { buildWitnessApp } from '../src/witness/server.ts';
import { WitnessState } from '../src/witness/state.ts';
import { Witness } from '../src/witness/witness.ts';
import { authorizeArgs, demoHome, ok, READ, scratchDir, writ } from './cli-fixture.ts';
import { scratchPgLog } from './pg-log-fixture.ts';

const dir = scratchDir('writ-witness-store-');
const WK = generateCosignerKey('witness.example/store');
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function startWitness(origin: string, logKey: string, port = 0): Promise<{ url: string; state: WitnessState; close: () => Promise<void> }> {
  const state = new WitnessState(join(dir, `w-${origin.replaceAll('/', '_')}.db`));
  const app = buildWitnessApp(new Witness({ cosigner: newCosigner(WK.signerKey), logs: [{ origin, verifierKeys: [logKey] }], state }));
  const url = await app.listen({ port, host: '127.0.0.1' });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    state.close();
  };
  closers.push(close);
  return { url, state, close };
}

/** A witness that accepts connections and never answers. */
async function blackHole(): Promise<string> {
  const s: Server = createServer(() => {});
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

const hasColumn = (h: { db: DatabaseSync }): boolean =>
  (h.db.prepare('SELECT name FROM pragma_table_info(?)').all('ledger_checkpoints') as { name: string }[]).some((c) => c.name === 'cosignatures');

describe('cosignatures in a home (SQLite)', () => {
  it('a home made before cosignatures: read as none without writing, the column added on the first one, served after a restart, an edited row dropped', async () => {
    const home = demoHome();
    for (let i = 0; i < 3; i++) ok(writ(authorizeArgs(home, READ, { path: `/srv/s${i}` })));
    const logKey = ok(writ(['keys', '--log', '--home', home])).stdout.trim();
    const origin = logKey.split('+')[0] as string;
    const verifier = newVerifier(logKey);
    const w = await startWitness(origin, logKey);

    const h = await openHome(home);
    closers.push(async () => h.close());
    assert.equal(hasColumn(h), false, 'a home as writ init makes it has no cosignatures column');
    const cp = h.log.checkpoint();
    assert.ok(cp && cp.size >= 3);
    assert.deepEqual(h.log.store.cosignaturesSync(cp.size), new Map());
    assert.equal(hasColumn(h), false, 'reading adds nothing');
    assert.doesNotMatch(h.log.proofFile(1), /witness\.example/);

    const logs: string[] = [];
    const first = new LogWitnessing([{ url: w.url, verifierKey: WK.verifierKey }], { store: h.log.store, log: (s) => logs.push(s) });
    await first.submit(cp, async () => []);
    assert.equal(hasColumn(h), true, 'added on the first cosignature');
    const stored = h.log.store.cosignaturesSync(cp.size);
    assert.deepEqual([...stored.keys()], [WK.verifierKey]);
    assert.equal(verifyCosignatures(cp.note + (stored.get(WK.verifierKey) as string), verifier, [WK.verifierKey], 1).ok, true);
    assert.equal(verifyCosignatures(h.log.proofFile(1).slice(h.log.proofFile(1).indexOf(origin)), verifier, [WK.verifierKey], 1).ok, true, 'the proof file carries it');
    // a second witness's lines merge with the first's (one statement, json_patch)
    h.log.store.saveCosignatureSync(cp.size, 'other+00000000+AAAA', '— other AAAA\n');
    assert.deepEqual([...h.log.store.cosignaturesSync(cp.size).keys()], [WK.verifierKey, 'other+00000000+AAAA']);
    assert.throws(() => h.log.store.saveCosignatureSync(cp.size + 1000, WK.verifierKey, 'x'), /no stored checkpoint of size/);

    // restarted, the witness down: served from the store, nobody asked
    await w.close();
    const restarted = new LogWitnessing([{ url: w.url, verifierKey: WK.verifierKey }], { store: h.log.store, log: (s) => logs.push(s) });
    const served = await restarted.cosignedNote(cp);
    assert.equal(verifyCosignatures(served, verifier, [WK.verifierKey], 1).ok, true);
    await restarted.submit(cp, async () => []);
    assert.equal(logs.length, 0, `no request, so no failure to log: ${logs.join('; ')}`);

    // an edited row (another checkpoint's lines, or bytes changed) does not verify: dropped, and the witness asked again
    const line = stored.get(WK.verifierKey) as string;
    const edited = line.slice(0, 40) + (line[40] === 'A' ? 'B' : 'A') + line.slice(41);
    h.log.store.saveCosignatureSync(cp.size, WK.verifierKey, edited);
    const third = new LogWitnessing([{ url: w.url, verifierKey: WK.verifierKey }], { store: h.log.store, log: (s) => logs.push(s) });
    assert.equal(await third.cosignedNote(cp), cp.note, 'not served');
    assert.match(logs.join('\n'), /stored cosignature of witness\.example\/store for size \d+ does not verify/);
    await third.submit(cp, async () => []);
    assert.match(logs.join('\n'), /no cosignature from witness\.example\/store/, 'asked again (and down)');

    // the whole-log audit is unaffected by the new column
    h.close();
    closers.pop();
    ok(writ(['audit', 'verify', '--home', home]), 'audit verify');
  });
});

describe('cosignatures in the fleet log (PostgreSQL) and the sequencer in process', { timeout: 60_000 }, () => {
  const ORIGIN = 'writ.fleet/wiring/default';
  const { pool, schema, key, verifier, signingLog: newLog } = scratchPgLog('wwire', ORIGIN, closers);
  const idle: EvidenceStream = { publish: async () => 0, connected: () => true, lastSeq: async () => 0, read: () => ({ stop() {} }) };

  it('an existing schema gets the column; the sequencer submits, stores and serves; a restart serves it without asking', async () => {
    // a schema as the DDL made it before cosignatures
    const old = pgSchema(schema).split('\n').filter((l) => !/cosignatures/.test(l)).join('\n');
    await applyDdl(pool, schema, old);
    const column = () => pool.query('SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3', [schema, 'checkpoints', 'cosignatures']);
    assert.equal((await column()).rowCount, 0);
    const plog = newLog();
    await plog.init();
    assert.equal((await column()).rowCount, 1, 'added to the existing schema');

    await plog.append(Array.from({ length: 5 }, (_, i) => ({ seq: i + 1, subject: 'e', leaf: new TextEncoder().encode(JSON.stringify({ type: 'decision', v: 1, n: i })) })));
    const w = await startWitness(ORIGIN, key.verifierKey);
    const hole = await blackHole();
    const logs: string[] = [];
    const witnesses = new LogWitnessing([{ url: w.url, verifierKey: WK.verifierKey }, { url: hole, verifierKey: generateCosignerKey('witness.example/hole').verifierKey }], { store: plog, log: (s) => logs.push(s), timeoutMs: 2_000 });
    const s = runSequencer({ stream: idle, store: plog, signer: plog.signer as NonNullable<PgLog['signer']>, clock: systemClock, log: (x) => logs.push(x), checkpointIntervalMs: 3_600_000, witnesses });
    closers.push(async () => s.stop());
    const t0 = Date.now();
    await s.checkpoint();
    assert.ok(Date.now() - t0 < 1_500, 'signing did not wait for the witness that never answers');
    const app = buildSequencerApp(plog, witnesses);
    closers.push(() => app.close());
    const get = async (url: string) => (await app.inject({ method: 'GET', url })).body;
    let note = '';
    for (const end = Date.now() + 5_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      note = await get('/v1/log/checkpoint');
      if (verifyCosignatures(note, verifier, [WK.verifierKey], 1).ok) break;
    }
    assert.equal(verifyCosignatures(note, verifier, [WK.verifierKey], 1).ok, true, note);
    assert.equal(await get('/checkpoint'), note);
    // served from memory as soon as it verifies; the row in PostgreSQL is written beside it
    let stored = await plog.cosignatures(5);
    for (const end = Date.now() + 5_000; stored.size === 0 && Date.now() < end; await new Promise((r) => setTimeout(r, 50))) stored = await plog.cosignatures(5);
    assert.deepEqual([...stored.keys()], [WK.verifierKey]);
    s.stop();

    // restarted (a new PgLog and LogWitnessing), the witness down: the stored cosignature is served
    await w.close();
    const again = newLog();
    await again.init();
    const restarted = new LogWitnessing([{ url: w.url, verifierKey: WK.verifierKey }], { store: again });
    const app2 = buildSequencerApp(again, restarted);
    closers.push(() => app2.close());
    const served = (await app2.inject({ method: 'GET', url: '/v1/log/checkpoint' })).body;
    assert.equal(served, note, 'the same cosigned note, without asking');
    // without witnesses configured, the log's own note only
    assert.equal((await buildSequencerApp(again).inject({ method: 'GET', url: '/checkpoint' })).body, (await again.latestCheckpoint())?.note);
  });
});

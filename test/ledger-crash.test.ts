/**
 * Durability under crashes (issue 3, point 2): `writ up` is SIGKILLed under concurrent
 * authorization load, many times, on the same home. After every kill the home is
 * reopened and checked:
 *   - every writ ever returned has its decision leaf at its `led` index, with its jti
 *     (and the leaf bytes never change afterwards);
 *   - the whole-log audit finds nothing wrong;
 *   - every checkpoint ever served by GET /v1/log/checkpoint verifies with the log key,
 *     is still stored, and the current tree is consistent with it;
 *   - the stored checkpoints verify and each is consistent with the next.
 * Random choices come from a seed (WRIT_TEST_SEED, or WRIT_CRASH_SEED, to reproduce), printed on failure.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { openHome, type OpenHome } from '../src/home/open.ts';
import { auditLog } from '../src/ledger/audit.ts';
import { parseCheckpoint } from '../src/tlog/checkpoint.ts';
import { verifyConsistency } from '../src/tlog/merkle.ts';
import { newVerifier, openNote, type NoteVerifier } from '../src/tlog/note.ts';
import { CallerStore } from '../src/node/callers.ts';
import { fixture, startUp } from './helpers.ts';
import { Prng, testSeed } from './prng.ts';

const ROUNDS = 15;
const LOOPS = 32;
const BUDGET_MS = 55_000;

/** what fetch reports when the server dies under it (refused, reset, body cut short) */
function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && /fetch failed|terminated/.test(err.message);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface IssuedWrit {
  jti: string;
  led: number;
  round: number;
}

interface ServedCheckpoint {
  note: string;
  size: number;
  root: Uint8Array;
  round: number;
}

function payloadOf(writ: string): { jti: string; led: number } {
  const p = JSON.parse(Buffer.from(writ.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti?: unknown; led?: unknown };
  assert.equal(typeof p.jti, 'string', 'writ has a jti');
  assert.ok(Number.isSafeInteger(p.led), 'writ has a ledger index');
  return { jti: p.jti as string, led: p.led as number };
}

const startServer = (home: string) => startUp(home, 15_000);

describe('ledger durability: SIGKILL under concurrent load', () => {
  const seed = process.env.WRIT_CRASH_SEED ? Number(process.env.WRIT_CRASH_SEED) : testSeed();
  const homes: string[] = [];
  after(() => {
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it(`every returned writ keeps its leaf and every served checkpoint stays consistent (seed ${seed})`, async (t) => {
    const r = new Prng(seed);
    const rand = () => r.float();
    const f = await fixture();
    const home = f.home;
    const verifierKey = f.config.log.verifierKey;
    const callerToken = new CallerStore(f.db).add('crash-load', { roles: ['authorize'], principals: ['Agent::"a1"'] }).token;
    f.close();
    homes.push(home);
    const verifier: NoteVerifier = newVerifier(verifierKey);

    const writs: IssuedWrit[] = [];
    const served = new Map<string, ServedCheckpoint>();
    const leafBytes = new Map<number, string>();
    let requestCounter = 0;
    let lastSize = 0;
    const started = Date.now();
    let rounds = 0;
    let afterCheckpointRounds = 0;
    let running: ChildProcess | null = null;

    try {
      for (let round = 0; round < ROUNDS && Date.now() - started < BUDGET_MS; round++) {
        rounds++;
        const { child, url, exited } = await startServer(home);
        running = child;
        let stop = false;

        const fetchCheckpoint = async (): Promise<ServedCheckpoint | null> => {
          const res = await fetch(`${url}/v1/log/checkpoint`);
          if (res.status === 404) return null;
          assert.equal(res.status, 200);
          assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
          const note = await res.text();
          // verified with the log key alone, as any client would
          const body = parseCheckpoint(openNote(note, [verifier]).text);
          const cp = { note, size: body.size, root: body.rootHash, round };
          if (!served.has(note)) served.set(note, cp);
          return cp;
        };

        const loop = async (): Promise<void> => {
          while (!stop) {
            const n = requestCounter++;
            const res = await fetch(`${url}/v1/authorize`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${callerToken}` },
              body: JSON.stringify({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: `/srv/x-${n}` } }),
            });
            const body = (await res.json()) as { decision: string; writ?: string; ledgerIndex: number | null; reasons: string[] };
            assert.equal(res.status, 200, `authorize ${n}: ${JSON.stringify(body)}`);
            assert.equal(body.decision, 'allow');
            assert.ok(body.writ);
            const p = payloadOf(body.writ);
            assert.equal(p.led, body.ledgerIndex, 'the response and the writ name the same ledger index');
            writs.push({ ...p, round });
          }
        };
        const poll = async (): Promise<void> => {
          while (!stop) {
            await fetchCheckpoint();
            await sleep(75);
          }
        };
        // The kill makes in-flight requests fail with a network error, which ends a loop;
        // any other failure (or one before the kill) fails the test.
        const failures: unknown[] = [];
        const guarded = (f: () => Promise<void>) => async () => {
          try {
            await f();
          } catch (err) {
            if (!(stop && isNetworkError(err))) failures.push(err);
          }
        };
        const load = Promise.all([...Array.from({ length: LOOPS }, () => guarded(loop)()), guarded(poll)()]);
        const before = (await fetchCheckpoint())?.size ?? 0;
        // In most rounds, wait until the server signed a checkpoint of the growing log
        // (point 3: at least one a second), so a crash lands after signed checkpoints.
        if (rand() < 0.7) {
          const deadline = Date.now() + 3000;
          let fresh = false;
          while (Date.now() < deadline) {
            const cp = await fetchCheckpoint();
            if (cp && cp.size > before) {
              fresh = true;
              break;
            }
            await sleep(25);
          }
          assert.ok(fresh, `round ${round}: no new checkpoint within 3 s while the log grew past ${before}`);
          afterCheckpointRounds++;
        }
        // Sometimes aim near the next signing (about 1 s later), so a kill can land inside a checkpoint.
        await sleep(50 + Math.floor(rand() * 350) + (rand() < 0.3 ? 600 : 0));
        stop = true;
        child.kill('SIGKILL');
        await exited;
        running = null;
        await load;
        if (failures.length > 0) throw failures[0];

        const h: OpenHome = await openHome(home);
        try {
          const size = h.log.size();
          assert.ok(size >= lastSize, `round ${round}: the log shrank from ${lastSize} to ${size}`);
          lastSize = size;

          for (const w of writs) {
            const e = h.ledger.entry(w.led);
            assert.ok(e, `round ${round}: writ ${w.jti} (returned in round ${w.round}) has no leaf at ${w.led}`);
            assert.equal(e.type, 'decision');
            const leaf = JSON.parse(new TextDecoder().decode(e.leaf)) as { writ: { jti: string } | null; result: { decision: string } };
            assert.equal(leaf.writ?.jti, w.jti, `leaf ${w.led} is the decision of writ ${w.jti}`);
            assert.equal(leaf.result.decision, 'allow');
            assert.equal(h.ledger.writ(w.jti)?.decisionIndex, w.led, `lineage index of ${w.jti}`);
            const hex = Buffer.from(e.leaf).toString('hex');
            const seen = leafBytes.get(w.led);
            if (seen === undefined) leafBytes.set(w.led, hex);
            else assert.equal(hex, seen, `leaf ${w.led} changed after a restart`);
          }

          const report = auditLog(h.db, { origin: h.log.origin, verifier });
          assert.deepEqual(report.problems, [], `round ${round}: audit problems`);
          assert.equal(report.size, size);

          const root = h.log.treeHash(size);
          const storedNotes = new Set(h.log.checkpoints().map((c) => c.note));
          for (const cp of served.values()) {
            assert.ok(cp.size <= size, `a served checkpoint of size ${cp.size} is beyond the log (${size})`);
            assert.ok(storedNotes.has(cp.note), `the checkpoint of size ${cp.size} served in round ${cp.round} is no longer stored`);
            verifyConsistency(cp.size, size, h.log.consistencyProof(cp.size, size), cp.root, root);
          }

          const stored = h.log.checkpoints();
          for (const [i, cp] of stored.entries()) {
            const body = parseCheckpoint(openNote(cp.note, [verifier]).text);
            assert.equal(body.size, cp.size);
            assert.deepEqual(body.rootHash, cp.root);
            const next = stored[i + 1];
            if (next) verifyConsistency(cp.size, next.size, h.log.consistencyProof(cp.size, next.size), cp.root, next.root);
          }
        } finally {
          h.close();
        }
      }
    } catch (err) {
      running?.kill('SIGKILL');
      process.stderr.write(`\nledger-crash: FAILED with seed ${seed} (rerun with WRIT_TEST_SEED=${seed})\n`);
      throw err;
    }

    t.diagnostic(`seed ${seed}: ${rounds} rounds (${afterCheckpointRounds} after a fresh checkpoint), ${writs.length} writs, ${served.size} checkpoints served, log size ${lastSize}, ${Date.now() - started} ms`);
    assert.ok(rounds >= 8, `only ${rounds} rounds ran in the time budget`);
    assert.ok(writs.length > 0, 'the load produced writs');
    assert.ok(served.size >= 2, 'several checkpoints were served');
  });
});

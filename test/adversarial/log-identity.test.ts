/**
 * One log identity per log (issue 10, point 3). In the fleet quick start the authority
 * home's local log and the sequencer's fleet log used to share one origin and one key, so
 * two validly signed checkpoints disagreed about the same entry: a fork by construction.
 * Here: the two logs have different origins and keys, every checkpoint served under each
 * origin is consistent with every other one under it (proofs from that log's own HTTP
 * endpoints), and a signer refuses to sign over a tree truncated or rewritten under it —
 * the embedded SQLite log and the fleet log in PostgreSQL alike.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import pg from 'pg';
import { openHome } from '../../src/home/open.ts';
import { initHome } from '../../src/home/init.ts';
import { parseCheckpoint } from '../../src/tlog/checkpoint.ts';
import { encodeLeaf, LEAF_VERSION } from '../../src/ledger/leaf.ts';
import { fleetLogOrigin, LogForkError } from '../../src/ledger/log-identity.ts';
import { storedHashIndex, verifyConsistency } from '../../src/tlog/merkle.ts';
import { decodeBase64, generateKey, newSigner, newVerifier, openNote, verifierKeyOf } from '../../src/tlog/note.ts';
import { PgLog } from '../../src/ledger/pg-log.ts';
import { commitBatch } from '../../src/ledger/sqlite-batch.ts';
import { registerLogRoutes } from '../../src/server/log-routes.ts';
import { allowedRequest, PG_URL, TestFleet, waitFor } from '../fleet-harness.ts';
import { tempDir } from '../helpers.ts';

const leaf = (i: number, tag = 'honest') => ({ type: 'key_change' as const, leaf: encodeLeaf({ type: 'key_change', v: LEAF_VERSION, time: new Date(0).toISOString(), role: 'test', i, tag }) });
const b64 = (s: string) => decodeBase64(s) as Uint8Array;

/** Every pair of checkpoints (by size) is consistent, by proofs fetched from the log's own endpoint. */
async function assertOneHistory(notes: string[], vkey: string, consistency: (from: number, to: number) => Promise<string[]>): Promise<void> {
  const cps = [...new Map(notes.map((n) => { const c = parseCheckpoint(openNote(n, [newVerifier(vkey)]).text); return [c.size, c] as const; })).values()].sort((a, b) => a.size - b.size);
  for (let i = 0; i < cps.length; i++) {
    for (let j = i + 1; j < cps.length; j++) {
      const [a, b] = [cps[i]!, cps[j]!];
      verifyConsistency(a.size, b.size, (await consistency(a.size, b.size)).map(b64), a.rootHash, b.rootHash);
    }
  }
}

describe('log identity: the quick start gives one consistent history per origin', { timeout: 120_000 }, () => {
  let f: TestFleet;
  before(async () => {
    f = await TestFleet.start({ nodes: 1, sequencer: true, authorityPg: true });
  });
  after(async () => {
    await f?.close();
  });

  it("the authority home's local log and the fleet log have different origins and keys; each origin's checkpoints agree", async () => {
    const n1 = f.node('n1');
    const seq = f.sequencer!.url;
    const fleetNotes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const d = await f.authorize(n1, allowedRequest(i));
      assert.equal(d.body.decision, 'allow', JSON.stringify(d.body));
      const note = await waitFor('a fleet checkpoint over the new decision', async () => {
        const r = await fetch(`${seq}/v1/log/checkpoint`);
        const t = r.status === 200 ? await r.text() : '';
        return t !== '' && !fleetNotes.includes(t) ? t : undefined;
      }, 15_000);
      fleetNotes.push(note);
    }
    // the authority's console serves the same fleet log
    fleetNotes.push(await (await fetch(`${f.authority.url}/v1/log/checkpoint`)).text());

    // the local log of the authority home, signed and served as `writ up` would
    await f.cliOk(['audit', 'prove', '2', '--home', f.authHome, '--out', join(f.dir, 'local.proof')]);
    const h = await openHome(f.authHome);
    const app = Fastify();
    registerLogRoutes(app, { log: h.log, ledger: h.ledger });
    try {
      const localNotes = [(await app.inject('/v1/log/checkpoint')).body];
      commitBatch(h.db, [leaf(0)]);
      h.log.checkpoint();
      localNotes.push((await app.inject('/v1/log/checkpoint')).body);

      const localKey = (await f.cliOk(['keys', '--log', '--home', f.authHome])).stdout.trim();
      const fleetKey = (await f.cliOk(['fleet', 'keys', '--log', '--home', f.authHome, '--fleet', f.name])).stdout.trim();
      const [localV, fleetV] = [newVerifier(localKey), newVerifier(fleetKey)];
      assert.equal(fleetV.name, fleetLogOrigin(f.name, 'default'));
      assert.notEqual(localV.name, fleetV.name, 'two logs under one origin');
      assert.notEqual(localV.keyId, fleetV.keyId);
      for (const n of fleetNotes) {
        assert.equal(parseCheckpoint(openNote(n, [fleetV]).text).origin, fleetV.name);
        assert.throws(() => openNote(n, [localV]), 'a fleet checkpoint verifies under the local log key');
      }
      for (const n of localNotes) {
        assert.equal(parseCheckpoint(openNote(n, [localV]).text).origin, localV.name);
        assert.throws(() => openNote(n, [fleetV]), 'a local checkpoint verifies under the fleet log key');
      }
      await assertOneHistory(fleetNotes, fleetKey, async (from, to) => ((await (await fetch(`${seq}/v1/log/proof/consistency?from=${from}&to=${to}`)).json()) as { proof: string[] }).proof);
      await assertOneHistory(localNotes, localKey, async (from, to) => (JSON.parse((await app.inject(`/v1/log/proof/consistency?from=${from}&to=${to}`)).body) as { proof: string[] }).proof);
    } finally {
      await app.close();
      h.close();
    }
  });

  it('a second sequencer identity (another key) is refused on the same fleet log', async () => {
    const other = generateKey(fleetLogOrigin(f.name, 'default'));
    const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
    try {
      const plog = new PgLog(pool, { schema: f.name, origin: fleetLogOrigin(f.name, 'default'), verifier: newVerifier(other.verifierKey), verifierKey: other.verifierKey, signer: newSigner(other.signerKey) });
      await assert.rejects(plog.init(), LogForkError);
    } finally {
      await pool.end();
    }
  });
});

describe('a signer never signs a checkpoint inconsistent with one it signed before', () => {
  it("the fleet log key's published verifier key is derived from the signer key (also when its base64 holds '+')", () => {
    for (let i = 0; i < 64; i++) {
      const k = generateKey('writ.fleet/t/default');
      assert.equal(verifierKeyOf(k.signerKey), k.verifierKey);
    }
  });

  it('embedded log (SQLite): a truncated or rewritten tree is refused, an honest extension signed', async () => {
    const home = tempDir('writ-logid-');
    await initHome({ home });
    const h = await openHome(home);
    try {
      const count = () => h.log.checkpoints().length;
      assert.equal(h.log.checkpoint()?.size, 3);
      commitBatch(h.db, [leaf(3)]);
      assert.equal(h.log.checkpoint()?.size, 4); // honest growth
      assert.equal(h.log.checkpoint()?.size, 4); // nothing new: the same checkpoint
      // truncated: the last entry and its stored hashes deleted
      h.db.prepare('DELETE FROM ledger_entries WHERE idx = 3').run();
      h.db.prepare('DELETE FROM ledger_hashes WHERE id >= ?').run(storedHashIndex(0, 3));
      assert.throws(() => h.log.checkpoint(), LogForkError);
      // rewritten at the same size
      commitBatch(h.db, [leaf(3, 'forged')]);
      assert.throws(() => h.log.checkpoint(), /rewritten/);
      // rewritten, then grown
      commitBatch(h.db, [leaf(4)]);
      assert.throws(() => h.log.checkpoint(), /not consistent/);
      assert.equal(count(), 2, 'nothing was signed over the forged tree');
    } finally {
      h.close();
    }
  });

  it('fleet log (PostgreSQL): a truncated or rewritten tree is refused; a log of another identity is not signed over', async () => {
    const schema = `t_${randomBytes(5).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const origin = fleetLogOrigin(schema, 'default');
    const mk = (k = generateKey(origin)) => new PgLog(pool, { schema, origin, verifier: newVerifier(k.verifierKey), verifierKey: k.verifierKey, signer: newSigner(k.signerKey) });
    const msgs = (from: number, to: number, tag = 'honest') => Array.from({ length: to - from }, (_, i) => ({ seq: from + i + 1, subject: 'x.evidence.default.n1', leaf: leaf(from + i, tag).leaf }));
    try {
      const key = generateKey(origin);
      const plog = mk(key);
      await plog.init();
      await plog.append(msgs(0, 5));
      assert.equal((await plog.checkpoint())?.size, 5);
      await plog.append(msgs(5, 7));
      assert.equal((await plog.checkpoint())?.size, 7);
      await pool.query(`DELETE FROM ${schema}.entries WHERE idx >= 5`);
      await pool.query(`DELETE FROM ${schema}.hashes WHERE id >= $1`, [storedHashIndex(0, 5)]);
      await assert.rejects(plog.checkpoint(), /truncated/);
      await plog.append(msgs(5, 7, 'forged'));
      await assert.rejects(plog.checkpoint(), /rewritten/);
      await plog.append(msgs(7, 8));
      await assert.rejects(plog.checkpoint(), /not consistent/);
      assert.equal((await plog.checkpoints(10)).length, 2, 'nothing was signed over the forged tree');
      // a restarted signer with the same key is the same identity; another key is refused
      await mk(key).init();
      await assert.rejects(mk().init(), LogForkError);
      // a log whose checkpoints were signed under another identity (before log identities)
      await pool.query(`DELETE FROM ${schema}.log_identity`);
      await assert.rejects(mk().init(), /another log identity/);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await pool.end();
    }
  });
});

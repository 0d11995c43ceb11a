/**
 * The fleet's ledger of record in PostgreSQL (via `pg`), written only by the sequencer:
 * entries in stream order, the RFC 6962 tree as stored hashes (Go tlog layout), the
 * lineage index and signed checkpoints — the same shapes as the embedded SQLite log.
 * The merkle functions read hashes synchronously; here every read is prefetched: a
 * function is first run against a recording reader that reports which stored hashes
 * it needs, those are fetched in one query, and it is run again.
 */
import type { Pool, PoolClient } from 'pg';
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { formatCheckpoint, parseCheckpoint } from '../tlog/checkpoint.ts';
import { proveRecord, proveTree, storedHashes, storedHashIndex, treeHash, type HashReader } from '../tlog/merkle.ts';
import { assertExtends, LogForkError } from './log-identity.ts';
import { openNote, signNote, type NoteSigner, type NoteVerifier } from '../tlog/note.ts';
import { applyDdl } from './pg-ddl.ts';
import { decisionKeys, leafObject } from './leaf.ts';
import { canonicalUidText } from '../canonical/uid.ts';
import { WritError } from '../writ/errors.ts';

export function pgSchema(schema: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${schema}.entries (idx BIGINT PRIMARY KEY, type TEXT NOT NULL, leaf BYTEA NOT NULL, jti TEXT, decision_id TEXT, subject TEXT NOT NULL);
-- what the console's lineage search looks decisions up by (decisionKeys of the leaf)
ALTER TABLE ${schema}.entries ADD COLUMN IF NOT EXISTS principal TEXT, ADD COLUMN IF NOT EXISTS parent TEXT, ADD COLUMN IF NOT EXISTS session TEXT;
CREATE INDEX IF NOT EXISTS entries_principal ON ${schema}.entries(principal, idx) WHERE principal IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_parent ON ${schema}.entries(parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_session ON ${schema}.entries(session, idx) WHERE session IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_jti ON ${schema}.entries(jti) WHERE jti IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${schema}.hashes (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS ${schema}.writs (jti TEXT PRIMARY KEY, decision_idx BIGINT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL, parent TEXT, root TEXT NOT NULL, depth INT NOT NULL, exp BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS writs_parent ON ${schema}.writs(parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS writs_root ON ${schema}.writs(root);
CREATE TABLE IF NOT EXISTS ${schema}.checkpoints (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL, created TIMESTAMPTZ NOT NULL DEFAULT now());
-- the one identity this log signs under (origin and signed-note verifier key), fixed by its first signer
CREATE TABLE IF NOT EXISTS ${schema}.log_identity (one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one), origin TEXT NOT NULL, verifier_key TEXT NOT NULL);
`;
}

/**
 * PostgreSQL TEXT cannot hold U+0000, and one refused row would stop the sequencer on the
 * same message forever. The leaf itself is stored as bytes; the text columns derived from
 * it carry U+FFFD where it had NUL.
 */
export const pgText = (s: string): string => s.replaceAll('\u0000', '\uFFFD');
const pgTextOrNull = (s: string | null): string | null => (s === null ? null : pgText(s));

class NeedHashes extends WritError {
  readonly indexes: number[];
  constructor(indexes: number[]) {
    super('need_hashes', 'prefetch');
    this.indexes = indexes;
  }
}

export interface EvidenceMessage {
  seq: number;
  subject: string;
  leaf: Uint8Array;
}

export class PgLog {
  readonly schema: string;
  private readonly pool: Pool;
  readonly origin: string;
  private readonly verifier: NoteVerifier;
  private readonly signer: NoteSigner | null;

  /** the verifier key string, recorded in log_identity by the signer */
  private readonly verifierKey: string;

  constructor(pool: Pool, o: { schema: string; origin: string; verifier: NoteVerifier; verifierKey?: string; signer?: NoteSigner }) {
    if (!/^[a-z][a-z0-9_]{0,40}$/.test(o.schema)) throw new Error(`invalid schema name ${o.schema}`);
    this.pool = pool;
    this.schema = o.schema;
    this.origin = o.origin;
    this.verifier = o.verifier;
    this.signer = o.signer ?? null;
    this.verifierKey = o.verifierKey ?? '';
    if (o.verifier.name !== o.origin) throw new LogForkError(`log key name ${o.verifier.name} is not the origin ${o.origin}`);
    if (this.signer && (this.signer.name !== o.origin || this.signer.keyId !== o.verifier.keyId || this.verifierKey === '')) throw new LogForkError('the signer key, the verifier key and the origin of the fleet log disagree');
  }

  async init(): Promise<void> {
    await applyDdl(this.pool, this.schema, pgSchema(this.schema));
    if (this.signer) await this.claimIdentity();
  }

  /**
   * A signer claims the log's identity once: the first one records its origin and verifier
   * key; any later signer with another origin or key (another home, a replaced key) is
   * refused, as is a log whose newest checkpoint does not verify under this identity (one
   * signed before log identities, under a node's origin). Fail closed: nothing is signed.
   */
  private async claimIdentity(): Promise<void> {
    await this.pool.query(`INSERT INTO ${this.schema}.log_identity (origin, verifier_key) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [this.origin, this.verifierKey]);
    const r = await this.pool.query<{ origin: string; verifier_key: string }>(`SELECT origin, verifier_key FROM ${this.schema}.log_identity`);
    const id = r.rows[0];
    if (!id || id.origin !== this.origin || id.verifier_key !== this.verifierKey) {
      throw new LogForkError(`the fleet log in schema ${this.schema} is signed as ${id?.verifier_key ?? '(none)'}, not ${this.verifierKey}: refusing to sign under a second identity`);
    }
    const last = await this.latestCheckpoint();
    if (last) {
      try {
        openNote(last.note, [this.verifier]);
      } catch (err) {
        throw new LogForkError(`the newest checkpoint in schema ${this.schema} (size ${last.size}) was not signed by ${this.verifierKey} (${(err as Error).message}): it belongs to another log identity; use a new fleet (--fleet) for this one`);
      }
    }
  }

  async size(db: Pool | PoolClient = this.pool): Promise<number> {
    const r = await db.query<{ n: string }>(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${this.schema}.entries`);
    return Number(r.rows[0]?.n ?? 0);
  }

  private async fetch(db: Pool | PoolClient, indexes: number[], into: Map<number, Uint8Array>): Promise<void> {
    const missing = indexes.filter((i) => !into.has(i));
    if (missing.length === 0) return;
    const r = await db.query<{ id: string; hash: Buffer }>(`SELECT id, hash FROM ${this.schema}.hashes WHERE id = ANY($1::bigint[])`, [missing]);
    for (const row of r.rows) into.set(Number(row.id), new Uint8Array(row.hash));
    for (const i of missing) if (!into.has(i)) throw new Error(`ledger: stored hash ${i} is missing`);
  }

  /** Runs a merkle function with every hash it reads prefetched from PostgreSQL. */
  async withHashes<T>(f: (reader: HashReader) => T, db: Pool | PoolClient = this.pool, known = new Map<number, Uint8Array>()): Promise<T> {
    for (let round = 0; round < 4; round++) {
      try {
        return f((indexes) => {
          const missing = indexes.filter((i) => !known.has(i));
          if (missing.length > 0) throw new NeedHashes(missing);
          return indexes.map((i) => known.get(i) as Uint8Array);
        });
      } catch (err) {
        if (!(err instanceof NeedHashes)) throw err;
        await this.fetch(db, err.indexes, known);
      }
    }
    throw new Error('ledger: hash prefetch did not converge');
  }

  /**
   * Appends stream messages in order, in one transaction. A message at or below the
   * current size was applied before (a redelivery) and is skipped; one beyond it is a
   * gap and is refused — the stream is the order, nothing may be skipped.
   */
  async append(messages: EvidenceMessage[]): Promise<number> {
    return this.transaction(async (client) => {
      await client.query(`LOCK TABLE ${this.schema}.entries IN EXCLUSIVE MODE`);
      let next = await this.size(client);
      const known = new Map<number, Uint8Array>();
      for (const m of messages.sort((a, b) => a.seq - b.seq)) {
        const idx = m.seq - 1;
        if (idx < next) continue;
        if (idx > next) throw new Error(`evidence stream gap: expected sequence ${next + 1}, got ${m.seq}`);
        // whatever was published is recorded; bytes that are not a JSON object are indexed as nothing
        const leaf = leafObject(m.leaf);
        const keys = leaf.type === 'decision' ? decisionKeys(leaf) : { principal: null, parent: null, session: null };
        const writ = leaf.type === 'decision' && leaf.writ && typeof leaf.writ === 'object' ? (leaf.writ as { jti: string; exp: number; lin: { parent: string | null; root: string; depth: number } }) : null;
        const request = (leaf.request ?? {}) as { principal?: string; action?: string; resource?: string };
        const jti = writ?.jti ?? (typeof leaf.jti === 'string' ? leaf.jti : null);
        await client.query(`INSERT INTO ${this.schema}.entries (idx, type, leaf, jti, decision_id, subject, principal, parent, session) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
          idx,
          pgText(String(leaf.type)),
          Buffer.from(m.leaf),
          pgTextOrNull(jti),
          pgTextOrNull(typeof leaf.id === 'string' && leaf.type === 'decision' ? leaf.id : null),
          pgText(m.subject),
          pgTextOrNull(keys.principal),
          pgTextOrNull(keys.parent),
          pgTextOrNull(keys.session),
        ]);
        const hashes = await this.withHashes((reader) => storedHashes(idx, m.leaf, reader), client, known);
        const base = storedHashIndex(0, idx);
        for (const [k, h] of hashes.entries()) {
          known.set(base + k, h);
          await client.query(`INSERT INTO ${this.schema}.hashes (id, hash) VALUES ($1, $2)`, [base + k, Buffer.from(h)]);
        }
        if (writ) {
          await client.query(`INSERT INTO ${this.schema}.writs (jti, decision_idx, principal, action, resource, parent, root, depth, exp) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING`, [
            pgText(String(writ.jti)), idx, pgText(canonicalUidText(String(request.principal ?? ''))), pgText(canonicalUidText(String(request.action ?? ''))), pgText(canonicalUidText(String(request.resource ?? ''))),
            pgTextOrNull(writ.lin.parent), pgText(String(writ.lin.root)), writ.lin.depth, writ.exp,
          ]);
        }
        next++;
      }
      return next;
    });
  }

  /**
   * One transaction on a checked-out connection. If PostgreSQL drops the connection
   * meanwhile, the pending query fails (and the caller retries); the connection's own
   * 'error' event must not escape as an unhandled error that ends the process.
   */
  private async transaction<T>(f: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const onError = () => undefined;
    client.on('error', onError);
    let failed: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await f(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      failed = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(failed); // a failed connection is discarded, not reused
    }
  }

  async latestCheckpoint(db: Pool | PoolClient = this.pool): Promise<{ size: number; root: Uint8Array; note: string } | null> {
    const r = await db.query<{ size: string; root: Buffer; note: string }>(`SELECT size, root, note FROM ${this.schema}.checkpoints ORDER BY size DESC LIMIT 1`);
    const row = r.rows[0];
    return row ? { size: Number(row.size), root: new Uint8Array(row.root), note: row.note } : null;
  }

  /** Signs a checkpoint of the current tree if it grew, proven consistent with the last signed one first. */
  async checkpoint(): Promise<{ size: number; note: string } | null> {
    const signer = this.signer;
    if (!signer) throw new Error('no log signing key');
    return this.transaction(async (client) => {
      await client.query(`LOCK TABLE ${this.schema}.checkpoints IN EXCLUSIVE MODE`);
      const last = await this.latestCheckpoint(client);
      const size = await this.size(client);
      if (size === 0 && !last) return null;
      const root = await this.withHashes((r) => treeHash(size, r), client);
      // The newest checkpoint signed under this origin (the identity row pins the key):
      // the tree must extend it, or nothing is signed (a truncated or rewritten tree throws).
      if (last) {
        const from = parseCheckpoint(openNote(last.note, [this.verifier]).text).size;
        const proof = size > from ? await this.withHashes((r) => proveTree(size, from, r), client) : [];
        assertExtends(last.note, this.verifier, this.origin, size, root, () => proof);
        if (size === from) return last;
      }
      const note = signNote(formatCheckpoint({ origin: this.origin, size, rootHash: root }), [signer]);
      await client.query(`INSERT INTO ${this.schema}.checkpoints (size, root, note) VALUES ($1, $2, $3)`, [size, Buffer.from(root), note]);
      return { size, note };
    });
  }

  async entry(index: number): Promise<Uint8Array | null> {
    const r = await this.pool.query<{ leaf: Buffer }>(`SELECT leaf FROM ${this.schema}.entries WHERE idx = $1`, [index]);
    return r.rows[0] ? new Uint8Array(r.rows[0].leaf) : null;
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return this.withHashes((r) => proveRecord(size, index, r));
  }

  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    return this.withHashes((r) => proveTree(to, from, r));
  }

  async treeHash(size: number): Promise<Uint8Array> {
    return this.withHashes((r) => treeHash(size, r));
  }

  /** Up to `limit` entries from index `from`, in order. */
  async entries(from: number, limit: number): Promise<{ index: number; type: string; leaf: Uint8Array }[]> {
    const r = await this.pool.query<{ idx: string; type: string; leaf: Buffer }>(`SELECT idx, type, leaf FROM ${this.schema}.entries WHERE idx >= $1 ORDER BY idx LIMIT $2`, [from, limit]);
    return r.rows.map((row) => ({ index: Number(row.idx), type: row.type, leaf: new Uint8Array(row.leaf) }));
  }

  /** The newest `limit` signed checkpoints, newest first. */
  async checkpoints(limit: number): Promise<{ size: number; created: string; note: string }[]> {
    const r = await this.pool.query<{ size: string; created: Date; note: string }>(`SELECT size, created, note FROM ${this.schema}.checkpoints ORDER BY size DESC LIMIT $1`, [limit]);
    return r.rows.map((row) => ({ size: Number(row.size), created: row.created.toISOString(), note: row.note }));
  }
}

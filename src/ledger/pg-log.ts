/**
 * The fleet's ledger of record in PostgreSQL (via `pg`), written only by the sequencer:
 * entries in stream order, the RFC 6962 tree as stored hashes (Go tlog layout), the
 * lineage index and signed checkpoints — the same shapes as the embedded SQLite log.
 * `PgLog` is the PostgreSQL adapter of the log store (log-store.ts): the sequencer signs
 * its checkpoints with the one checkpoint signer (checkpoint-signer.ts) and serves it with
 * the one set of log routes (server/log-routes.ts), C2SP tiles included.
 * The merkle functions read hashes synchronously; here every read is prefetched: a
 * function is first run against a recording reader that reports which stored hashes
 * it needs, those are fetched in one query, and it is run again.
 * The witnesses' cosignatures are kept beside each checkpoint (`cosignatures`, JSONB).
 */
import type { Pool, PoolClient } from 'pg';
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { storedHashes, storedHashIndex, type HashReader } from '../tlog/merkle.ts';
import { CheckpointSigner, type CosignatureStore } from './checkpoint-signer.ts';
import { LogForkError } from './log-identity.ts';
import { logReads, type CheckpointState, type CheckpointStep, type LogEntry, type LogStore, type StoredCheckpoint } from './log-store.ts';
import { openNote, type NoteSigner, type NoteVerifier } from '../tlog/note.ts';
import { applyDdl } from './pg-ddl.ts';
import { decisionKeys, leafObject } from './leaf.ts';
import { canonicalUidText } from '../canonical/uid.ts';
import { WritError } from '../writ/errors.ts';
import { nextInOrder, type EvidenceMessage } from './evidence-stream.ts';
import { systemClock } from '../clock.ts';

export type { EvidenceMessage } from './evidence-stream.ts';

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
-- the witnesses' cosignatures of each checkpoint (witness verifier key → its lines; CosignatureStore, docs/witness.md)
ALTER TABLE ${schema}.checkpoints ADD COLUMN IF NOT EXISTS cosignatures JSONB;
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

export class PgLog implements LogStore, CosignatureStore {
  readonly schema: string;
  private readonly pool: Pool;
  readonly origin: string;
  private readonly verifier: NoteVerifier;
  /** the one checkpoint signer, with this log's identity (null: read-only) */
  readonly signer: CheckpointSigner | null;

  /** the verifier key string, recorded in log_identity by the signer */
  private readonly verifierKey: string;

  constructor(pool: Pool, o: { schema: string; origin: string; verifier: NoteVerifier; verifierKey?: string; signer?: NoteSigner }) {
    if (!/^[a-z][a-z0-9_]{0,40}$/.test(o.schema)) throw new Error(`invalid schema name ${o.schema}`);
    this.pool = pool;
    this.schema = o.schema;
    this.origin = o.origin;
    this.verifier = o.verifier;
    this.verifierKey = o.verifierKey ?? '';
    if (o.verifier.name !== o.origin) throw new LogForkError(`log key name ${o.verifier.name} is not the origin ${o.origin}`);
    if (o.signer && this.verifierKey === '') throw new LogForkError('the fleet log needs its verifier key to sign (it is recorded as the log identity)');
    this.signer = o.signer ? new CheckpointSigner({ origin: o.origin, verifier: o.verifier, signer: o.signer }) : null;
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

  /** Appends stream messages in order (nextInOrder: redeliveries skipped, a gap refused), in one transaction. */
  async append(messages: EvidenceMessage[]): Promise<number> {
    return this.transaction(async (client) => {
      await client.query(`LOCK TABLE ${this.schema}.entries IN EXCLUSIVE MODE`);
      let next = await this.size(client);
      const known = new Map<number, Uint8Array>();
      for (const m of nextInOrder(messages, next)) {
        const idx = m.seq - 1;
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

  async latestCheckpoint(db: Pool | PoolClient = this.pool): Promise<StoredCheckpoint | null> {
    const r = await db.query<{ size: string; root: Buffer; note: string; created: Date }>(`SELECT size, root, note, created FROM ${this.schema}.checkpoints ORDER BY size DESC LIMIT 1`);
    const row = r.rows[0];
    return row ? { size: Number(row.size), root: new Uint8Array(row.root), note: row.note, created: row.created.toISOString() } : null;
  }

  /**
   * The checkpoint transaction: the checkpoints table locked, `step` run over the newest
   * checkpoint, the size and the stored hashes (prefetched, `step` rerun until it needs no
   * more), and what it returns stored before COMMIT.
   */
  async checkpointWith(step: (s: CheckpointState) => CheckpointStep, now = new Date(systemClock.now())): Promise<StoredCheckpoint | null> {
    return this.transaction(async (client) => {
      await client.query(`LOCK TABLE ${this.schema}.checkpoints IN EXCLUSIVE MODE`);
      const last = await this.latestCheckpoint(client);
      const size = await this.size(client);
      const out = await this.withHashes((hashes) => step({ last, size, hashes }), client);
      if (!out) return null;
      if ('keep' in out) return out.keep;
      const cp = { ...out.store, created: now.toISOString() };
      await client.query(`INSERT INTO ${this.schema}.checkpoints (size, root, note, created) VALUES ($1, $2, $3, $4)`, [cp.size, Buffer.from(cp.root), cp.note, now]);
      return cp;
    });
  }

  /** Signs a checkpoint of the current tree if it grew (the one signer: proven consistent with the last signed one first). */
  async checkpoint(now = new Date(systemClock.now())): Promise<StoredCheckpoint | null> {
    if (!this.signer) throw new Error('no log signing key');
    return this.signer.sign(this, now);
  }

  async entry(index: number): Promise<Uint8Array | null> {
    const r = await this.pool.query<{ leaf: Buffer }>(`SELECT leaf FROM ${this.schema}.entries WHERE idx = $1`, [index]);
    return r.rows[0] ? new Uint8Array(r.rows[0].leaf) : null;
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return (await logReads.inclusion(this, index, size)).proof;
  }

  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    return logReads.consistency(this, from, to);
  }

  async treeHash(size: number): Promise<Uint8Array> {
    return logReads.treeHash(this, size);
  }

  /** Up to `limit` entries from index `from`, in order. */
  async entries(from: number, limit: number): Promise<LogEntry[]> {
    const r = await this.pool.query<{ idx: string; type: string; leaf: Buffer }>(`SELECT idx, type, leaf FROM ${this.schema}.entries WHERE idx >= $1 ORDER BY idx LIMIT $2`, [from, limit]);
    return r.rows.map((row) => ({ index: Number(row.idx), type: row.type, leaf: new Uint8Array(row.leaf) }));
  }

  /** Records a witness's cosignature lines for the checkpoint of `size` (one statement: concurrent witnesses merge). */
  async saveCosignature(size: number, witnessKey: string, lines: string): Promise<void> {
    const r = await this.pool.query(`UPDATE ${this.schema}.checkpoints SET cosignatures = COALESCE(cosignatures, '{}'::jsonb) || jsonb_build_object($2::text, $3::text) WHERE size = $1`, [size, pgText(witnessKey), pgText(lines)]);
    if (r.rowCount !== 1) throw new Error(`ledger: no stored checkpoint of size ${size} to cosign`);
  }

  async cosignatures(size: number): Promise<Map<string, string>> {
    const r = await this.pool.query<{ cosignatures: Record<string, unknown> | null }>(`SELECT cosignatures FROM ${this.schema}.checkpoints WHERE size = $1`, [size]);
    const o = r.rows[0]?.cosignatures;
    if (!o || typeof o !== 'object' || Array.isArray(o)) return new Map();
    return new Map(Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }

  /** The newest `limit` signed checkpoints, newest first. */
  async checkpoints(limit: number): Promise<StoredCheckpoint[]> {
    const r = await this.pool.query<{ size: string; root: Buffer; created: Date; note: string }>(`SELECT size, root, created, note FROM ${this.schema}.checkpoints ORDER BY size DESC LIMIT $1`, [limit]);
    return r.rows.map((row) => ({ size: Number(row.size), root: new Uint8Array(row.root), created: row.created.toISOString(), note: row.note }));
  }
}

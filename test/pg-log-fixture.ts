/**
 * A fleet log (PgLog) in a throwaway PostgreSQL schema for the witness tests: the pool, the
 * schema (dropped when `closers` run), the log's key and verifier, and a signing PgLog over it.
 * PostgreSQL at WRIT_TEST_PG (scripts/with-test-services.ts).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PgLog } from '../src/ledger/pg-log.ts';
import { generateKey, newSigner, newVerifier, type NoteVerifier } from '../src/tlog/note.ts';
import { PG_URL } from './test-service-urls.ts';

export interface ScratchPgLog {
  pool: pg.Pool;
  schema: string;
  key: ReturnType<typeof generateKey>;
  verifier: NoteVerifier;
  /** a PgLog that signs checkpoints, as the sequencer's */
  signingLog: () => PgLog;
}

export function scratchPgLog(prefix: string, origin: string, closers: (() => Promise<unknown>)[]): ScratchPgLog {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  closers.push(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });
  const key = generateKey(origin);
  const verifier = newVerifier(key.verifierKey);
  const signingLog = () => new PgLog(pool, { schema, origin, verifier, verifierKey: key.verifierKey, signer: newSigner(key.signerKey) });
  return { pool, schema, key, verifier, signingLog };
}

/**
 * Schema set-up for PostgreSQL that several processes may run at once. `CREATE … IF NOT
 * EXISTS` is not race-safe in PostgreSQL: two sessions creating the same schema can both
 * see it missing and one fails on pg_namespace's unique index. So starters take turns on a
 * session-level advisory lock named after the schema, and each runs the DDL in a
 * transaction begun *after* it holds the lock: a transaction's start is where a backend
 * takes in catalog changes committed by others (a lock taken inside the transaction would
 * leave it looking at a catalog from before the wait, and it would still collide).
 *
 * A DDL text that was applied once is not run again: its digest is kept in
 * `<schema>.writ_ddl`. Running it again is not harmless — `ALTER TABLE … ADD COLUMN IF NOT
 * EXISTS` and `CREATE INDEX IF NOT EXISTS` take their table locks before they find there is
 * nothing to do, so a process starting while another already writes (an authority beside a
 * running sequencer) could deadlock with it ("deadlock detected", seen under load).
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

async function applied(client: PoolClient, schema: string, digest: string): Promise<boolean> {
  const t = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`${schema}.writ_ddl`]);
  if (t.rows[0]?.t == null) return false;
  return ((await client.query(`SELECT 1 FROM ${schema}.writ_ddl WHERE digest = $1`, [digest])).rowCount ?? 0) > 0;
}

export async function applyDdl(pool: Pool, schema: string, ddl: string): Promise<void> {
  const digest = createHash('sha256').update(ddl).digest('hex');
  const client = await pool.connect();
  const key = `writ-ddl:${schema}`;
  let broken = false;
  try {
    if (await applied(client, schema, digest)) return;
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
    try {
      await client.query('BEGIN');
      if (!(await applied(client, schema, digest))) {
        await client.query(ddl);
        await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.writ_ddl (digest TEXT PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())`);
        await client.query(`INSERT INTO ${schema}.writ_ddl (digest) VALUES ($1) ON CONFLICT DO NOTHING`, [digest]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch(() => (broken = true));
    }
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    client.release(broken); // a session that may still hold the lock is closed, which frees it
  }
}

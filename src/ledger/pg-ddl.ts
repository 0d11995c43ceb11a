/**
 * Schema set-up for PostgreSQL that several processes may run at once. `CREATE … IF NOT
 * EXISTS` is not race-safe in PostgreSQL: two sessions creating the same schema can both
 * see it missing and one fails on pg_namespace's unique index. So starters take turns on a
 * session-level advisory lock named after the schema, and each runs the DDL in a
 * transaction begun *after* it holds the lock: a transaction's start is where a backend
 * takes in catalog changes committed by others (a lock taken inside the transaction would
 * leave it looking at a catalog from before the wait, and it would still collide).
 */
import type { Pool } from 'pg';

export async function applyDdl(pool: Pool, schema: string, ddl: string): Promise<void> {
  const client = await pool.connect();
  const key = `writ-ddl:${schema}`;
  let broken = false;
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
    try {
      await client.query('BEGIN');
      await client.query(ddl);
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

/**
 * Schema set-up for PostgreSQL that several processes may run at once. `CREATE … IF NOT
 * EXISTS` is not race-safe in PostgreSQL: two sessions creating the same schema can both
 * see it missing and one fails on pg_namespace's unique index. The DDL therefore runs in
 * one transaction holding an advisory lock named after the schema, so concurrent starters
 * (authority, sequencer, tests) take turns and the later ones find everything in place.
 */
import type { Pool } from 'pg';

export async function applyDdl(pool: Pool, schema: string, ddl: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`writ-ddl:${schema}`]);
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

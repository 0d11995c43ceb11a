import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';
import { applyDdl } from '../src/ledger/pg-ddl.ts';
import { pgSchema } from '../src/ledger/pg-log.ts';
import { PG_URL } from './fleet-harness.ts';

// The authority and the sequencer of one fleet create the same schema when they start;
// CI once failed with `duplicate key value violates unique constraint
// "pg_namespace_nspname_index"` when both did it at the same moment.
const pool = new pg.Pool({ connectionString: PG_URL, max: 24 });
const schema = `ddl_race_${randomBytes(4).toString('hex')}`;
after(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

test('many processes creating one fleet schema at once all succeed, and the tables exist once', async () => {
  for (let round = 0; round < 20; round++) {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    const starters = Array.from({ length: 16 }, () => applyDdl(pool, schema, pgSchema(schema)));
    const results = await Promise.allSettled(starters);
    const failures = results.filter((r) => r.status === 'rejected');
    assert.deepEqual(failures, [], `round ${round}`);
  }
  const tables = await pool.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema]);
  assert.deepEqual(tables.rows.map((r) => r.table_name), ['checkpoints', 'entries', 'hashes', 'log_identity', 'writ_ddl', 'writs']);
});

test('a failing DDL rolls back and leaves nothing half-made', async () => {
  const other = `${schema}_bad`;
  await assert.rejects(applyDdl(pool, other, `CREATE SCHEMA ${other}; CREATE TABLE ${other}.t (x INT); SELECT no_such_function()`), /no_such_function/);
  const r = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [other]);
  assert.equal(r.rowCount, 0);
});

test('a schema already made is not altered again: a starter beside a writer neither waits for its locks nor deadlocks with it', async () => {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await applyDdl(pool, schema, pgSchema(schema));
  // a running writer: a transaction holding row-exclusive locks on the log's tables, as the sequencer's appends do
  const writer = await pool.connect();
  try {
    await writer.query('BEGIN');
    await writer.query(`LOCK TABLE ${schema}.entries, ${schema}.checkpoints IN ROW EXCLUSIVE MODE`);
    // ALTER TABLE … ADD COLUMN IF NOT EXISTS would wait here for the writer (an ACCESS EXCLUSIVE lock)
    const started = Date.now();
    await Promise.race([
      applyDdl(pool, schema, pgSchema(schema)),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the starter waited for the writer’s locks')), 3_000)),
    ]);
    assert.ok(Date.now() - started < 3_000);
    await writer.query('COMMIT');
  } finally {
    writer.release();
  }
  // a changed DDL (a newer version adding a column) is applied, once
  const newer = `${pgSchema(schema)}\nALTER TABLE ${schema}.checkpoints ADD COLUMN IF NOT EXISTS extra TEXT;`;
  await applyDdl(pool, schema, newer);
  const col = await pool.query('SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3', [schema, 'checkpoints', 'extra']);
  assert.equal(col.rowCount, 1);
  const digests = await pool.query(`SELECT digest FROM ${schema}.writ_ddl`);
  assert.equal(digests.rowCount, 2, 'each DDL text recorded once');
});

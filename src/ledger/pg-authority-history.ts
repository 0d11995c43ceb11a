/**
 * The authority's record of every bundle it named current, per domain, in PostgreSQL
 * (schema = the fleet's name, beside the fleet ledger): its anti-rollback floor across
 * restarts — it never names a bundle older than one it named before, even if a bundle
 * channel is rolled back — and the history its console shows.
 */
import pg from 'pg';
import { applyDdl } from './pg-ddl.ts';

export interface NamedBundle {
  domain: string;
  version: number;
  digest: string;
  /** when the authority first named it current (ISO 8601) */
  named: string;
}

/** Where an authority keeps the bundles it named (PostgreSQL below, or its process memory). */
export interface BundleHistory {
  /** the newest named bundle per domain */
  load(): Promise<Map<string, { version: number; digest: string }>>;
  /** every named bundle, newest first */
  list(limit?: number): Promise<NamedBundle[]>;
  /** Recorded before a beacon names it; a failure here means the bundle is not named. */
  record(b: NamedBundle): Promise<void>;
  close(): Promise<void>;
}

/** Named since this process started (an authority without PostgreSQL). */
export function memoryBundleHistory(): BundleHistory {
  const named: NamedBundle[] = [];
  return {
    load: async () => new Map(),
    list: async (limit = 200) => named.slice(0, limit),
    record: async (b) => void named.unshift(b),
    close: async () => undefined,
  };
}

export class PgBundleHistory implements BundleHistory {
  private readonly pool: pg.Pool;
  private readonly schema: string;

  constructor(url: string, schema: string) {
    if (!/^[a-z][a-z0-9_]{0,40}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    this.pool.on('error', () => undefined); // idle-connection errors: the next query reports
    this.schema = schema;
  }

  async load(): Promise<Map<string, { version: number; digest: string }>> {
    await applyDdl(this.pool, this.schema, `CREATE SCHEMA IF NOT EXISTS ${this.schema}; CREATE TABLE IF NOT EXISTS ${this.schema}.authority_bundles (domain TEXT NOT NULL, version BIGINT NOT NULL, digest TEXT NOT NULL, named TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (domain, version))`);
    const r = await this.pool.query<{ domain: string; version: string; digest: string }>(
      `SELECT DISTINCT ON (domain) domain, version, digest FROM ${this.schema}.authority_bundles ORDER BY domain, version DESC`,
    );
    return new Map(r.rows.map((row) => [row.domain, { version: Number(row.version), digest: row.digest }]));
  }

  async list(limit = 200): Promise<NamedBundle[]> {
    const r = await this.pool.query<{ domain: string; version: string; digest: string; named: Date }>(
      `SELECT domain, version, digest, named FROM ${this.schema}.authority_bundles ORDER BY named DESC, version DESC LIMIT $1`,
      [limit],
    );
    return r.rows.map((row) => ({ domain: row.domain, version: Number(row.version), digest: row.digest, named: row.named.toISOString() }));
  }

  async record(b: NamedBundle): Promise<void> {
    await this.pool.query(`INSERT INTO ${this.schema}.authority_bundles (domain, version, digest, named) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, [b.domain, b.version, b.digest, b.named]);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** BundleStore on SQLite: the stored bundles, the active one per domain and the anti-rollback floor. */
import type { DatabaseSync } from 'node:sqlite';
import { RollbackError, type BundleStore, type StoredBundle } from './state.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bundles (
  digest TEXT PRIMARY KEY, domain TEXT NOT NULL, version INTEGER NOT NULL, bytes BLOB NOT NULL, stored_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bundle_floor (domain TEXT PRIMARY KEY, max_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bundle_active (domain TEXT PRIMARY KEY, digest TEXT NOT NULL REFERENCES bundles(digest));
`;

export class SqliteBundleStore implements BundleStore {
  private readonly db: DatabaseSync;
  private readonly now: () => number;
  private readonly floorStmt;

  /** `now`: ms since the epoch, for `stored_at` */
  constructor(db: DatabaseSync, now: () => number) {
    this.db = db;
    this.now = now;
    db.exec(SCHEMA);
    this.floorStmt = db.prepare('SELECT max_version FROM bundle_floor WHERE domain = ?');
  }

  maxActivatedVersion(domain: string): number {
    const r = this.floorStmt.get(domain) as { max_version: number } | undefined;
    return r ? Number(r.max_version) : 0;
  }

  activateBundle(b: StoredBundle): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      // re-checked inside the transaction: another process may have activated meanwhile
      if (b.version <= this.maxActivatedVersion(b.domain)) {
        throw new RollbackError(`version ${b.version} is not above ${this.maxActivatedVersion(b.domain)}, the highest ever activated here`);
      }
      this.db
        .prepare('INSERT INTO bundles (digest, domain, version, bytes, stored_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
        .run(b.digest, b.domain, b.version, b.bytes, new Date(this.now()).toISOString());
      this.db
        .prepare('INSERT INTO bundle_floor (domain, max_version) VALUES (?, ?) ON CONFLICT(domain) DO UPDATE SET max_version = excluded.max_version')
        .run(b.domain, b.version);
      this.db
        .prepare('INSERT INTO bundle_active (domain, digest) VALUES (?, ?) ON CONFLICT(domain) DO UPDATE SET digest = excluded.digest')
        .run(b.domain, b.digest);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  activeWithFloor(domain: string): { digest: string | null; floor: number } {
    // one statement, one read snapshot
    const r = this.db
      .prepare('SELECT (SELECT digest FROM bundle_active WHERE domain = ?1) AS digest, (SELECT max_version FROM bundle_floor WHERE domain = ?1) AS floor')
      .get(domain) as { digest: string | null; floor: number | null };
    return { digest: r.digest ?? null, floor: r.floor === null ? 0 : Number(r.floor) };
  }

  activeBundleDigest(domain: string): string | null {
    const r = this.db.prepare('SELECT digest FROM bundle_active WHERE domain = ?').get(domain) as { digest: string } | undefined;
    return r?.digest ?? null;
  }

  bundle(digest: string): StoredBundle | null {
    const r = this.db.prepare('SELECT digest, domain, version, bytes FROM bundles WHERE digest = ?').get(digest) as
      | { digest: string; domain: string; version: number; bytes: Uint8Array }
      | undefined;
    return r ? { digest: r.digest, domain: r.domain, version: Number(r.version), bytes: new Uint8Array(r.bytes) } : null;
  }
}

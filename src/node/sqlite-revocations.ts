/** RevocationStore on SQLite, with an in-memory view kept up to date from the rows other processes add too. */
import type { DatabaseSync } from 'node:sqlite';
import { canonicalUidText } from '../canonical/uid.ts';
import type { RevocationKind, RevocationStore, RevocationView } from './state.ts';
import { withoutFsync } from './sqlite-no-fsync.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS revocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL,
  UNIQUE (kind, value)
);
`;

export class SqliteRevocationStore implements RevocationStore {
  private readonly db: DatabaseSync;
  private readonly now: () => number;
  private readonly revokedSinceStmt;
  // Revocations only ever grow (seq is monotonic), so a cache brought up to date by
  // reading rows past the last seen seq is exact; other processes' revocations arrive too.
  private readonly revoked = new Set<string>();
  private revokedSeq = 0;
  private readonly view: RevocationView = { has: (kind, value) => this.revoked.has(`${kind}\u0000${revocationValue(kind, value)}`) };

  /** `now`: ms since the epoch, for a revocation's `at` */
  constructor(db: DatabaseSync, now: () => number) {
    this.db = db;
    this.now = now;
    db.exec(SCHEMA);
    this.revokedSinceStmt = db.prepare('SELECT seq, kind, value FROM revocations WHERE seq > ? ORDER BY seq');
  }

  revoke(kind: RevocationKind, value: string, reason: string, o: { fsync?: boolean } = {}): boolean {
    const insert = () => this.db.prepare('INSERT INTO revocations (kind, value, reason, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(kind, revocationValue(kind, value), reason, new Date(this.now()).toISOString());
    const r = o.fsync === false ? withoutFsync(this.db, insert) : insert();
    return Number(r.changes) === 1;
  }

  isRevoked(kind: RevocationKind, value: string): boolean {
    return this.revocations().has(kind, value);
  }

  revocations(): RevocationView {
    for (const r of this.revokedSinceStmt.all(this.revokedSeq) as unknown as { seq: number; kind: string; value: string }[]) {
      this.revoked.add(`${r.kind}\u0000${r.value}`);
      this.revokedSeq = Number(r.seq);
    }
    return this.view;
  }

  revocationsSince(since: number): { seq: number; kind: RevocationKind; value: string }[] {
    // prepared once (the statement revocations() uses): this runs before every governed call (governanceState)
    const rows = this.revokedSinceStmt.all(since) as unknown as {
      seq: number;
      kind: RevocationKind;
      value: string;
    }[];
    return rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, value: r.value }));
  }
}

/**
 * Principals are kept and looked up in canonical UID text, so that `Agent::"\u0061"` or
 * ` Agent::"a"` revoke the principal every check names `Agent::"a"` — however the operator
 * or the request spelled it.
 */
function revocationValue(kind: RevocationKind, value: string): string {
  return kind === 'principal' || kind === 'quarantine' ? canonicalUidText(value) : value;
}

/** ConsumedStore and OutcomeTokenStore on SQLite: consumed jtis, and the outcome tokens of used writs. */
import type { DatabaseSync } from 'node:sqlite';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from '../util.ts';
import type { ConsumedStore, OutcomeTokenStore } from './state.ts';

// expired rows are pruned (SqliteNodeState.pruneExpired): the exp indexes keep that a range delete
const CONSUMED_SCHEMA = `
CREATE TABLE IF NOT EXISTS consumed_jti (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS consumed_jti_exp ON consumed_jti (exp);
`;
const OUTCOME_TOKEN_SCHEMA = `
-- the enforcement point that used a writ (POST /v1/verify) reports its outcome with this token
CREATE TABLE IF NOT EXISTS outcome_tokens (jti TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL, exp INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outcome_tokens_exp ON outcome_tokens (exp);
`;

/**
 * How long a consumed jti is kept past the writ's `exp`. Past `exp` plus the verifier's
 * clock tolerance a writ fails its time window before single use is asked, so its row
 * no longer protects anything; this margin is far above any configured tolerance
 * (default 5 s) and also covers clocks of other processes sharing the home.
 */
export const JTI_RETAIN_SECONDS = 300;
/**
 * How long an outcome token is kept past the writ's `exp`: an execution outlives its
 * writ (the writ gates the start), and its enforcement point reports when it ends.
 */
export const OUTCOME_TOKEN_RETAIN_SECONDS = 24 * 3600;

export class SqliteConsumedStore implements ConsumedStore {
  private readonly stmt;

  constructor(db: DatabaseSync) {
    db.exec(CONSUMED_SCHEMA);
    this.stmt = {
      consume: db.prepare('INSERT INTO consumed_jti (jti, exp) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      consumed: db.prepare('SELECT 1 FROM consumed_jti WHERE jti = ?'),
      prune: db.prepare('DELETE FROM consumed_jti WHERE rowid IN (SELECT rowid FROM consumed_jti WHERE exp < ? LIMIT ?)'),
    };
  }

  consumeJti(jti: string, exp: number): boolean {
    return Number(this.stmt.consume.run(jti, exp).changes) === 1;
  }

  isJtiConsumed(jti: string): boolean {
    return this.stmt.consumed.get(jti) !== undefined;
  }

  /** Deletes at most `batch` jtis whose writ expired more than JTI_RETAIN_SECONDS before `nowSec`; returns how many went. */
  prune(nowSec: number, batch: number): number {
    return Number(this.stmt.prune.run(nowSec - JTI_RETAIN_SECONDS, batch).changes);
  }
}

export class SqliteOutcomeTokenStore implements OutcomeTokenStore {
  private readonly db: DatabaseSync;
  private readonly pruneStmt;

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec(OUTCOME_TOKEN_SCHEMA);
    this.pruneStmt = db.prepare('DELETE FROM outcome_tokens WHERE rowid IN (SELECT rowid FROM outcome_tokens WHERE exp < ? LIMIT ?)');
  }

  issueOutcomeToken(jti: string, exp: number): string {
    const token = randomBytes(24).toString('base64url');
    this.db.prepare('INSERT INTO outcome_tokens (jti, token_sha256, exp) VALUES (?, ?, ?) ON CONFLICT (jti) DO UPDATE SET token_sha256 = excluded.token_sha256').run(jti, sha256Hex(token), exp);
    return token;
  }

  outcomeTokenMatches(jti: string, token: string): boolean {
    const r = this.db.prepare('SELECT token_sha256 FROM outcome_tokens WHERE jti = ?').get(jti) as { token_sha256: string } | undefined;
    if (!r) return false;
    const given = Buffer.from(sha256Hex(token), 'hex');
    const want = Buffer.from(r.token_sha256, 'hex');
    return given.length === want.length && timingSafeEqual(given, want);
  }

  /** Deletes at most `batch` tokens whose writ expired more than OUTCOME_TOKEN_RETAIN_SECONDS before `nowSec`; returns how many went. */
  prune(nowSec: number, batch: number): number {
    return Number(this.pruneStmt.run(nowSec - OUTCOME_TOKEN_RETAIN_SECONDS, batch).changes);
  }
}

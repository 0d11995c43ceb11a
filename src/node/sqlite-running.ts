/**
 * RunningRegistry on SQLite (running.ts): the home's running governed executions, one row
 * per writ, in the home's database, so `writ exec` (its own process), `writ mcp`, `writ up`
 * and `writ ps` all see the same rows. Inputs are bounded: a row carries a whole writ and
 * the decided request, and a registry that accepted anything would let one caller fill the
 * home's disk; an oversized or malformed row is refused with a RunningRegistryError.
 *
 * A row is not evidence: it says what runs now, and a row of a process that is gone is
 * pruned. So registering and unregistering — twice per governed call, on its path —
 * commit without an fsync (sqlite-no-fsync.ts: synchronous = NORMAL for those statements only; the home's
 * database is in WAL mode, where that is still atomic and consistent, and a commit is
 * durable with the next fsync of the WAL: the ledger's next commit). What a power loss
 * can take are rows of executions that the power loss ended too. The connection's own
 * level (FULL: evidence) is restored before the statement returns.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { WritError } from '../writ/errors.ts';
import { withoutFsync } from './sqlite-no-fsync.ts';
import type { RunningExecution, RunningKind, RunningRegistry } from './running.ts';

/** The largest writ (compact JWS) and decided request (as JSON) a row may carry, in bytes. */
export const RUNNING_MAX_BYTES = 64 * 1024;
/** The largest jti, node, principal, action or resource, in bytes. */
export const RUNNING_MAX_FIELD_BYTES = 4096;

const KINDS: readonly RunningKind[] = ['exec', 'mcp', 'http'];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS running_executions (
  jti TEXT PRIMARY KEY, node TEXT NOT NULL, kind TEXT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL,
  resource TEXT NOT NULL, writ TEXT NOT NULL, request TEXT NOT NULL, started TEXT NOT NULL,
  max_run_seconds REAL, pid INTEGER NOT NULL
);
`;

/** A running execution that cannot be registered: too large, or not well formed. */
export class RunningRegistryError extends WritError {
  constructor(message: string) {
    super('running_invalid', message);
    this.name = 'RunningRegistryError';
  }
}

interface Row {
  jti: string;
  node: string;
  kind: string;
  principal: string;
  action: string;
  resource: string;
  writ: string;
  request: string;
  started: string;
  max_run_seconds: number | null;
  pid: number | bigint;
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

function field(name: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new RunningRegistryError(`running execution: ${name} must be a non-empty string`);
  if (utf8(v) > RUNNING_MAX_FIELD_BYTES) throw new RunningRegistryError(`running execution: ${name} is ${utf8(v)} bytes, more than ${RUNNING_MAX_FIELD_BYTES}`);
  return v;
}

function requestJson(request: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(request);
  } catch (err) {
    throw new RunningRegistryError(`running execution: the request is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (text === undefined) throw new RunningRegistryError('running execution: the request is not JSON');
  if (utf8(text) > RUNNING_MAX_BYTES) throw new RunningRegistryError(`running execution: the request is ${utf8(text)} bytes as JSON, more than ${RUNNING_MAX_BYTES}`);
  return text;
}

/** Checks a row before it is stored; returns it as the columns hold it. */
function checked(r: RunningExecution): Row {
  const writ = typeof r.writ === 'string' ? r.writ : '';
  if (writ === '') throw new RunningRegistryError('running execution: writ must be a non-empty string');
  if (utf8(writ) > RUNNING_MAX_BYTES) throw new RunningRegistryError(`running execution: the writ is ${utf8(writ)} bytes, more than ${RUNNING_MAX_BYTES}`);
  if (!KINDS.includes(r.kind)) throw new RunningRegistryError(`running execution: kind must be one of ${KINDS.join(', ')}`);
  if (!Number.isSafeInteger(r.pid) || r.pid < 1) throw new RunningRegistryError('running execution: pid must be a positive integer');
  if (r.maxRunSeconds !== null && !(typeof r.maxRunSeconds === 'number' && Number.isFinite(r.maxRunSeconds) && r.maxRunSeconds > 0)) {
    throw new RunningRegistryError('running execution: maxRunSeconds must be null or a positive number');
  }
  const started = field('started', r.started);
  if (Number.isNaN(Date.parse(started))) throw new RunningRegistryError('running execution: started must be an ISO 8601 time');
  return {
    jti: field('jti', r.jti),
    node: field('node', r.node),
    kind: r.kind,
    principal: field('principal', r.principal),
    action: field('action', r.action),
    resource: field('resource', r.resource),
    writ,
    request: requestJson(r.request),
    started,
    max_run_seconds: r.maxRunSeconds,
    pid: r.pid,
  };
}

function execution(r: Row): RunningExecution {
  return {
    jti: r.jti,
    node: r.node,
    kind: r.kind as RunningKind,
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    writ: r.writ,
    request: JSON.parse(r.request) as unknown,
    started: r.started,
    maxRunSeconds: r.max_run_seconds === null ? null : Number(r.max_run_seconds),
    pid: Number(r.pid),
  };
}

export class SqliteRunningRegistry implements RunningRegistry {
  private readonly db: DatabaseSync;
  private readonly insert: StatementSync;
  private readonly delete: StatementSync;

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec(SCHEMA);
    this.insert = db.prepare(
      `INSERT INTO running_executions (jti, node, kind, principal, action, resource, writ, request, started, max_run_seconds, pid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (jti) DO UPDATE SET node = excluded.node, kind = excluded.kind, principal = excluded.principal, action = excluded.action,
         resource = excluded.resource, writ = excluded.writ, request = excluded.request, started = excluded.started,
         max_run_seconds = excluded.max_run_seconds, pid = excluded.pid`,
    );
    this.delete = db.prepare('DELETE FROM running_executions WHERE jti = ?');
  }

  /** Registers (or, for a jti already registered, replaces) a running execution. */
  register(r: RunningExecution): void {
    const c = checked(r);
    withoutFsync(this.db, () => this.insert.run(c.jti, c.node, c.kind, c.principal, c.action, c.resource, c.writ, c.request, c.started, c.max_run_seconds, c.pid));
  }

  unregister(jti: string): void {
    withoutFsync(this.db, () => this.delete.run(jti));
  }

  list(isAlive: (pid: number) => boolean): RunningExecution[] {
    const rows = this.db.prepare('SELECT * FROM running_executions ORDER BY started, rowid').all() as unknown as Row[];
    const prune = this.db.prepare('DELETE FROM running_executions WHERE jti = ? AND pid = ?');
    const live: RunningExecution[] = [];
    for (const row of rows) {
      const e = execution(row);
      if (isAlive(e.pid)) live.push(e);
      else prune.run(e.jti, e.pid);
    }
    return live;
  }

  get(jti: string): RunningExecution | null {
    const row = this.db.prepare('SELECT * FROM running_executions WHERE jti = ?').get(jti) as unknown as Row | undefined;
    return row ? execution(row) : null;
  }
}

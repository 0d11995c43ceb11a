/**
 * The ledger on SQLite (node:sqlite). Appends are group-committed: every append that
 * arrives while a batch is being committed joins the next batch, and one transaction
 * (one fsync) makes a batch durable; each caller's promise resolves only after its
 * batch's COMMIT returned. With `writer: 'worker'` the commits (and their fsyncs) run
 * on a worker thread, so the event loop keeps deciding while the disk works, and a
 * batch leaves as soon as the current task ends (no timer: a lone append waits for
 * nothing but its own commit). A lone append (nothing else waiting) may be committed on
 * this thread instead, where that has recently been the faster way (lone-commit.ts): the
 * hand-off to the worker and back costs two thread wake-ups. An append's `assigned`
 * callback learns its index before the commit is durable, to overlap signing with the
 * fsync (see commitBatch).
 * Index = position in the log, assigned in commit order (0-based).
 */
import { Worker } from 'node:worker_threads';
import type { DatabaseSync } from 'node:sqlite';
import type { LeafType } from './leaf.ts';
import { DuplicateEntryError, type AppendRequest, type Ledger, type LedgerEntry, type WritIndexRow } from './ledger.ts';
import { BUSY_TIMEOUT_MS, commitBatch, isBusy, LEDGER_SCHEMA } from './sqlite-batch.ts';
import { LoneCommitChooser, type LonePath } from './lone-commit.ts';

interface Pending {
  req: AppendRequest;
  assigned: ((index: number) => void) | undefined;
  resolve: (index: number) => void;
  reject: (err: Error) => void;
}

type WorkerReply = { id: number; indexes: (number | null)[] } | { id: number; error: string } | { id: number; assigned: (number | null)[] };

interface WritRow {
  jti: string;
  decision_idx: number;
  principal: string;
  action: string;
  resource: string;
  parent: string | null;
  root: string;
  depth: number;
  exp: number;
}

function toWrit(r: WritRow): WritIndexRow {
  return {
    jti: r.jti,
    decisionIndex: Number(r.decision_idx),
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    parent: r.parent,
    root: r.root,
    depth: Number(r.depth),
    exp: Number(r.exp),
  };
}

interface Row {
  idx: number;
  type: string;
  leaf: Uint8Array;
}

function toEntry(r: Row | undefined): LedgerEntry | null {
  return r ? { index: r.idx, type: r.type as LeafType, leaf: new Uint8Array(r.leaf) } : null;
}

/**
 * What an allow decision says about approvals, read from the leaf bytes themselves: an
 * index on this expression cannot disagree with the leaves (there is no column to edit),
 * and bytes that are not JSON (a damaged leaf, which the audit reports) read as NULL
 * instead of failing every write. The query must repeat the expression to use the index.
 */
const APPROVAL_OF_LEAF = "iif(json_valid(CAST(leaf AS TEXT)), json_extract(CAST(leaf AS TEXT), '$.approval'), NULL)";
const APPROVAL_INDEX = `CREATE INDEX IF NOT EXISTS ledger_entries_approval ON ledger_entries(${APPROVAL_OF_LEAF}) WHERE type = 'decision'`;

const WORKER_URL = new URL('./sqlite-writer-worker.ts', import.meta.url);
/** how long a deferrable append may wait for a decision's commit to share */
const DEFER_MS = 20;

export class SqliteLedger implements Ledger {
  private readonly db: DatabaseSync;
  private readonly worker: Worker | null;
  private pending: Pending[] = [];
  private inFlight: Map<number, Pending[]> = new Map();
  private scheduled = false;
  /**
   * The event loop has gone through its check phase since the last commit ended: nothing
   * that was ready to run then (another request's callback) is still waiting to append.
   */
  private quiet = true;
  private batchId = 0;
  private readonly maxIdx;
  /** batches committed on this thread and on the writer worker, and lone ones the loop's thread found locked (diagnostics; tests) */
  readonly batches = { here: 0, worker: 0, busyHere: 0 };
  /** where lone appends commit (worker writer only); replaceable by tests */
  lone = new LoneCommitChooser();
  /** lone batches in flight: the way they took and when they left, for `lone` */
  private readonly loneTiming = new Map<number, { path: LonePath; t0: number }>();
  /** test hook: makes the next commits fail, to prove the node denies without evidence */
  failNextAppends = 0;

  /** `file` is the database path (needed by the worker writer, which opens its own connection). */
  constructor(db: DatabaseSync, o: { writer?: 'inline' | 'worker'; file?: string } = {}) {
    this.db = db;
    db.exec(LEDGER_SCHEMA);
    db.exec(APPROVAL_INDEX);
    this.maxIdx = db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ledger_entries');
    if (o.writer === 'worker') {
      if (!o.file) throw new Error('the worker writer needs the database file');
      this.worker = new Worker(WORKER_URL, { workerData: { file: o.file } });
      this.worker.unref();
      this.worker.on('message', (m: WorkerReply) => this.settle(m));
      this.worker.on('error', (err) => this.failAll(err));
    } else {
      this.worker = null;
    }
  }

  append(req: AppendRequest, assigned?: (index: number) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ req, assigned, resolve, reject });
      if (req.deferrable && this.pending.every((p) => p.req.deferrable)) {
        this.deferTimer ??= setTimeout(() => {
          this.deferTimer = null;
          this.schedule();
        }, DEFER_MS);
        return;
      }
      this.schedule();
    });
  }

  private deferTimer: NodeJS.Timeout | null = null;

  /** One batch in flight at a time: appends arriving meanwhile form the next batch. */
  private schedule(): void {
    if (this.scheduled || this.inFlight.size > 0 || this.pending.length === 0) return;
    this.scheduled = true;
    // the worker commits off this thread: everything appended in this task joins the batch,
    // and nothing waits longer. In-thread commits block, so they gather a whole loop turn;
    // so does the worker when the loop has not been quiet since the last commit (callbacks
    // that became ready meanwhile — other requests — append in this turn: one batch).
    if (this.worker && this.quiet) queueMicrotask(() => this.flush());
    else setImmediate(() => this.flush());
  }

  /**
   * Whether batch `id` is committed here rather than on the worker. Two or more appends go
   * to the worker, whose commit lets the loop go on deciding and gather the next batch
   * (group commit under load). A single one (a lone caller, or a loop that was quiet:
   * nothing else is waiting on it) goes where lone appends have recently been faster.
   */
  private commitsHere(id: number, batch: Pending[]): boolean {
    if (batch.length !== 1) return false;
    const path = this.lone.next();
    this.loneTiming.set(id, { path, t0: performance.now() });
    return path === 'here';
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const id = ++this.batchId;
    if (this.failNextAppends > 0) {
      this.failNextAppends--;
      this.inFlight.set(id, batch);
      this.settle({ id, error: 'injected ledger failure' });
      return;
    }
    this.inFlight.set(id, batch);
    if (this.worker === null) {
      this.commitHere(id, batch, false);
      return;
    }
    if (this.commitsHere(id, batch)) {
      if (this.commitHere(id, batch, true)) return;
      // the write lock was taken: the worker waits for it instead of the loop
      this.batches.busyHere++;
      const timing = this.loneTiming.get(id);
      if (timing) timing.path = 'worker';
    }
    this.batches.worker++;
    this.worker.ref(); // an unfinished commit keeps the process alive
    this.worker.postMessage({ id, batch: batch.map((p) => p.req) });
  }

  /**
   * Commits a batch on the loop's thread. `onlyIfUnlocked` (a lone batch of the worker
   * writer): only if the write lock is free now, since waiting for another connection's commit
   * (a CLI process's, the worker's checkpoint) would stall the event loop for up to the busy
   * timeout, where the worker waits unseen. Returns false when the lock was taken: BEGIN
   * IMMEDIATE failed and nothing was written.
   */
  private commitHere(id: number, batch: Pending[], onlyIfUnlocked: boolean): boolean {
    if (onlyIfUnlocked) this.db.exec('PRAGMA busy_timeout = 0');
    try {
      this.settle({ id, indexes: commitBatch(this.db, batch.map((p) => p.req), (indexes) => this.settle({ id, assigned: indexes })) });
    } catch (err) {
      if (onlyIfUnlocked && isBusy(err) && !this.db.isTransaction) return false;
      this.settle({ id, error: err instanceof Error ? err.message : String(err) });
    } finally {
      if (onlyIfUnlocked) this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
    this.batches.here++;
    return true;
  }

  private settle(m: WorkerReply): void {
    if ('assigned' in m) {
      // fixed, not yet durable: only the callbacks learn them; the promises wait for the commit
      this.inFlight.get(m.id)?.forEach((p, i) => {
        const index = m.assigned[i];
        if (typeof index !== 'number' || !p.assigned) return;
        try {
          p.assigned(index);
        } catch {
          // the caller's early work failed; it redoes it after the commit (and the commit must not depend on it)
        }
      });
      return;
    }
    const batch = this.inFlight.get(m.id);
    this.inFlight.delete(m.id);
    if (this.worker && this.inFlight.size === 0) this.worker.unref();
    const lone = this.loneTiming.get(m.id);
    if (lone) {
      this.loneTiming.delete(m.id);
      if (!('error' in m)) this.lone.record(lone.path, performance.now() - lone.t0);
    }
    this.quiet = false;
    setImmediate(() => {
      this.quiet = true;
    });
    if (batch) {
      if ('error' in m) for (const p of batch) p.reject(new Error(`ledger append failed: ${m.error}`));
      else
        batch.forEach((p, i) => {
          const index = m.indexes[i];
          if (typeof index === 'number') p.resolve(index);
          else p.reject(new DuplicateEntryError(`a ${p.req.type} entry for ${p.req.jti} already exists`));
        });
    }
    this.schedule();
  }

  private failAll(err: Error): void {
    for (const batch of this.inFlight.values()) for (const p of batch) p.reject(err);
    this.inFlight.clear();
    for (const p of this.pending) p.reject(err);
    this.pending = [];
  }

  /** Stops the writer worker; appends still pending are rejected. */
  async close(): Promise<void> {
    if (this.worker) await this.worker.terminate();
    this.failAll(new Error('ledger closed'));
  }

  entry(index: number): LedgerEntry | null {
    return toEntry(this.db.prepare('SELECT idx, type, leaf FROM ledger_entries WHERE idx = ?').get(index) as Row | undefined);
  }

  size(): number {
    return Number((this.maxIdx.get() as { n: number }).n);
  }

  entries(from: number, limit: number): LedgerEntry[] {
    const rows = this.db.prepare('SELECT idx, type, leaf FROM ledger_entries WHERE idx >= ? ORDER BY idx LIMIT ?').all(from, limit) as unknown as Row[];
    return rows.map((r) => toEntry(r) as LedgerEntry);
  }

  findByJti(jti: string, type?: LeafType): LedgerEntry[] {
    const rows = (type
      ? this.db.prepare('SELECT idx, type, leaf FROM ledger_entries WHERE jti = ? AND type = ? ORDER BY idx').all(jti, type)
      : this.db.prepare('SELECT idx, type, leaf FROM ledger_entries WHERE jti = ? ORDER BY idx').all(jti)) as unknown as Row[];
    return rows.map((r) => toEntry(r) as LedgerEntry);
  }

  findByDecisionId(id: string): LedgerEntry | null {
    return toEntry(this.db.prepare("SELECT idx, type, leaf FROM ledger_entries WHERE decision_id = ? AND type = 'decision'").get(id) as Row | undefined);
  }

  private writStmt: ReturnType<DatabaseSync['prepare']> | null = null;

  writ(jti: string): WritIndexRow | null {
    this.writStmt ??= this.db.prepare('SELECT * FROM ledger_writs WHERE jti = ?');
    const r = this.writStmt.get(jti) as WritRow | undefined;
    return r ? toWrit(r) : null;
  }

  children(jti: string): WritIndexRow[] {
    return (this.db.prepare('SELECT * FROM ledger_writs WHERE parent = ? ORDER BY decision_idx').all(jti) as unknown as WritRow[]).map(toWrit);
  }

  private approvalStmt: ReturnType<DatabaseSync['prepare']> | null = null;

  approvalUse(id: string): number | null {
    this.approvalStmt ??= this.db.prepare(
      `SELECT idx FROM ledger_entries WHERE type = 'decision' AND ${APPROVAL_OF_LEAF} = ? AND json_extract(CAST(leaf AS TEXT), '$.result.decision') = 'allow' ORDER BY idx LIMIT 1`,
    );
    const r = this.approvalStmt.get(id) as { idx: number } | undefined;
    return r ? Number(r.idx) : null;
  }
}

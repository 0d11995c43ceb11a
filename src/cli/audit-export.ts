/**
 * `writ audit export --format jsonl|ocsf [--since INDEX] [--limit N] [--follow]`: the ledger
 * to stdout, one line per entry, for a SIEM (docs/audit-export.md). Reads the home's SQLite
 * ledger directly, page by page (bounded memory whatever the log's size), and opens no node:
 * exporting decides nothing and signs nothing, so it may run beside `writ up`.
 */
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import { paths, readConfig } from '../home/config.ts';
import { exportLine, parseLeaf } from '../ledger/export.ts';
import type { LedgerEntry } from '../ledger/ledger.ts';
import { ocsfLine, type OcsfOptions } from '../ledger/ocsf.ts';
import { openDatabase } from '../ledger/sqlite-batch.ts';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { SOFTWARE_VERSION } from '../version.ts';
import { CliError, EXIT, homeOf, homeOption, parsePositiveInt } from './common.ts';

export const EXPORT_FORMATS = ['jsonl', 'ocsf'] as const;
type Format = (typeof EXPORT_FORMATS)[number];

/** Entries read per query: enough to amortize the query, few enough to keep memory flat. */
const PAGE = 256;
const DEFAULT_POLL_MS = 500;

interface ExportOptions {
  home?: string;
  format: Format;
  since?: string;
  limit?: string;
  follow?: boolean;
  pollMs?: string;
}

function parseIndex(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new CliError(`${flag}: expected a ledger index (0, 1, …), got ${JSON.stringify(text)}`, EXIT.usage);
  return n;
}

/** Resolves once `line` is written or buffered within the stream's limit, or when stopped: never queues without bound. */
function write(out: Writable, line: string, stop: AbortSignal): Promise<void> {
  if (out.write(line)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      stop.removeEventListener('abort', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
    stop.addEventListener('abort', done, { once: true });
  });
}

/** Stops on SIGINT/SIGTERM and when the reader has gone (EPIPE): both are a normal end of a pipe. */
function stopSignals(out: Writable): { signal: AbortSignal; release(): void } {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.exitCode = EXIT.error;
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  out.on('error', onError);
  return {
    signal: stop.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // keep a listener: an EPIPE reported after the last write must not crash the exit
      out.off('error', onError);
      out.on('error', () => undefined);
    },
  };
}

export async function runExport(o: ExportOptions, out: Writable = process.stdout): Promise<void> {
  const since = o.since === undefined ? 0 : parseIndex(o.since, '--since');
  const limit = o.limit === undefined ? Infinity : parsePositiveInt(o.limit, '--limit');
  const pollMs = o.pollMs === undefined ? DEFAULT_POLL_MS : parsePositiveInt(o.pollMs, '--poll-ms');
  const home = homeOf(o);
  const config = readConfig(home);
  const db = openDatabase(paths(home).db);
  const ledger = new SqliteLedger(db);
  const ocsf: OcsfOptions = {
    productVersion: SOFTWARE_VERSION,
    logName: config.log.origin,
    decisionAt: (i) => {
      const d = ledger.entry(i);
      return d && d.type === 'decision' ? parseLeaf(d.leaf) : null;
    },
  };
  const line = o.format === 'ocsf' ? (e: LedgerEntry) => ocsfLine(e, ocsf) : exportLine;
  const stop = stopSignals(out);
  try {
    let next = since;
    let written = 0;
    while (!stop.signal.aborted && written < limit) {
      const want = Math.min(PAGE, limit - written);
      const page = ledger.entries(next, want);
      for (const e of page) {
        if (stop.signal.aborted) break;
        await write(out, line(e), stop.signal);
        next = e.index + 1;
        written++;
      }
      if (page.length < want) {
        if (!o.follow) break;
        // the writer appends from other processes (writ up, writ authorize): poll its commits
        await sleep(pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    }
  } finally {
    stop.release();
    db.close();
  }
}

export function registerAuditExport(audit: Command): void {
  homeOption(
    audit
      .command('export')
      .description('stream ledger entries to stdout, one JSON line each, with its index and leaf hash (provable with `writ audit prove`): jsonl (export records) or ocsf (OCSF events for a SIEM)')
      .addOption(new Option('--format <format>', 'jsonl: {v, index, leafHash, type, leaf}; ocsf: one OCSF 1.3.0 event per entry').choices(EXPORT_FORMATS).default('jsonl'))
      .option('--since <index>', 'first ledger index to export (inclusive)', '0')
      .option('--limit <n>', 'stop after this many entries')
      .option('--follow', 'keep streaming entries as they are appended (until SIGINT/SIGTERM or the reader closes the pipe)')
      .addOption(new Option('--poll-ms <ms>', 'with --follow: how often to look for new entries').default(String(DEFAULT_POLL_MS)).hideHelp()),
  ).action((o: ExportOptions) => runExport(o));
}

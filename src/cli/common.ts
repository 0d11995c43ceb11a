/** Shared CLI plumbing: --home, JSON output, exit codes, errors that explain themselves. */
import { WritError } from '../writ/errors.ts';
import { Command, Option } from 'commander';
import type { DatabaseSync } from 'node:sqlite';
import { paths, readConfig, resolveHome } from '../home/config.ts';
import { openDatabase } from '../ledger/sqlite-batch.ts';
import { CallerError } from '../node/callers.ts';
import { IJsonError, parseIJson } from '../writ/i-json.ts';

export const EXIT = { ok: 0, error: 1, usage: 2, denied: 3 } as const;

export class CliError extends WritError {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.error) {
    super(exitCode === EXIT.usage ? 'cli_usage' : 'cli_failed', message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export function homeOption(cmd: Command): Command {
  return cmd.addOption(new Option('--home <dir>', 'Writ home directory (default: $WRIT_HOME, else ./.writ)'));
}

export function homeOf(opts: { home?: string }): string {
  return resolveHome(opts.home);
}

/** A JSON flag that is JSON but not I-JSON (docs/json.md); `writ authorize` records it as a request_invalid decision. */
export class JsonFlagRefused extends CliError {
  constructor(flag: string, err: IJsonError) {
    super(`${flag}: ${err.message}`, EXIT.usage);
    this.name = 'JsonFlagRefused';
  }
}

/** --args, --context: I-JSON, read from the text as given (a plain JSON.parse would round 9007199254740993 to …992). */
export function parseJsonFlag(text: string | undefined, flag: string): unknown {
  if (text === undefined) return undefined;
  try {
    return parseIJson(text);
  } catch (err) {
    if (err instanceof IJsonError) throw new JsonFlagRefused(flag, err);
    throw new CliError(`${flag}: not valid JSON (${(err as Error).message})`, EXIT.usage);
  }
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

export function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new CliError(`${flag}: expected a positive integer, got ${JSON.stringify(text)}`, EXIT.usage);
  return n;
}

/**
 * Runs `f` on the home's state database alone (managing callers and issuers needs no keys and
 * no policy); a CallerError becomes a usage error prefixed with the command.
 */
export function withStateDatabase<T>(o: { home?: string }, command: string, f: (db: DatabaseSync) => T): T {
  const home = homeOf(o);
  readConfig(home); // a clear error for a directory that is not a home
  const db = openDatabase(paths(home).db);
  try {
    return f(db);
  } catch (err) {
    if (err instanceof CallerError) throw new CliError(`${command}: ${err.message}`, EXIT.usage);
    throw err;
  } finally {
    db.close();
  }
}

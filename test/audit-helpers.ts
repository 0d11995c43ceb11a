/** Shared by the audit tests: run the CLI without $WRIT_HOME, copy an honest home, tamper with its SQLite file directly. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after } from 'node:test';
import { CLI, tempDir } from './helpers.ts';

const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** Removed with the other scratch directories when the test file ends. */
export function scratchDir(dir: string): string {
  scratch.push(dir);
  return dir;
}

export function writ(args: string[]): SpawnSyncReturns<string> {
  const env = { ...process.env };
  delete env.WRIT_HOME;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

export const out = (r: SpawnSyncReturns<string>) => `${r.stdout}${r.stderr}`;

/** A fresh copy of an honest home (its own directory and database). */
export function copyHome(home: string): string {
  const copy = join(scratchDir(tempDir('writ-audit-')), 'home');
  cpSync(home, copy, { recursive: true });
  return copy;
}

/** Edits a home's SQLite file directly, as an attacker with the file would (foreign keys off). */
export function tamper(home: string, f: (db: DatabaseSync) => void): void {
  const db = new DatabaseSync(join(home, 'state.db'), { enableForeignKeyConstraints: false });
  try {
    f(db);
  } finally {
    db.close();
  }
}

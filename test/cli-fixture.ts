/** Shared fixture for the `writ` command tests (cli*.test.ts): run the CLI as a child process against throwaway homes, parse its output. */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { CLI, DEMO_POLICY, tempDir } from './helpers.ts';

export const A1 = 'Agent::"a1"';
export const CALL = 'Action::"tools/call"';
export const READ = 'Tool::"fs/read"';
export const WRITE = 'Tool::"fs/write"';

// Temporary directories from scratchDir(), removed once the importing test file's tests are done (a root-level hook).
const scratch: string[] = [];
export function scratchDir(prefix: string): string {
  const d = tempDir(prefix);
  scratch.push(d);
  return d;
}
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

export function writ(args: string[], o: { env?: Record<string, string>; cwd?: string } = {}): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env };
  if (!o.env?.WRIT_HOME) delete env.WRIT_HOME;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, cwd: o.cwd ?? scratchDir('writ-cwd-'), timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

export function ok(r: SpawnSyncReturns<string>, what = 'command'): SpawnSyncReturns<string> {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r;
}

export function json<T>(r: SpawnSyncReturns<string>): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    assert.fail(`stdout is not JSON: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

export interface AllowOut {
  decision: 'allow';
  writ: string;
  decisionId: string;
  policies: string[];
  ledgerIndex: number;
  claims: { jti: string; sub: string };
}
export interface DenyOut {
  decision: 'deny';
  decisionId: string;
  reasons: string[];
  policies: string[];
  ledgerIndex: number | null;
  writ?: string;
}

/** A home with the demo policy signed and activated as version 5. */
export function demoHome(): string {
  const home = join(scratchDir('writ-cli-'), 'home');
  ok(writ(['init', '--home', home]), 'init');
  const bundle = join(home, '..', 'bundle-5.json');
  ok(writ(['policy', 'sign', DEMO_POLICY, '--home', home, '--out', bundle, '--version', '5']), 'policy sign');
  ok(writ(['policy', 'activate', bundle, '--home', home]), 'policy activate');
  return home;
}

export function authorizeArgs(home: string, resource: string, args: object): string[] {
  return ['authorize', '--home', home, '--principal', A1, '--action', CALL, '--resource', resource, '--args', JSON.stringify(args), '--json'];
}

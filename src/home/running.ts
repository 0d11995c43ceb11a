/**
 * The running executions of a home as the outer layer reads them (`writ ps`, the console):
 * whether a registered process is still there, what a row shows (never the writ itself,
 * src/console and docs/console.md say why), and the reason a termination is recorded with.
 * Terminating is revoking the writ (`writ revoke --kind writ <jti>`): the enforcement point's
 * lease ends the execution when its writ is revoked, and the revocation is in the ledger.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { RunningExecution, RunningKind } from '../node/running.ts';
import { SqliteRunningRegistry } from '../node/sqlite-running.ts';

/** `process.kill(pid, 0)`: the process exists (EPERM: it does, someone else's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function openRunning(db: DatabaseSync): SqliteRunningRegistry {
  return new SqliteRunningRegistry(db);
}

/** A running execution as `writ ps --json` and GET /console/api/running show it: no writ, no request arguments. */
export interface RunningView {
  jti: string;
  node: string;
  kind: RunningKind;
  principal: string;
  action: string;
  resource: string;
  started: string;
  /** whole seconds since it started */
  ageSeconds: number;
  maxRunSeconds: number | null;
  /** seconds until maxRunSeconds ends it (0 when past); null without the constraint */
  secondsLeft: number | null;
  pid: number;
}

export function runningView(r: RunningExecution, now: number): RunningView {
  const age = Math.max(0, (now - Date.parse(r.started)) / 1000);
  return {
    jti: r.jti,
    node: r.node,
    kind: r.kind,
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    started: r.started,
    ageSeconds: Math.floor(age),
    maxRunSeconds: r.maxRunSeconds,
    secondsLeft: r.maxRunSeconds === null ? null : Math.max(0, Math.ceil(r.maxRunSeconds - age)),
    pid: r.pid,
  };
}

/** 75 → "1m15s", 3700 → "1h1m", 90000 → "1d1h". */
export function humanSeconds(s: number): string {
  const n = Math.max(0, Math.floor(s));
  if (n < 60) return `${n}s`;
  if (n < 3600) return `${Math.floor(n / 60)}m${n % 60 ? `${n % 60}s` : ''}`;
  if (n < 86_400) return `${Math.floor(n / 3600)}h${Math.floor((n % 3600) / 60) ? `${Math.floor((n % 3600) / 60)}m` : ''}`;
  return `${Math.floor(n / 86_400)}d${Math.floor((n % 86_400) / 3600) ? `${Math.floor((n % 86_400) / 3600)}h` : ''}`;
}

/** The reason a termination's revocation is recorded with. */
export function terminationReason(who: string, reason: string | undefined): string {
  return `terminated by ${who}: ${reason?.trim() || 'no reason given'}`;
}

/**
 * `writ exec`, the process enforcement point. The command is resolved to an absolute
 * path and hashed; a decision is requested with that digest as attestation; the writ
 * is verified exactly as any executor verifies it (and consumed); the binary is hashed
 * again right before spawning, so a binary swapped after the decision never runs.
 * What runs is bound, not only argv: the decided arguments are `{argv, env, envNames,
 * cwd}` — the process gets exactly that environment (the fixed one plus what `--env`
 * named, never the caller's implicitly) in exactly that directory (docs/exec.md).
 * While it runs, a revocation covering its writ terminates it: SIGTERM, then SIGKILL
 * after a grace period. The outcome is recorded, linked to the writ's jti. Authorize,
 * verify, the lease and the outcome are the enforcement-point core's (governed-call.ts).
 */
import type { RunningRegistry } from '../node/running.ts';
import type { WritClaims } from '../writ/claims.ts';
import { WritError } from '../writ/errors.ts';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { childEnvironment, cwdUnchanged, envNames, resolveCwd } from './exec-env.ts';
import { begin, type GovernedCall } from './governed-call.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { GovernanceNode } from '../node/node.ts';
import { errorMessage } from '../util.ts';

export const EXIT_DENIED = 126;
export const EXIT_NOT_FOUND = 127;

export class CommandNotFoundError extends WritError {
  override name = 'CommandNotFoundError';
  constructor(message: string) {
    super('command_not_found', message);
  }
}

/**
 * Resolves like a shell in `cwd` would: a name with a slash is a path, else searched on
 * `pathEnv` — the PATH the process will get, not the caller's; symlinks resolved.
 */
export function resolveCommand(cmd: string, pathEnv: string, cwd: string): string {
  const candidates = cmd.includes('/') ? [resolve(cwd, cmd)] : pathEnv.split(delimiter).filter(Boolean).map((d) => resolve(cwd, join(d, cmd)));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return realpathSync(c);
    } catch {
      // not here; keep looking
    }
  }
  throw new CommandNotFoundError(`${cmd}: command not found${cmd.includes('/') || isAbsolute(cmd) ? '' : ' on PATH'}`);
}

export function fileDigest(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

/** The digest of what an open file holds now (read through the descriptor, not the path). */
function fdDigest(fd: number): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let pos = 0; ; ) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    pos += n;
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Where exec finds the binary. The file is opened once; it is hashed and executed through
 * that descriptor (`/proc/self/fd/3` in the child), so renaming another file into its
 * path between the decision and the exec changes nothing. Without /proc, the path.
 */
const EXEC_BY_FD = existsSync('/proc/self/fd');

export interface ExecOptions {
  node: GovernanceNode;
  ledger: Ledger;
  principal: string;
  command: string;
  args: string[];
  /** names passed over the fixed environment (FIXED_ENV); nothing else of the caller's reaches the process */
  env?: Readonly<Record<string, string>>;
  /** the working directory (default: the caller's); resolved with realpath and decided */
  cwd?: string;
  resource?: string;
  /** grace between SIGTERM and SIGKILL after a revocation */
  graceMs?: number;
  /** how often the lease is checked while the process runs */
  pollMs?: number;
  /** where the running process is registered (writ ps, the console) */
  running?: RunningRegistry;
  /** how long the process goes on after the node lost freshness (default: the node's freshnessGraceMs) */
  freshnessGraceMs?: number;
  stdio?: 'inherit' | 'ignore';
  log?: (line: string) => void;
  /** told once the verified process is spawned, with the writ it runs under (e.g. to show it, or to revoke it) */
  onStart?: (started: { writ: string; claims: WritClaims; pid: number | undefined }) => void;
}

export interface ExecResult {
  exitCode: number;
  decision: 'allow' | 'deny';
  reason: string | null;
  jti: string | null;
  /** the decision that allowed or denied it (its ledger entry: findByDecisionId) */
  decisionId: string;
}

/**
 * The decided arguments of an execution, and the only source of what is spawned: the
 * intent is recomputed from this very object at verification, and the process gets its
 * argv, env and cwd from it afterwards. Frozen, so nothing can change it in between.
 */
export interface ExecArgs {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** the names of `env`, sorted: Cedar cannot enumerate a record's keys, a policy can test a set */
  readonly envNames: readonly string[];
  readonly cwd: string;
}

export function execArgs(path: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd: string): ExecArgs {
  const e = Object.freeze({ ...env });
  return Object.freeze({ argv: Object.freeze([path, ...args]), env: e, envNames: Object.freeze(envNames(e)), cwd });
}

export async function governedExec(o: ExecOptions): Promise<ExecResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const env = childEnvironment(o.env);
  const cwd = resolveCwd(o.cwd);
  const path = resolveCommand(o.command, env.PATH ?? '', cwd);
  const fd = openSync(path, 'r');
  try {
    return await governedExecOf(o, execArgs(path, o.args, env, cwd), fd, log);
  } finally {
    closeSync(fd);
  }
}

/** A final check refused to start what was authorized. */
const NOT_STARTED = { status: 'not_started', reason: 'attestation_mismatch', exitCode: null, signal: null, durationMs: 0 } as const;

async function governedExecOf(o: ExecOptions, args: ExecArgs, fd: number, log: (l: string) => void): Promise<ExecResult> {
  const path = args.argv[0] as string;
  const digest = fdDigest(fd);
  const binary = `Binary::${JSON.stringify(path)}`;
  const resource = o.resource ?? binary;
  // A Binary resource must be the binary that runs: --resource cannot relabel one binary as another.
  // Other resource types (e.g. App::"deploy") bind the binary through context.attestation.binaryDigest and args.argv[0].
  if (resource.startsWith('Binary::') && resource !== binary) {
    const d = await o.node.deny(
      { principal: o.principal, action: 'Action::"exec"', resource, args, attestation: { binaryDigest: digest } },
      'request_invalid',
      `resource ${resource} is not the binary that would run (${binary})`,
    );
    log(`writ: denied: request_invalid: ${d.message} (decision ${d.decisionId})`);
    return { exitCode: EXIT_DENIED, decision: 'deny', reason: 'request_invalid', jti: null, decisionId: d.decisionId };
  }
  const b = await begin({
    node: o.node,
    ledger: o.ledger,
    request: { principal: o.principal, action: 'Action::"exec"', resource, args, attestation: { binaryDigest: digest } },
    verify: 'here', // this process is the executor: it verifies and consumes the writ itself
    lease: { pollMs: o.pollMs ?? 100, ...(o.freshnessGraceMs !== undefined && { freshnessGraceMs: o.freshnessGraceMs }), onError: (err) => log(`writ: warning: a lease check failed: ${errorMessage(err)}`) },
    ...(o.running && { running: { registry: o.running, kind: 'exec' as const } }),
  });
  if ('denied' in b) {
    const { reasons, message, decisionId } = b.denied;
    log(`writ: denied: ${reasons.join(',')}: ${message} (decision ${decisionId})`);
    return { exitCode: EXIT_DENIED, decision: 'deny', reason: reasons[0] ?? 'internal_error', jti: null, decisionId };
  }
  const { call } = b;
  // a binary anyone may write to can change after it was hashed, whatever we do: refused
  const writableByAll = (fstatSync(fd).mode & 0o002) !== 0;
  if (writableByAll || fdDigest(fd) !== digest) {
    await call.end(NOT_STARTED);
    log(`writ: denied: attestation_mismatch: ${path} ${writableByAll ? 'is writable by anyone' : 'changed after it was authorized'}`);
    return { exitCode: EXIT_DENIED, decision: 'deny', reason: 'attestation_mismatch', jti: call.jti, decisionId: call.decision.decisionId };
  }
  // the directory was decided by its resolved path: one of its components swapped for a symlink since would put the process elsewhere
  if (!cwdUnchanged(args.cwd)) {
    await call.end(NOT_STARTED);
    log(`writ: denied: attestation_mismatch: the working directory ${args.cwd} changed after it was authorized`);
    return { exitCode: EXIT_DENIED, decision: 'deny', reason: 'attestation_mismatch', jti: call.jti, decisionId: call.decision.decisionId };
  }
  return run(o, args, fd, call, log);
}

function run(o: ExecOptions, args: ExecArgs, fd: number, call: GovernedCall, log: (l: string) => void): Promise<ExecResult> {
  const started = performance.now();
  const io = o.stdio ?? 'inherit';
  const [path, ...rest] = args.argv as [string, ...string[]];
  // Exactly the verified arguments: this argv, this env (given an env, spawn passes no other variable) and this cwd.
  // Its own process group, so a revocation terminates everything it started, not just the first process.
  const common = { argv0: path, detached: true, env: { ...args.env }, cwd: args.cwd } as const;
  const child = EXEC_BY_FD
    ? spawn('/proc/self/fd/3', rest, { ...common, stdio: [io, io, io, fd] })
    : spawn(path, rest, { ...common, stdio: io });
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      child.kill(sig); // the group is gone; signal the process itself if it remains
    }
  };
  // Signals sent to `writ exec` (Ctrl-C, a supervisor's SIGTERM) reach the governed group too.
  const forward = (sig: NodeJS.Signals) => signalGroup(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
  let killTimer: NodeJS.Timeout | undefined;
  call.onTerminate((why, t) => {
    log(`writ: terminating ${path} (pid ${child.pid}): ${t.code}: ${why}`);
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => signalGroup('SIGKILL'), o.graceMs ?? 5000);
  });
  o.onStart?.({ writ: call.writ, claims: call.claims, pid: child.pid });

  return new Promise((resolvePromise) => {
    const finish = async (exitCode: number | null, signal: string | null, spawnError?: Error) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
      const terminated = call.terminated !== null;
      if (terminated) {
        // the group leader is gone; make sure nothing it started outlives the revocation
        signalGroup('SIGKILL');
      }
      clearTimeout(killTimer);
      try {
        // ok/failed after the lease ended it is recorded as terminated, with the lease's reason (GovernedCall.end)
        await call.end({
          exitCode,
          signal,
          durationMs: performance.now() - started,
          status: spawnError ? 'not_started' : exitCode === 0 ? 'ok' : 'failed',
          reason: spawnError ? 'internal_error' : null,
        });
      } catch (err) {
        log(`writ: warning: the outcome could not be recorded: ${errorMessage(err)}`);
      }
      if (spawnError) log(`writ: ${path}: ${spawnError.message}`);
      const code = spawnError ? EXIT_DENIED : exitCode ?? 128 + (signal ? (osConstants.signals[signal as NodeJS.Signals] ?? 1) : 1);
      resolvePromise({ exitCode: code, decision: 'allow', reason: terminated ? (call.termination?.code ?? 'writ_revoked') : null, jti: call.jti, decisionId: call.decision.decisionId });
    };
    child.once('error', (err) => void finish(null, null, err));
    child.once('exit', (code, signal) => void finish(code, signal));
  });
}

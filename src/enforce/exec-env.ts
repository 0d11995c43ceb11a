/**
 * What a governed process starts with besides its argv: a fixed environment and an
 * explicitly decided working directory (docs/exec.md). Both are part of the decided
 * arguments, so the policy sees them and the writ's intent binds them; nothing of the
 * caller's environment reaches the process unless it was named with `--env`.
 *
 * Why fixed rather than filtered: the variables that make a program load or run other
 * code (LD_PRELOAD, LD_AUDIT, BASH_ENV, ENV, NODE_OPTIONS, PYTHONSTARTUP, PERL5OPT,
 * GIT_CONFIG_*, HOME selecting a ~/.gitconfig with core.fsmonitor …) are an open list;
 * any deny-list of them is incomplete, so the default passes none at all.
 */
import { WritError } from '../writ/errors.ts';
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DenyReason } from '../reasons.ts';
import { errorMessage } from '../util.ts';

/** The PATH a governed process gets, and the one its command is resolved on, unless `--env PATH…` names another. */
export const FIXED_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * The whole default environment: the same on every machine, whoever calls, so a policy
 * can name it exactly. No HOME: it selects configuration files that can run code (git,
 * npm, pip); a command that needs one gets it with `--env HOME`, decided by policy.
 */
export const FIXED_ENV: Readonly<Record<string, string>> = Object.freeze({
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  PATH: FIXED_PATH,
});

/** A setup problem found before anything was decided or started (the CLI exits 2). */
export class ExecSetupError extends WritError {
  override name = 'ExecSetupError';
  declare readonly code: DenyReason;
  constructor(message: string) {
    super('request_invalid', message);
  }
}

// POSIX portable names: anything else is refused rather than passed in some mangled form.
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkName(name: string, what: string): void {
  if (!ENV_NAME.test(name)) throw new ExecSetupError(`${what}: ${JSON.stringify(name)} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)`);
}

function checkValue(name: string, value: string): void {
  // a NUL would be cut by execve: the process would see less than what was decided
  if (value.includes('\0')) throw new ExecSetupError(`--env ${name}: the value contains a NUL byte`);
}

/**
 * `--env NAME` (the caller's value, which must be set) and `--env NAME=VALUE`, each name
 * at most once: a repeated name would leave it to the order which value is meant.
 */
export function parseEnvFlags(specs: readonly string[], caller: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = eq < 0 ? spec : spec.slice(0, eq);
    checkName(name, '--env');
    if (Object.hasOwn(out, name)) throw new ExecSetupError(`--env ${name}: given more than once`);
    const value = eq < 0 ? caller[name] : spec.slice(eq + 1);
    if (value === undefined) throw new ExecSetupError(`--env ${name}: not set in the caller's environment (use --env ${name}=VALUE)`);
    checkValue(name, value);
    out[name] = value;
  }
  return out;
}

/**
 * The environment the process gets: the fixed one with the extra names over it, keys in
 * order (the intent is over canonical JSON anyway; this keeps the ledger readable).
 */
export function childEnvironment(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const merged: Record<string, string> = { ...FIXED_ENV };
  for (const [name, value] of Object.entries(extra)) {
    checkName(name, 'env');
    if (typeof value !== 'string') throw new ExecSetupError(`env ${name}: the value must be a string`);
    checkValue(name, value);
    merged[name] = value;
  }
  return Object.fromEntries(Object.keys(merged).sort().map((k) => [k, merged[k] as string]));
}

/**
 * The working directory, decided explicitly: `dir` (relative to the caller's) or the
 * caller's own, with symlinks resolved, so the policy judges the directory the process
 * will really be in.
 */
export function resolveCwd(dir?: string): string {
  const what = dir === undefined ? 'the current directory' : `--cwd ${dir}`;
  let real: string;
  try {
    real = realpathSync(resolve(process.cwd(), dir ?? '.'));
    if (!statSync(real).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new ExecSetupError(`${what}: ${errorMessage(err)}`);
  }
  return real;
}

/** Whether `cwd` still names itself as it did when decided (no component swapped for a symlink since). */
export function cwdUnchanged(cwd: string): boolean {
  try {
    return realpathSync(cwd) === cwd && statSync(cwd).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The names in `env`, sorted: Cedar cannot enumerate a record's keys, so a policy that
 * allows only certain names (`[…].containsAll(context.args.envNames)`) needs them as a set.
 */
export function envNames(env: Readonly<Record<string, string>>): string[] {
  return Object.keys(env).sort();
}

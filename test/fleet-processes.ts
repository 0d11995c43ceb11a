/**
 * The `writ` child processes of a test fleet (fleet-harness.ts): one restartable process with
 * its output kept, a CLI run to completion, and the environment they run in. Every child still
 * running when this process goes away is killed with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI } from './helpers.ts';
import { NATS_URL, PG_URL } from './test-service-urls.ts';

/** The environment of a child of fleet `fleet`: the test servers, and no home or test runner of the parent. */
export function childEnv(fleet: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, WRIT_FLEET: fleet, WRIT_NATS: NATS_URL, WRIT_PG: PG_URL };
  delete env.WRIT_HOME;
  delete env.NODE_TEST_CONTEXT; // children are not test runners
  return env;
}

/** Every child this harness started and that still runs: killed if this process goes away first. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of live) c.kill('SIGKILL');
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/** A `writ` process of the fleet, restartable; its output is kept across runs. */
export class Proc {
  readonly name: string;
  private readonly args: () => string[];
  private readonly ready: RegExp;
  private readonly env: NodeJS.ProcessEnv;
  child: ChildProcess | null = null;
  /** what the readiness line captured (the HTTP address), if anything */
  url = '';
  output = '';
  starts = 0;

  constructor(name: string, args: () => string[], ready: RegExp, env: NodeJS.ProcessEnv) {
    this.name = name;
    this.args = args;
    this.ready = ready;
    this.env = env;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const child = spawn(process.execPath, [CLI, ...this.args()], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    child.once('exit', () => live.delete(child));
    this.child = child;
    this.starts++;
    let run = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start within ${timeoutMs} ms:\n${run}`)), timeoutMs);
      const onData = (d: Buffer) => {
        run += d.toString();
        this.output += d.toString();
        const m = this.ready.exec(run);
        if (m) {
          clearTimeout(timer);
          this.url = m[1] ?? '';
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) while starting:\n${run}`));
      });
    });
  }

  /** Stops the process (SIGKILL by default: a crash) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    const exited = once(c, 'exit');
    c.kill(signal);
    await exited;
    this.child = null;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}

/** Runs the `writ` CLI to completion (without blocking the event loop). */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

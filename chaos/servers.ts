/**
 * Real servers for the chaos tests, owned by the test: a `nats-server` with JetStream and
 * a PostgreSQL cluster, run from this machine's binaries (the ones
 * `../shared/services/ensure` installs) on free loopback ports, each with its own data
 * directory. The NATS server gets the same flags as the shared service (`-js -sd DIR`,
 * JetStream's default sync settings); the PostgreSQL cluster is a fresh `initdb` with
 * PostgreSQL's defaults (fsync on, synchronous commit). Because the test started them, it
 * can kill them by their process id — SIGKILL for NATS, an immediate stop (SIGQUIT to the
 * postmaster, what `pg_ctl stop -m immediate` sends) for PostgreSQL — and restart them on
 * the same data, without touching the shared servers other tests and programs use.
 *
 * startChaosServers() sets WRIT_TEST_NATS and WRIT_TEST_PG, so it must run before
 * test/fleet-harness.ts is imported. Binaries: WRIT_CHAOS_NATS_SERVER (default: nats-server
 * on PATH, /usr/sbin, /usr/local/bin, /usr/bin) and WRIT_CHAOS_PG_BIN (default: the newest
 * /usr/lib/postgresql/<version>/bin).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { freePort } from '../scripts/ports.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


function findNatsServer(): string {
  const explicit = process.env.WRIT_CHAOS_NATS_SERVER;
  if (explicit) return explicit;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  for (const d of dirs) if (d && existsSync(join(d, 'nats-server'))) return join(d, 'nats-server');
  throw new Error('nats-server not found (run ../shared/services/ensure nats, or set WRIT_CHAOS_NATS_SERVER)');
}

function findPgBin(): string {
  const explicit = process.env.WRIT_CHAOS_PG_BIN;
  if (explicit) return explicit;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(a) - Number(b)) : [];
  const v = versions.at(-1);
  if (!v) throw new Error('PostgreSQL binaries not found (run ../shared/services/ensure postgres, or set WRIT_CHAOS_PG_BIN)');
  return join(root, v, 'bin');
}

/** PostgreSQL refuses to run as root: as root, its processes run as the `postgres` user. */
function pgUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root, but there is no postgres user to run PostgreSQL as');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Every server process started here and still running: killed if this process goes away first. */
const live = new Map<ChildProcess, NodeJS.Signals>();
process.once('exit', () => {
  for (const [c, signal] of live) c.kill(signal);
});

/** A server process that can be killed and started again on the same data. */
abstract class Server {
  readonly name: string;
  readonly port: number;
  readonly logFile: string;
  child: ChildProcess | null = null;
  starts = 0;
  /** the signal that stops it when the test process exits */
  protected abstract readonly exitSignal: NodeJS.Signals;

  constructor(name: string, port: number, logFile: string) {
    this.name = name;
    this.port = port;
    this.logFile = logFile;
  }

  protected abstract command(): { file: string; args: string[]; user?: { uid: number; gid: number } | null; env?: NodeJS.ProcessEnv };
  /** one readiness probe: resolves when the server does real work, throws otherwise */
  protected abstract probe(): Promise<void>;

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number {
    if (!this.child?.pid || !this.running) throw new Error(`${this.name} is not running`);
    return this.child.pid;
  }

  /** Starts the server and waits until it accepts connections and answers. */
  async start(timeoutMs = 60_000): Promise<{ ms: number }> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const started = performance.now();
    const { file, args, user, env } = this.command();
    const out = openSync(this.logFile, 'a');
    const child = spawn(file, args, { stdio: ['ignore', out, out], env: env ?? process.env, ...(user && { uid: user.uid, gid: user.gid }) });
    closeSync(out);
    live.set(child, this.exitSignal);
    child.once('exit', () => live.delete(child));
    this.child = child;
    this.starts++;
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited while starting (${child.exitCode ?? child.signalCode}):\n${this.logTail()}`);
      try {
        await this.probe();
        return { ms: performance.now() - started };
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not come up within ${timeoutMs} ms: ${String(last)}\n${this.logTail()}`);
      await sleep(100);
    }
  }

  /** Sends `signal` to the server's process (its id, not its name) and waits until it is gone; returns when. */
  async kill(signal: NodeJS.Signals): Promise<number> {
    const c = this.child;
    if (!c || !this.running) throw new Error(`${this.name} is not running`);
    const exited = once(c, 'exit');
    process.kill(this.pid, signal);
    await exited;
    this.child = null;
    return performance.now();
  }

  logTail(chars = 3000): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }
}

export class ChaosNats extends Server {
  readonly storeDir: string;
  private readonly bin = findNatsServer();
  protected readonly exitSignal = 'SIGKILL';

  constructor(dir: string, port: number) {
    super('nats-server', port, join(dir, 'nats-server.log'));
    this.storeDir = join(dir, 'jetstream');
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  protected command() {
    // the shared service's flags (../shared/services/ensure), on this server's port and store
    return { file: this.bin, args: ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir, '-l', this.logFile] };
  }

  protected async probe(): Promise<void> {
    const nc = await connect({ servers: this.url, reconnect: false, timeout: 1000 });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.getAccountInfo();
    } finally {
      await nc.close();
    }
  }
}

export class ChaosPostgres extends Server {
  readonly dataDir: string;
  private readonly bin = findPgBin();
  private readonly user = pgUser();
  protected readonly exitSignal = 'SIGQUIT';

  constructor(dir: string, port: number) {
    super('postgres', port, join(dir, 'postgres.log'));
    this.dataDir = join(dir, 'pgdata');
  }

  /** the harness's database (`test`), as WRIT_TEST_PG */
  get url(): string {
    return `postgres://root@127.0.0.1:${this.port}/test`;
  }

  private env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', HOME: this.dataDir };
  }

  /** initdb: superuser root, trust authentication (loopback only) */
  async init(): Promise<void> {
    mkdirSync(this.dataDir, { mode: 0o700 });
    if (this.user) chownSync(this.dataDir, this.user.uid, this.user.gid);
    const out = openSync(this.logFile, 'a');
    const child = spawn(join(this.bin, 'initdb'), ['-D', this.dataDir, '-U', 'root', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], { stdio: ['ignore', out, out], env: this.env(), ...(this.user && { uid: this.user.uid, gid: this.user.gid }) });
    closeSync(out);
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`initdb failed (${code}):\n${this.logTail()}`);
  }

  protected command() {
    return {
      file: join(this.bin, 'postgres'),
      args: ['-D', this.dataDir, '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${this.dataDir}`],
      user: this.user,
      env: this.env(),
    };
  }

  protected async probe(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url.replace(/\/test$/, '/postgres'), connectionTimeoutMillis: 1000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async createDatabase(name: string): Promise<void> {
    const c = new pg.Client({ connectionString: this.url.replace(/\/test$/, '/postgres') });
    c.on('error', () => undefined);
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${name}`);
    } finally {
      await c.end();
    }
  }

  /** An immediate stop, as `pg_ctl stop -m immediate`: the postmaster gets SIGQUIT, no checkpoint; the restart runs crash recovery. */
  immediateStop(): Promise<number> {
    return this.kill('SIGQUIT');
  }
}

export interface ChaosServers {
  dir: string;
  nats: ChaosNats;
  pg: ChaosPostgres;
  /** Stops both servers (whatever state they are in) and removes their data. */
  stop(): Promise<void>;
}

/** Starts both servers and points the fleet harness at them (WRIT_TEST_NATS, WRIT_TEST_PG). */
export async function startChaosServers(): Promise<ChaosServers> {
  const dir = mkdtempSync(join(tmpdir(), 'writ-chaos-'));
  if (process.getuid?.() === 0) chmodSync(dir, 0o755); // the postgres user reaches its data directory
  const nats = new ChaosNats(dir, await freePort());
  const pgs = new ChaosPostgres(dir, await freePort());
  const stop = async () => {
    if (nats.running) await nats.kill('SIGKILL').catch(() => undefined);
    if (pgs.running) await pgs.kill('SIGINT').catch(() => undefined); // fast shutdown
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all([nats.start(), pgs.init().then(() => pgs.start())]);
    await pgs.createDatabase('test');
  } catch (err) {
    await stop();
    throw err;
  }
  process.env.WRIT_TEST_NATS = nats.url;
  process.env.WRIT_TEST_PG = pgs.url;
  return { dir, nats, pg: pgs, stop };
}

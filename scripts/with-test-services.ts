/**
 * node scripts/with-test-services.ts <command…>
 *
 * Runs <command> (one argument: through `sh -c`; more: as argv) with a private NATS server
 * (JetStream: `-js -sd <dir>`) and a private PostgreSQL cluster, both on free loopback ports
 * with their data in one temporary folder, and hands them to it as WRIT_TEST_NATS
 * (nats://127.0.0.1:<port>) and WRIT_TEST_PG (postgres://root@127.0.0.1:<port>/test), the
 * variables test/fleet-harness.ts reads. Nothing already running on this machine (a shared
 * NATS on :4222, a PostgreSQL on :5432) is used. When the command ends — or fails, or is
 * interrupted (SIGINT, SIGTERM, SIGHUP) — both servers are stopped and the folder removed;
 * the exit status is the command's.
 *
 * PostgreSQL: `initdb` (superuser role `root`, trust authentication, database `test`
 * created), started and stopped with `pg_ctl`, listening on 127.0.0.1 only with its socket
 * in the temporary folder. PostgreSQL refuses to run as root, so as root its programs run
 * as the `postgres` user on a data folder that user owns. Binaries: `nats-server` on PATH
 * (else /usr/sbin, /usr/local/bin, /usr/bin); `initdb` and `pg_ctl` on PATH, else the newest
 * /usr/lib/postgresql/<version>/bin. scripts/test-setup.sh installs Debian's packages when
 * they are missing.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { canConnect, freePort } from './ports.ts';

const NAME = 'with-test-services';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One clear line, then exit 1. */
class Refusal extends Error {}

function executable(file: string): boolean {
  try {
    return statSync(file).isFile() && (statSync(file).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function onPath(name: string, extra: string[] = []): string | null {
  for (const d of [...(process.env.PATH ?? '').split(delimiter), ...extra]) if (d && executable(join(d, name))) return join(d, name);
  return null;
}

function findNatsServer(): string {
  const found = onPath('nats-server', ['/usr/sbin', '/usr/local/bin', '/usr/bin']);
  if (!found) throw new Refusal("nats-server not found: install Debian's nats-server (apt-get install nats-server, or run npm test as root or with sudo)");
  return found;
}

/** initdb and pg_ctl: from PATH when both are there, else the newest /usr/lib/postgresql/<version>/bin. */
function findPgBin(): { initdb: string; pgCtl: string } {
  const initdb = onPath('initdb');
  const pgCtl = onPath('pg_ctl');
  if (initdb && pgCtl) return { initdb, pgCtl };
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => executable(join(root, v, 'bin', 'initdb')) && executable(join(root, v, 'bin', 'pg_ctl'))) : [];
  const v = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  if (!v) throw new Refusal("PostgreSQL's initdb and pg_ctl not found: install Debian's postgresql (apt-get install postgresql, or run npm test as root or with sudo)");
  return { initdb: join(root, v, 'bin', 'initdb'), pgCtl: join(root, v, 'bin', 'pg_ctl') };
}

/** As root, PostgreSQL's programs run as the `postgres` user (it refuses to run as root). */
function pgUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Refusal("running as root but there is no postgres user to run PostgreSQL as: install Debian's postgresql (apt-get install postgresql), which creates it");
  return { uid: Number(uid), gid: Number(gid) };
}


function tail(file: string, chars = 2000): string {
  try {
    return readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return '';
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */

class Services {
  // the binaries and the postgres user first: a refusal leaves nothing behind
  private readonly natsBin = findNatsServer();
  private readonly pgBin = findPgBin();
  private readonly pgUser = pgUser();
  readonly dir = mkdtempSync(join(tmpdir(), 'writ-test-services-'));
  private nats: ChildProcess | null = null;
  private pgStarted = false;
  /** owned by the postgres user when root: its data folder, its log and its socket */
  private readonly pgRoot = join(this.dir, 'postgres');
  private readonly pgData = join(this.pgRoot, 'data');
  private readonly pgLog = join(this.pgRoot, 'postgres.log');
  private readonly natsLog = join(this.dir, 'nats-server.log');
  natsUrl = '';
  pgUrl = '';

  constructor() {
    // the postgres user reaches its data folder inside this one
    if (this.pgUser) chmodSync(this.dir, 0o755);
  }

  /** Runs a PostgreSQL program (as the postgres user when root) and waits for it. */
  private pgRun(file: string, args: string[]): void {
    const options: SpawnSyncOptions = {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', HOME: this.dir },
      cwd: this.dir,
      timeout: 120_000,
      ...(this.pgUser && { uid: this.pgUser.uid, gid: this.pgUser.gid }),
    };
    const r = spawnSync(file, args, options);
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.status ?? r.signal ?? String(r.error)}):\n${String(r.stdout ?? '')}${String(r.stderr ?? '')}${tail(this.pgLog)}`);
  }

  async startNats(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const store = join(this.dir, 'jetstream');
      // detached: a Ctrl-C at the terminal reaches the tests; the server is stopped by stop()
      const child = spawn(this.natsBin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store, '-l', this.natsLog], { stdio: 'ignore', detached: true });
      this.nats = child;
      const deadline = Date.now() + 30_000;
      while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
        // JetStream is ready once the log says so (after the client port is open)
        if ((await canConnect(port)) && /Server is ready/.test(tail(this.natsLog, 100_000))) {
          this.natsUrl = `nats://127.0.0.1:${port}`;
          return;
        }
        await sleep(50);
      }
      const log = tail(this.natsLog);
      await this.stopNats();
      if (attempt < 2 && /address already in use/i.test(log)) continue;
      throw new Error(`nats-server did not start on 127.0.0.1:${port}:\n${log}`);
    }
  }

  async startPostgres(): Promise<void> {
    mkdirSync(this.pgRoot, { mode: 0o700 });
    if (this.pgUser) chownSync(this.pgRoot, this.pgUser.uid, this.pgUser.gid);
    this.pgRun(this.pgBin.initdb, ['-D', this.pgData, '-U', 'root', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const o = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.pgRoot}`;
      this.pgStarted = true;
      try {
        this.pgRun(this.pgBin.pgCtl, ['-D', this.pgData, '-l', this.pgLog, '-o', o, '-w', '-t', '60', 'start']);
      } catch (err) {
        this.stopPostgres();
        if (attempt < 2 && /already in use/i.test(tail(this.pgLog))) continue;
        throw err;
      }
      this.pgUrl = `postgres://root@127.0.0.1:${port}/test`;
      break;
    }
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: this.pgUrl.replace(/\/test$/, '/postgres') });
    c.on('error', () => undefined);
    await c.connect();
    try {
      await c.query('CREATE DATABASE test');
    } finally {
      await c.end();
    }
  }

  private async stopNats(): Promise<void> {
    const c = this.nats;
    this.nats = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      c.kill('SIGKILL');
      await exited;
    }
  }

  /** pg_ctl stop (fast); synchronous, so that an exiting process can still call it. */
  stopPostgres(): void {
    if (!this.pgStarted) return;
    this.pgStarted = false;
    try {
      this.pgRun(this.pgBin.pgCtl, ['-D', this.pgData, '-m', 'fast', '-t', '30', 'stop']);
    } catch {
      // not running (it never came up), or it would not stop: the postmaster by its pid
      try {
        const pid = Number(readFileSync(join(this.pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
        if (pid > 0) process.kill(pid, 'SIGQUIT');
      } catch {
        // no postmaster.pid: nothing runs
      }
    }
  }

  /** Stops both servers, whatever state they are in, and removes the folder. */
  async stop(): Promise<void> {
    await this.stopNats().catch(() => undefined);
    this.stopPostgres();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Sends a signal to a process group; nothing when the group is gone. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: no process left in the group
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) throw new Refusal('usage: node scripts/with-test-services.ts <command…>');
  const services = new Services();
  let child: ChildProcess | null = null;
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= services.stop());
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let interrupted: NodeJS.Signals | null = null;
  for (const s of signals) {
    process.on(s, () => {
      interrupted ??= s;
      // the command's whole process group gets the signal, and the servers stop once the command is gone
      if (child?.pid && child.exitCode === null && child.signalCode === null) signalGroup(child.pid, s);
      else void stop().then(() => process.exit(128 + (s === 'SIGINT' ? 2 : s === 'SIGTERM' ? 15 : 1)));
    });
  }
  // the last resort: a synchronous exit still stops PostgreSQL (pg_ctl) and removes the folder
  process.once('exit', () => {
    if (!stopping) {
      services.stopPostgres();
      rmSync(services.dir, { recursive: true, force: true });
    }
  });
  try {
    await Promise.all([services.startNats(), services.startPostgres()]);
    if (interrupted) return 130;
    process.stderr.write(`${NAME}: NATS ${services.natsUrl} (JetStream), PostgreSQL ${services.pgUrl}, in ${services.dir}\n`);
    const env = { ...process.env, WRIT_TEST_NATS: services.natsUrl, WRIT_TEST_PG: services.pgUrl };
    const [file, ...args] = argv.length === 1 ? ['sh', '-c', argv[0] as string] : (argv as [string, ...string[]]);
    // its own process group: a signal reaches everything it started, and nothing it started outlives it
    child = spawn(file, args, { stdio: 'inherit', env, detached: true });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    if (child.pid) signalGroup(child.pid, 'SIGTERM');
    return code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1);
  } finally {
    await stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

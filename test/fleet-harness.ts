/**
 * A real fleet on loopback for the multi-process tests and the bench: `writ authority`,
 * any number of `writ node`s and a `writ sequencer`, each a child process, over the real
 * NATS JetStream (127.0.0.1:4222) and PostgreSQL (127.0.0.1:5432, database test). Every
 * fleet has its own name (buckets, stream and PostgreSQL schema), so fleets of concurrent
 * tests never share state; close() removes them. A node may be started behind a TCP
 * proxy to NATS that the test can cut (partition) and restore.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { signRevocation } from '../src/authority/revocation.ts';
import { readConfig } from '../src/home/config.ts';
import { initHome } from '../src/home/init.ts';
import { authoritySigningKeys } from '../src/home/open.ts';
import { encodeLeaf, LEAF_VERSION } from '../src/ledger/leaf.ts';
import { buildBundle, readPolicyFolder, type SigningKey } from '../src/policy/sign.ts';
import type { RevocationKind } from '../src/node/state.ts';
import { connectFleet, fleetNames, kvKey, BUCKETS, type Fleet } from '../src/sync/nats/connection.ts';
import { sha256Hex } from '../src/util.ts';
import type { WritClaims } from '../src/writ/claims.ts';
import { CLI, DEMO_POLICY, tempDir } from './helpers.ts';
import { sleep, waitFor } from './wait.ts';

export const NATS_URL = process.env.WRIT_TEST_NATS ?? 'nats://127.0.0.1:4222';
export const PG_URL = process.env.WRIT_TEST_PG ?? 'postgres://root@127.0.0.1:5432/test';

/** The request the demo policy allows (Agent::"a1" reading under /srv). */
export const A1 = 'Agent::"a1"';
export const CALL = 'Action::"tools/call"';
export const READ = 'Tool::"fs/read"';
export function allowedRequest(i = 0): AuthorizeBody {
  return { principal: A1, action: CALL, resource: READ, args: { path: `/srv/data/${i}.txt` } };
}

export interface AuthorizeBody {
  principal: string;
  action: string;
  resource: string;
  args?: Record<string, unknown>;
  context?: Record<string, unknown>;
  parent?: string;
  ttlSeconds?: number;
  approval?: string;
  minVersion?: number;
}

export interface DecisionBody {
  decision: 'allow' | 'deny';
  decisionId: string;
  reasons: string[];
  policies: string[];
  message?: string;
  ledgerIndex: number | null;
  writ?: string;
  claims?: WritClaims;
}

export interface ReadyBody {
  ready: boolean;
  version?: number;
  digest?: string;
  reason?: string;
  message?: string;
}

export interface VerifyBody {
  valid: boolean;
  reason?: string;
  message?: string;
  claims?: WritClaims;
}

/** What a node reports in the status bucket (src/sync/fleet-node.ts). */
export interface NodeStatus {
  node: string;
  domain: string;
  version: number | null;
  digest: string | null;
  ready: boolean;
  reason: string | null;
  time: string;
}

export { sleep, waitFor };

export function decodeClaims(writ: string): WritClaims {
  return JSON.parse(Buffer.from(writ.split('.')[1] ?? '', 'base64url').toString('utf8')) as WritClaims;
}

export function percentile(samples: number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

function childEnv(fleet: string): NodeJS.ProcessEnv {
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

/**
 * A TCP proxy in front of NATS for one node. partition() destroys every connection
 * through it and refuses new ones until heal(): the node is cut off from NATS while
 * NATS itself (shared by everything else on this machine) keeps running.
 */
export class NatsProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private cut = false;
  port = 0;

  constructor(target = new URL(NATS_URL.replace(/^nats:/, 'http:'))) {
    const host = target.hostname;
    const port = Number(target.port || 4222);
    this.server = net.createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(port, host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.setNoDelay(true);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  partition(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface FleetNodeProc extends Proc {
  id: string;
  home: string;
  proxy: NatsProxy | null;
  /** this node's caller token (`writ caller add`: both roles, any principal), sent to its decision routes */
  callerToken: string;
}

/** The headers of a request to a node's decision routes (its caller token). */
export const callerHeaders = (n: FleetNodeProc) => ({ 'content-type': 'application/json', authorization: `Bearer ${n.callerToken}` });

export interface FleetOptions {
  nodes: number;
  /** indexes (0-based) of nodes to run behind their own NATS proxy */
  proxied?: number[];
  sequencer?: boolean;
  beaconInterval?: string;
  beaconTtl?: string;
  /** the first bundle version to sign and push (0: none) */
  initialVersion?: number;
  /** run the authority with --pg (its history, and the fleet ledger on its console) */
  authorityPg?: boolean;
  /** extra arguments of `writ node` for the node with this id (e.g. --gate <file>) */
  nodeArgs?: (id: string) => string[];
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

export class TestFleet {
  readonly name: string;
  readonly dir: string;
  readonly authHome: string;
  readonly env: NodeJS.ProcessEnv;
  readonly authority: Proc;
  readonly sequencer: Proc | null;
  readonly nodes: FleetNodeProc[] = [];
  /** every writ any node returned through this harness */
  readonly writs: string[] = [];
  private bus: Fleet | null = null;
  private pool: pg.Pool | null = null;

  private constructor(o: FleetOptions) {
    this.name = `t_${randomBytes(5).toString('hex')}`;
    this.dir = tempDir('writ-fleet-');
    this.authHome = join(this.dir, 'authority');
    this.env = childEnv(this.name);
    const beacon = ['--beacon-interval', o.beaconInterval ?? '250ms', '--beacon-ttl', o.beaconTtl ?? '2s'];
    this.authority = new Proc('authority', () => ['authority', '--home', this.authHome, '--fleet', this.name, '--nats', NATS_URL, '--port', '0', ...beacon, ...(o.authorityPg ? ['--pg', PG_URL] : [])], /publishing beacons.*listening on (http:\/\/[^\s)]+)/, this.env);
    this.sequencer = o.sequencer
      ? new Proc('sequencer', () => ['sequencer', '--home', this.authHome, '--fleet', this.name, '--nats', NATS_URL, '--pg', PG_URL, '--port', '0'], /listening on (http:\/\/[^\s;]+)/, this.env)
      : null;
  }

  static async start(o: FleetOptions): Promise<TestFleet> {
    const f = new TestFleet(o);
    try {
      await f.init(o);
    } catch (err) {
      await f.close();
      throw err;
    }
    return f;
  }

  private async init(o: FleetOptions): Promise<void> {
    mkdirSync(this.authHome, { recursive: true });
    await initHome({ home: this.authHome, nodeId: 'authority' });
    const ids = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
    for (const [i, id] of ids.entries()) {
      const proxy = o.proxied?.includes(i) ? new NatsProxy() : null;
      if (proxy) await proxy.listen();
      const home = join(this.dir, id);
      const p = new Proc(id, () => ['node', '--home', home, '--fleet', this.name, '--nats', proxy ? proxy.url : NATS_URL, '--port', '0', ...(o.nodeArgs?.(id) ?? [])], /listening on (http:\/\/\S+)/, this.env);
      this.nodes.push(Object.assign(p, { id, home, proxy, callerToken: '' }));
    }
    this.bus = await connectFleet(NATS_URL, { fleet: this.name, client: 'writ-test' });
    // node homes are certified through the CLI while the authority and the sequencer start
    const nodesUp = (async () => {
      await Promise.all(ids.map((id) => this.cliOk(['fleet', 'add-node', '--home', this.authHome, '--node-id', id, '--out', join(this.dir, id)])));
      await Promise.all(this.nodes.map(async (n) => (n.callerToken = (await this.cliOk(['caller', 'add', 'test-harness', '--home', n.home, '--role', 'both', '--principals', '*'])).stdout.trim())));
      await Promise.all(this.nodes.map((n) => n.start()));
    })();
    await Promise.all([this.authority.start(), this.sequencer?.start(), nodesUp]);
    if ((o.initialVersion ?? 1) > 0) {
      const v = await this.push(o.initialVersion ?? 1);
      await this.waitReady(v.version);
    }
  }

  get fleet(): Fleet {
    if (!this.bus) throw new Error('fleet is not connected');
    return this.bus;
  }

  get db(): pg.Pool {
    this.pool ??= new pg.Pool({ connectionString: PG_URL, max: 2 });
    return this.pool;
  }

  node(id: string): FleetNodeProc {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  cli(args: string[]) {
    return runCli(args, this.env);
  }

  async cliOk(args: string[]): Promise<{ stdout: string; stderr: string; ms: number }> {
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`writ ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return r;
  }

  /** Signs the demo policy as `version` with the authority key (as `writ policy sign` does); returns the bundle file. */
  async sign(version: number, o: { expiresInMs?: number; policyDir?: string } = {}): Promise<string> {
    const file = join(this.dir, `bundle-${version}.json`);
    const config = readConfig(this.authHome);
    const created = new Date(Date.now() - 1000);
    const bundle = await buildBundle(readPolicyFolder(o.policyDir ?? DEMO_POLICY), { domain: config.domain, version, created, expires: new Date(created.getTime() + (o.expiresInMs ?? 3600_000)) }, await authoritySigningKeys(this.authHome, config));
    writeFileSync(file, JSON.stringify(bundle));
    return file;
  }

  /** Signs the demo policy as `version` and publishes it with `writ policy push`; returns push's JSON output. */
  async push(version: number): Promise<{ version: number; digest: string; minVersion: number; revision: number }> {
    return this.pushFile(await this.sign(version));
  }

  async pushFile(file: string): Promise<{ version: number; digest: string; minVersion: number; revision: number }> {
    const r = await this.cliOk(['policy', 'push', file, '--home', this.authHome, '--fleet', this.name, '--nats', NATS_URL, '--json']);
    return JSON.parse(r.stdout) as { version: number; digest: string; minVersion: number; revision: number };
  }

  /** Waits until every given node (default all) reports ready at `version`. */
  async waitReady(version: number, nodes: FleetNodeProc[] = this.nodes, timeoutMs = 15_000): Promise<void> {
    await Promise.all(
      nodes.map((n) =>
        waitFor(`${n.id} ready at version ${version}`, async () => {
          const r = await this.readyz(n);
          return r.status === 200 && r.body.version === version;
        }, timeoutMs),
      ),
    );
  }

  async readyz(n: FleetNodeProc): Promise<{ status: number; body: ReadyBody }> {
    const res = await fetch(`${n.url}/readyz`);
    return { status: res.status, body: (await res.json()) as ReadyBody };
  }

  /** POST /v1/authorize; an allow's writ is remembered in `writs`. */
  async authorize(n: FleetNodeProc, body: AuthorizeBody = allowedRequest(), signal?: AbortSignal): Promise<{ status: number; body: DecisionBody; ms: number }> {
    const started = performance.now();
    const res = await fetch(`${n.url}/v1/authorize`, { method: 'POST', headers: callerHeaders(n), body: JSON.stringify(body), ...(signal && { signal }) });
    const d = (await res.json()) as DecisionBody;
    if (d.writ) this.writs.push(d.writ);
    return { status: res.status, body: d, ms: performance.now() - started };
  }

  /** POST /v1/verify without consuming the writ (so that every node can be asked about the same one). */
  async verify(n: FleetNodeProc, writ: string, audience: string, args: Record<string, unknown>): Promise<{ status: number; body: VerifyBody }> {
    const res = await fetch(`${n.url}/v1/verify`, { method: 'POST', headers: callerHeaders(n), body: JSON.stringify({ writ, audience, args, consume: false }) });
    return { status: res.status, body: (await res.json()) as VerifyBody };
  }

  /** Each node's entry in the status bucket. */
  async statuses(): Promise<Map<string, NodeStatus>> {
    const out = new Map<string, NodeStatus>();
    for (const n of this.nodes) {
      const e = await this.fleet.kv.status.get(kvKey(n.id));
      // a compact JWS signed by the node (src/sync/status-report.ts); the payload is the report
      if (e && e.operation === 'PUT') out.set(n.id, JSON.parse(Buffer.from(e.string().split('.')[1] ?? '', 'base64url').toString('utf8')) as NodeStatus);
    }
    return out;
  }

  private signer: SigningKey | null = null;

  /**
   * A revocation as `writ revoke --nats` publishes it (signed by the authority key,
   * evidence leaf, then the KV put), over this harness's open connection so that the
   * timing is not dominated by a new connection. Resolves when the put is acknowledged.
   */
  async revoke(kind: RevocationKind, value: string, reason = 'test'): Promise<{ revision: number; sentAt: number; ackedAt: number }> {
    if (!this.signer) {
      const [key] = await authoritySigningKeys(this.authHome, readConfig(this.authHome));
      if (!key) throw new Error('no authority key');
      this.signer = key;
    }
    const jws = await signRevocation({ kind, value, reason }, this.signer);
    const leaf = encodeLeaf({ type: 'revocation', v: LEAF_VERSION, time: new Date().toISOString(), kind, value, reason, by: 'authority', signed: jws });
    await this.fleet.js.publish(`${this.fleet.subject}.${kvKey(readConfig(this.authHome).domain)}.authority`, leaf, { msgID: sha256Hex(leaf) });
    const sentAt = performance.now();
    const revision = await this.fleet.kv.revocations.put(kvKey(kind, value), jws);
    return { revision, sentAt, ackedAt: performance.now() };
  }

  /** The evidence stream's last sequence (= ledger size once the sequencer caught up). */
  async streamLastSeq(): Promise<number> {
    const jsm = await jetstreamManager(this.fleet.nc);
    return (await jsm.streams.info(this.fleet.stream)).state.last_seq;
  }

  /** How many entries PostgreSQL holds (the sequencer's progress). */
  async sequenced(): Promise<number> {
    const r = await this.db.query<{ n: string }>(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${this.name}.entries`);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** Waits until PostgreSQL holds everything published to the evidence stream so far. */
  async waitSequenced(timeoutMs = 20_000): Promise<number> {
    const last = await this.streamLastSeq();
    const started = performance.now();
    try {
      await waitFor(`the sequencer to apply ${last} entries`, async () => (await this.sequenced()) >= last, timeoutMs, 50);
    } catch (err) {
      const at = await this.sequenced().catch(() => NaN);
      throw new Error(`${(err as Error).message} (PostgreSQL holds ${at} after ${Math.round(performance.now() - started)} ms); sequencer output:\n${this.sequencer?.output.slice(-2000) ?? ''}`, { cause: err });
    }
    return last;
  }

  async close(): Promise<void> {
    await Promise.all([this.authority.kill(), this.sequencer?.kill(), ...this.nodes.map((n) => n.kill())]);
    for (const n of this.nodes) await n.proxy?.close();
    // remove the fleet's buckets, stream and schema from the shared servers
    try {
      const nc = this.bus?.nc;
      if (nc) {
        const jsm = await jetstreamManager(nc);
        const names = fleetNames(this.name);
        for (const s of [names.stream, ...BUCKETS.map((b) => `KV_${names.bucket(b)}`)]) await jsm.streams.delete(s).catch(() => undefined);
        for await (const s of jsm.streams.names()) if (s.startsWith(`KV_${this.name}_bundles_`)) await jsm.streams.delete(s).catch(() => undefined);
        await this.bus?.close().catch(() => undefined);
      }
    } finally {
      await this.db.query(`DROP SCHEMA IF EXISTS ${this.name} CASCADE`).catch(() => undefined);
      await this.pool?.end().catch(() => undefined);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * Load: `loops` callers, each sending the allowed request to the nodes in turn until
 * stop() is called. Failed connections (a node being restarted) are counted and retried.
 */
export function startLoad(f: TestFleet, loops: number): { stop(): Promise<{ allows: number; denies: Map<string, number>; errors: number }> } {
  let running = true;
  let allows = 0;
  let errors = 0;
  const denies = new Map<string, number>();
  let i = 0;
  const worker = async (w: number) => {
    while (running) {
      const n = f.nodes[(w + i++) % f.nodes.length] as FleetNodeProc;
      if (!n.running) {
        await sleep(10);
        continue;
      }
      try {
        const r = await f.authorize(n, allowedRequest(i), AbortSignal.timeout(5000));
        if (r.body.decision === 'allow') allows++;
        else for (const reason of r.body.reasons) denies.set(reason, (denies.get(reason) ?? 0) + 1);
      } catch {
        errors++;
        await sleep(10);
      }
    }
  };
  const all = Array.from({ length: loops }, (_, w) => worker(w));
  return {
    async stop() {
      running = false;
      await Promise.all(all);
      return { allows, denies, errors };
    },
  };
}

export interface Propagation {
  /** per revocation and node: ms from the revocation's acknowledged KV put to the node's first deny naming it */
  samples: number[];
  /** the same, from the moment the put was sent */
  fromSend: number[];
  p50: number;
  p99: number;
  max: number;
}

/**
 * Decides for `principal` at node `n` again and again until the node denies it
 * principal_quarantined; resolves with the time of that answer (performance.now()).
 * `answered` is told after the first answer; a quarantine denial before `revoking()` is an error.
 */
export async function pollUntilQuarantined(
  f: TestFleet,
  n: FleetNodeProc,
  principal: string,
  o: { revoking: () => boolean; answered: () => void; deadline: number; timeoutMs: number; pollGapMs?: number },
): Promise<number> {
  for (let first = true; ; first = false) {
    const r = await f.authorize(n, { principal, action: CALL, resource: READ, args: { path: '/srv/x' } });
    const at = performance.now();
    if (first) o.answered();
    if (r.body.reasons.includes('principal_quarantined')) {
      if (!o.revoking()) throw new Error(`${n.id} denied ${principal} as quarantined before it was quarantined`);
      return at;
    }
    if (Date.now() > o.deadline) throw new Error(`${n.id} did not deny ${principal} within ${o.timeoutMs} ms (last: ${r.body.reasons.join(',')})`);
    if (o.pollGapMs) await sleep(o.pollGapMs);
  }
}

/**
 * Revocation propagation: for each of `count` principals, every node is polled (one
 * request in flight per node) while the principal is quarantined; the latency of a node
 * is from the revocation's acknowledged publication to the first response that denies
 * with principal_quarantined. Responses are received at most one round trip after the
 * node applied it, so the numbers are upper bounds.
 */
export async function measurePropagation(f: TestFleet, count: number, o: { nodes?: FleetNodeProc[]; pollGapMs?: number; timeoutMs?: number } = {}): Promise<Propagation> {
  const nodes = o.nodes ?? f.nodes;
  const samples: number[] = [];
  const fromSend: number[] = [];
  for (let i = 0; i < count; i++) {
    const principal = `Agent::"q-${i}-${randomBytes(3).toString('hex')}"`;
    let revoking = false;
    let answered = 0; // pollers with an answer before the revocation
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    const poll = (n: FleetNodeProc): Promise<number> =>
      pollUntilQuarantined(f, n, principal, { revoking: () => revoking, answered: () => void answered++, deadline, timeoutMs: o.timeoutMs ?? 5000, ...(o.pollGapMs && { pollGapMs: o.pollGapMs }) });
    let failed = false;
    const pollers = nodes.map((n) => poll(n));
    for (const p of pollers) p.catch(() => (failed = true)); // awaited below
    await waitFor('every poller answered once', () => answered === nodes.length || failed, 5000, 5); // the pollers are running
    revoking = true;
    const revoked = await f.revoke('quarantine', principal, 'propagation measurement');
    const at = await Promise.all(pollers);
    for (const t of at) {
      samples.push(Math.max(0, t - revoked.ackedAt));
      fromSend.push(t - revoked.sentAt);
    }
    await sleep(20); // a pause between measurements
  }
  return { samples, fromSend, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), max: Math.max(...samples) };
}

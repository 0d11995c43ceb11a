/**
 * A real fleet on loopback for the multi-process tests and the bench: `writ authority`,
 * any number of `writ node`s and a `writ sequencer`, each a child process, over the real
 * NATS JetStream (127.0.0.1:4222) and PostgreSQL (127.0.0.1:5432, database test). Every
 * fleet has its own name (buckets, stream and PostgreSQL schema), so fleets of concurrent
 * tests never share state; close() removes them. A node may be started behind a TCP
 * proxy to NATS that the test can cut (partition) and restore.
 *
 * This file sets up and tears down the fleet (homes, certificates, NATS buckets and stream,
 * the PostgreSQL schema) and talks to it; the child processes are fleet-processes.ts, the
 * proxy nats-proxy.ts, the HTTP bodies fleet-api.ts, load and propagation fleet-load.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
import { DEMO_POLICY, tempDir } from './helpers.ts';
import { allowedRequest, type AuthorizeBody, type DecisionBody, type NodeStatus, type ReadyBody, type VerifyBody } from './fleet-api.ts';
import { childEnv, Proc, runCli } from './fleet-processes.ts';
import { NatsProxy } from './nats-proxy.ts';
import { NATS_URL, PG_URL } from './test-service-urls.ts';
import { waitFor } from './wait.ts';

// The harness's whole surface, wherever each part lives: tests, chaos/ and bench/ import it from here.
export { NATS_URL, PG_URL } from './test-service-urls.ts';
export { A1, CALL, READ, allowedRequest, decodeClaims, type AuthorizeBody, type DecisionBody, type NodeStatus, type ReadyBody, type VerifyBody } from './fleet-api.ts';
export { Proc, runCli } from './fleet-processes.ts';
export { NatsProxy } from './nats-proxy.ts';
export { measurePropagation, percentile, pollUntilQuarantined, startLoad, type Propagation } from './fleet-load.ts';
export { sleep, waitFor } from './wait.ts';

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

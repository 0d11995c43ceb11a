/**
 * `writ authority`: publishes a signed beacon per domain every second (default),
 * valid for five (default), naming the domain's current bundle — the newest one in the
 * bundles bucket that verifies against the pinned keys and threshold — and the
 * revocation-list version (the revocations bucket's highest revision). If the
 * authority stops, beacons expire and every node denies with stale_policy; when it
 * returns, nodes resume without a restart.
 */
import type { CryptoKey } from 'jose';
import { signBeacon } from '../authority/beacon.ts';
import { signApprovalDecision } from '../authority/approval-decision.ts';
import { verifyRevocation } from '../authority/revocation.ts';
import { readConfig, type HomeConfig } from '../home/config.ts';
import { authoritySigningKeys } from '../home/open.ts';
import type { VerifiedBundle } from '../policy/manifest.ts';
import { verifyBundle } from '../policy/verify-bundle.ts';
import { errorMessage } from '../util.ts';
import { applyDdl } from '../ledger/pg-ddl.ts';
import pg from 'pg';
import { BUNDLE_KEY, connectFleet, kvKey, REVOCATION_LIST_KEY, type Fleet } from './nats.ts';
import { RevocationListSigner } from '../node/revocation-list.ts';
import { canonicalUidText } from '../canonical/uid.ts';
import type { RevokedKind } from '../writ/revocation-list.ts';
import { drain } from './drain.ts';
import { watchFleet, type FleetView } from './fleet-view.ts';

export interface NamedBundle {
  domain: string;
  version: number;
  digest: string;
  /** when this authority first named it current */
  named: string;
}

export interface AuthorityHandle {
  fleet: Fleet;
  /** the authority home (where the fleet log's verifier key is kept) */
  home: string;
  config: HomeConfig;
  /** the fleet's nodes: certificates and status reports */
  view: FleetView;
  /** the beacon contents currently published, per domain */
  current(): Map<string, { version: number; digest: string }>;
  /** the verified bundle each beacon names, per domain (once its bytes were seen) */
  bundles(): Map<string, VerifiedBundle>;
  /** every bundle named current, newest first: from PostgreSQL with --pg, else since this process started */
  named(): Promise<NamedBundle[]>;
  /** signs an approval decision and puts it where the node holding the request applies it */
  sendApprovalDecision(d: { node: string; id: string; intent: string; decision: 'approved' | 'rejected' }): Promise<void>;
  close(): Promise<void>;
}

export async function startAuthority(o: {
  home: string;
  nats: string;
  /** PostgreSQL: the authority's own record of every bundle it named current (its anti-rollback floor across restarts) */
  pg?: string;
  fleet?: string;
  beaconIntervalMs?: number;
  beaconTtlMs?: number;
  /** lifetime of the signed revocation list (default 60 s) */
  revocationListTtlSeconds?: number;
  log?: (s: string) => void;
}): Promise<AuthorityHandle> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const config = readConfig(o.home);
  const [key] = await authoritySigningKeys(o.home, config);
  if (!key) throw new Error(`${o.home} holds no authority key: beacons cannot be signed here`);
  const signer: { kid: string; key: CryptoKey } = key;
  const trust = { keys: config.authority.keys, threshold: config.authority.threshold };
  const fleet = await connectFleet(o.nats, { client: 'writ-authority', ...(o.fleet && { fleet: o.fleet }) });
  const bundles = new Map<string, { version: number; digest: string }>([]);
  const verified = new Map<string, VerifiedBundle>();
  const namedHere: NamedBundle[] = [];
  // With PostgreSQL, the authority never names a bundle older than one it named before,
  // even after a restart and even if a bucket is rolled back: its history is the floor.
  const history = o.pg ? new AuthorityHistory(o.pg, fleet.name) : null;
  if (history) for (const [domain, b] of await history.load()) bundles.set(domain, b);
  let revocationVersion = 0;
  let seq = 0;
  // every revocation that verifies, by KV revision: the signed list executors check offline
  const revoked: { seq: number; kind: RevokedKind; value: string }[] = [];
  const listSigner = new RevocationListSigner({
    issuer: `authority:${fleet.name}`,
    key: signer,
    since: (s) => revoked.filter((r) => r.seq > s),
    ...(o.revocationListTtlSeconds !== undefined && { ttlSeconds: o.revocationListTtlSeconds }),
  });
  let listPut = '';
  const publishList = async () => {
    const list = await listSigner.current();
    if (list.etag === listPut) return;
    await fleet.kv.revocation_list.put(REVOCATION_LIST_KEY, list.jws);
    listPut = list.etag;
  };

  const ttlMs = o.beaconTtlMs ?? 5000;
  const publish = async () => {
    const domains = new Set([config.domain, ...bundles.keys()]);
    for (const domain of domains) {
      seq = Math.max(seq + 1, Date.now()); // strictly increasing across restarts
      const now = Math.floor(Date.now() / 1000);
      const exp = Math.ceil((Date.now() + ttlMs) / 1000); // valid for at least the TTL
      const jws = await signBeacon({ domain, seq, iat: now, exp, bundle: bundles.get(domain) ?? null, revocations: { version: revocationVersion } }, signer);
      await fleet.kv.beacons.put(kvKey(domain), jws);
    }
    await publishList();
  };
  // One bundle bucket per domain: the authority watches its own domain's and that of
  // every certified node that registers.
  const watching = new Map<string, { stop(): void }>();
  const watchDomain = async (domain: string) => {
    if (watching.has(domain)) return;
    const w = await (await fleet.bundles(domain)).watch({ key: BUNDLE_KEY });
    watching.set(domain, w);
    drain(`writ authority: bundles of ${domain}`, w, async (e) => {
      if (e.operation !== 'PUT') return;
      try {
        const b = await verifyBundle(e.value, { trust, now: new Date(), domain });
        const cur = bundles.get(domain);
        if (cur && cur.version === b.manifest.version && cur.digest === b.digest) verified.set(domain, b); // named before a restart
        if (!cur || b.manifest.version > cur.version) {
          await history?.record(domain, b.manifest.version, b.digest);
          bundles.set(domain, { version: b.manifest.version, digest: b.digest });
          verified.set(domain, b);
          namedHere.unshift({ domain, version: b.manifest.version, digest: b.digest, named: new Date().toISOString() });
          // name it at once: nodes that activated it are stale until a beacon does
          await publish().catch((err: unknown) => log(`writ authority: beacon: ${errorMessage(err)}`));
        }
      } catch (err) {
        log(`writ authority: ignoring bundle for ${domain} (revision ${e.revision}): ${errorMessage(err)}`);
      }
    }, log);
  };
  await watchDomain(config.domain);
  const view = await watchFleet(fleet, config.authority.keys, log);
  view.onCertified((node, domain) => void watchDomain(domain).catch((err: unknown) => log(`writ authority: domain ${domain} (node ${node}): ${errorMessage(err)}`)));
  const rw = await fleet.kv.revocations.watch();
  drain('writ authority: revocations', rw, async (e) => {
    if (e.operation !== 'PUT') return;
    // only revocations nodes can apply count; a bad one would freeze the fleet as stale
    const r = await verifyRevocation(new TextDecoder().decode(e.value), config.authority.keys).catch(
      (err: unknown) => (log(`writ authority: ignoring revocation ${e.key}: ${errorMessage(err)}`), null),
    );
    if (r) {
      revocationVersion = Math.max(revocationVersion, e.revision);
      const value = r.kind === 'principal' || r.kind === 'quarantine' ? canonicalUidText(r.value) : r.value;
      revoked.push({ seq: e.revision, kind: r.kind, value });
    }
    if (r?.kind === 'node') view.isolate(r.value);
    await publish().catch(() => undefined);
  }, log);

  const timer = setInterval(() => void publish().catch((err: unknown) => log(`writ authority: beacon: ${errorMessage(err)}`)), o.beaconIntervalMs ?? 1000);
  await publish().catch((err: unknown) => log(`writ authority: beacon: ${errorMessage(err)}`));
  return {
    fleet,
    home: o.home,
    config,
    view,
    current: () => new Map(bundles),
    bundles: () => new Map(verified),
    named: async () => (history ? history.list() : [...namedHere]),
    async sendApprovalDecision(d) {
      await fleet.kv.approvals.put(kvKey(d.node, d.id), await signApprovalDecision(d, signer));
    },
    async close() {
      await history?.close();
      clearInterval(timer);
      for (const w of watching.values()) w.stop();
      view.stop();
      rw.stop();
      await fleet.close().catch(() => undefined);
    },
  };
}

/** The bundles an authority named current, per domain, in PostgreSQL (schema = fleet name). */
class AuthorityHistory {
  private readonly pool: pg.Pool;
  private readonly schema: string;

  constructor(url: string, schema: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    this.pool.on('error', () => undefined); // idle-connection errors: the next query reports
    this.schema = schema;
  }

  async load(): Promise<Map<string, { version: number; digest: string }>> {
    await applyDdl(this.pool, this.schema, `CREATE SCHEMA IF NOT EXISTS ${this.schema}; CREATE TABLE IF NOT EXISTS ${this.schema}.authority_bundles (domain TEXT NOT NULL, version BIGINT NOT NULL, digest TEXT NOT NULL, named TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (domain, version))`);
    const r = await this.pool.query<{ domain: string; version: string; digest: string }>(
      `SELECT DISTINCT ON (domain) domain, version, digest FROM ${this.schema}.authority_bundles ORDER BY domain, version DESC`,
    );
    return new Map(r.rows.map((row) => [row.domain, { version: Number(row.version), digest: row.digest }]));
  }

  async list(limit = 200): Promise<NamedBundle[]> {
    const r = await this.pool.query<{ domain: string; version: string; digest: string; named: Date }>(
      `SELECT domain, version, digest, named FROM ${this.schema}.authority_bundles ORDER BY named DESC, version DESC LIMIT $1`,
      [limit],
    );
    return r.rows.map((row) => ({ domain: row.domain, version: Number(row.version), digest: row.digest, named: row.named.toISOString() }));
  }

  /** Recorded before the beacon names it; a failure here means the bundle is not named. */
  async record(domain: string, version: number, digest: string): Promise<void> {
    await this.pool.query(`INSERT INTO ${this.schema}.authority_bundles (domain, version, digest) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [domain, version, digest]);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

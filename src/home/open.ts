/** Opens a home: the SQLite store, the ledger, the node state, the active policy and the node. */
import type { DatabaseSync } from 'node:sqlite';
import { availableParallelism } from 'node:os';
import { DecisionThreads } from '../node/decision-threads.ts';
import { readdirSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';
import { readPrivateKey } from '../authority/keys.ts';
import { certifiedJwk, verifyNodeCertificate } from '../node/node-certificate.ts';
import { openDatabase } from '../ledger/sqlite-batch.ts';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { TransparencyLog } from '../ledger/log.ts';
import { newSigner, newVerifier } from '../tlog/note.ts';
import { readFileSync } from 'node:fs';
import { ActivePolicy } from '../node/active-policy.ts';
import { GovernanceNode, type NodeLimits } from '../node/node.ts';
import { SqliteNodeState } from '../node/sqlite-state.ts';
import { SqliteRunningRegistry } from '../node/sqlite-running.ts';
import type { SigningKey } from '../policy/sign.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { FreshnessCheck } from '../node/freshness.ts';
import { layeredSingleUse, stateSingleUse, type SingleUseStore } from '../node/single-use.ts';
import type { AuthorityTrust } from '../policy/verify-bundle.ts';
import { BusLedger } from '../node/bus-ledger.ts';
import type { UsageMeter } from '../node/usage.ts';
import { paths, readConfig, type HomeConfig } from './config.ts';
import { fleetOnlyEvidence, homeFleet, homeKind } from './kind.ts';

export interface OpenHome {
  home: string;
  config: HomeConfig;
  db: DatabaseSync;
  /** the local SQLite ledger (the ledger of record in embedded mode) */
  ledger: SqliteLedger;
  /** where this node's evidence goes: `ledger`, or the fleet's stream */
  evidence: Ledger;
  state: SqliteNodeState;
  /** the executions running under this home's writs (issue 13; `writ ps`, the console) */
  running: SqliteRunningRegistry;
  trust: AuthorityTrust;
  node: GovernanceNode;
  jwks: JSONWebKeySet;
  log: TransparencyLog;
  close(): void;
}

/**
 * `writer: 'worker'` (for long-running servers) commits evidence on a worker thread so
 * fsyncs do not stall the event loop; one-shot commands use the inline writer.
 */
export async function openHome(
  home: string,
  o: {
    limits?: Partial<NodeLimits>;
    now?: () => Date;
    writer?: 'inline' | 'worker';
    /** fleet nodes: where evidence goes (the JetStream stream) instead of the local ledger */
    evidence?: Ledger;
    /** fleet nodes: the beacon rule */
    freshness?: FreshnessCheck;
    /** fleet nodes: the store every node consumes writs in (after this home's own state) */
    sharedSingleUse?: SingleUseStore;
    /** where usage counters are counted (fleet: the fleet's store); default: the node's own ledger if it is the whole log */
    usage?: UsageMeter;
    /**
     * Worker threads for Cedar and signing when decisions overlap (node/decision-threads.ts);
     * 0 (the default): none. Opt-in: a thread hop costs ~100 µs of CPU on some VMs, more
     * than Cedar and a signature save (docs/performance.md; `npm run bench` shows both).
     */
    decisionThreads?: number;
  } = {},
): Promise<OpenHome> {
  const config = readConfig(home);
  const p = paths(home);
  const cert = await verifyNodeCertificate(config.node.certificate, config.authority.keys);
  if (cert.sub !== config.nodeId || cert.jwk.kid !== config.node.kid) throw new Error('node certificate does not match this node');
  const jwks: JSONWebKeySet = { keys: [certifiedJwk(cert)] };
  const db = openDatabase(p.db);
  const ledger = new SqliteLedger(db, { writer: o.writer ?? 'inline', file: p.db });
  const state = new SqliteNodeState(db);
  const trust: AuthorityTrust = { keys: config.authority.keys, threshold: config.authority.threshold };
  const now = o.now ?? (() => new Date());
  // A fleet node's key signs writs only with evidence acknowledged by the fleet's stream:
  // opened any other way, its home decides nothing (src/home/kind.ts).
  const evidence = homeKind(home, config) === 'fleet-node' && !(o.evidence instanceof BusLedger) ? fleetOnlyEvidence(o.evidence ?? ledger, home, homeFleet(config).name) : (o.evidence ?? ledger);
  const privateKey = await readPrivateKey(p.nodeKey);
  const threadCount = o.decisionThreads ?? 0;
  const decisionThreads = threadCount > 0 ? new DecisionThreads({ size: threadCount, privateKey, kid: config.node.kid }) : null;
  const policy = new ActivePolicy({ state, ledger: evidence, trust, domain: config.domain, now });
  const node = new GovernanceNode({
    identity: { nodeId: config.nodeId, domain: config.domain, kid: config.node.kid, privateKey, verifierKeys: jwks },
    limits: {
      writLifetimeSeconds: config.writ.lifetimeSeconds,
      maxWritLifetimeSeconds: config.writ.maxLifetimeSeconds,
      clockSkewSeconds: config.writ.clockSkewSeconds,
      ...o.limits,
    },
    policy,
    ledger: evidence,
    state,
    now,
    ...(o.freshness && { freshness: o.freshness }),
    ...(o.sharedSingleUse && { singleUse: layeredSingleUse(stateSingleUse(state), o.sharedSingleUse) }),
    ...(decisionThreads && { decisionThreads }),
    ...(o.usage && { usage: o.usage }),
  });
  const log = new TransparencyLog(db, {
    origin: config.log.origin,
    verifier: newVerifier(config.log.verifierKey),
    signer: newSigner(readFileSync(p.logKey, 'utf8').trim()),
  });
  return {
    home, config, db, ledger, evidence, state, running: new SqliteRunningRegistry(db), trust, node, jwks, log,
    close: () => {
      void decisionThreads?.close();
      void ledger.close();
      db.close();
    },
  };
}

/** Decision threads for a server that opts in: every core but the one the event loop runs on (at least one). */
export function defaultDecisionThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** The authority's signing keys in this home (only the authority side needs them). */
export async function authoritySigningKeys(home: string, config: HomeConfig): Promise<SigningKey[]> {
  const files = readdirSync(paths(home).keys).filter((f) => /^authority-\d+\.key$/.test(f)).sort();
  const keys: SigningKey[] = [];
  for (const [i, jwk] of config.authority.keys.entries()) {
    const file = paths(home).authorityKey(i + 1);
    if (!files.includes(file.split('/').at(-1) as string)) continue;
    keys.push({ kid: jwk.kid as string, key: await readPrivateKey(file) });
  }
  return keys;
}

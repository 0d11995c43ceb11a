/** The fleet commands: `writ authority`, `writ node`, `writ policy push`, `writ fleet add-node`, `writ isolate`, `writ quarantine`, and `writ revoke --nats`. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { CertificateSet } from '../node/certificate-set.ts';
import { issueNodeCertificate, newKeyPair, writePrivateKey } from '../authority/keys.ts';
import { verifyNodeCertificate } from '../node/node-certificate.ts';
import { signRevocation } from '../authority/revocation.ts';
import { verifyRevocation } from '../node/revocation-message.ts';
import { paths, readConfig, writeConfig, HOME_FORMAT } from '../home/config.ts';
import { authoritySigningKeys } from '../home/open.ts';
import { encodeLeaf, LEAF_VERSION } from '../ledger/leaf.ts';
import { generateKey } from '../tlog/note.ts';
import type { RevocationKind } from '../node/state.ts';
import { verifyBundle } from '../policy/verify-bundle.ts';
import { buildApp } from '../server/app.ts';
import { runRevocation } from './revoke.ts';
import { buildAuthorityApp } from '../server/authority-app.ts';
import { homeCallerAccess } from '../server/caller-access.ts';
import { startAuthority } from '../sync/authority.ts';
import { startFleetNode } from '../sync/fleet-node.ts';
import { startSequencer } from '../sync/sequencer.ts';
import { witnessEndpointsOf, witnessOption } from './witness-option.ts';
import { BUNDLE_KEY, fleetNames, kvKey } from '../sync/nats/connection.ts';
import { gateConfigOf, gateOf, gateOption, startGateListeners } from './gate-option.ts';
import { otelOption, tracingOf } from './otel-option.ts';
import { connectNatsBus } from '../sync/nats/bus.ts';
import { readFleetLogVerifierKey } from '../ledger/log-identity.ts';
import { errorMessage, parseDuration, sha256Hex } from '../util.ts';
import { CliError, homeOf, homeOption, parsePositiveInt, printJson } from './common.ts';
import { homeFleet, markFleetAuthority } from '../home/kind.ts';
import { CONNECT_TIMEOUT_MS } from './home-kind.ts';
import { readTlsOptions, tlsOptions, type TlsFlags } from './tls-options.ts';

const NATS_DEFAULT = process.env.WRIT_NATS ?? 'nats://127.0.0.1:4222';
const FLEET_HELP = 'fleet name on the NATS server (buckets <fleet>_*, stream <FLEET>_EVIDENCE; default $WRIT_FLEET, else writ)';

/** --home, --nats and --fleet: what every fleet command needs. */
function fleetOptions(cmd: Command): Command {
  return homeOption(cmd.option('--nats <url>', 'NATS server', NATS_DEFAULT).option('--fleet <name>', FLEET_HELP));
}

function until(signal: 'SIGINT' | 'SIGTERM', stop: () => Promise<void>) {
  process.once(signal, () => void stop().then(() => process.exit(0)));
}

/** Publishes a signed revocation to the fleet and its evidence to the stream. */
export async function fleetRevoke(o: { home: string; nats: string; fleet?: string; kind: RevocationKind; value: string; reason: string }): Promise<{ revision: number; ledgerIndex: number }> {
  const config = readConfig(o.home);
  const [key] = await authoritySigningKeys(o.home, config);
  if (!key) throw new CliError(`${o.home} holds no authority key: revocations are signed by the authority`);
  // unreachable NATS fails the command, quickly: nothing was revoked, and nothing says it was
  const { bus } = await connectNatsBus(o.nats, { client: 'writ-revoke', ...(o.fleet && { fleet: o.fleet }), connectTimeoutMs: CONNECT_TIMEOUT_MS }).catch((err: unknown) => {
    throw new CliError(`cannot reach the fleet ${o.fleet ?? process.env.WRIT_FLEET ?? 'writ'} at ${o.nats} (${errorMessage(err)}): nothing was revoked`);
  });
  try {
    const jws = await signRevocation({ kind: o.kind, value: o.value, reason: o.reason }, key);
    const leaf = encodeLeaf({ type: 'revocation', v: LEAF_VERSION, time: new Date().toISOString(), kind: o.kind, value: o.value, reason: o.reason, by: 'authority', signed: jws });
    // its evidence first: a revocation in force always has its ledger entry
    const seq = await bus.evidence.publish(bus.evidenceSubject(config.domain, 'authority'), leaf, sha256Hex(leaf));
    const revision = await bus.revocations.put(kvKey(o.kind, o.value), jws);
    return { revision, ledgerIndex: seq - 1 };
  } finally {
    await bus.close();
  }
}

export function registerFleet(program: Command, policy: Command): void {
  fleetOptions(
    program
      .command('authority')
      .description('run the fleet authority: signed freshness beacons per domain (from the bundles pushed to NATS), and the fleet console over HTTP')
      .option('--pg <url>', "PostgreSQL: the authority's history of named bundles (its anti-rollback floor across restarts), and the fleet ledger the console shows", process.env.WRIT_PG)
      .option('--beacon-interval <d>', 'how often beacons are published', '1s')
      .option('--beacon-ttl <d>', 'how long a beacon is valid', '5s')
      .option('--port <port>', 'HTTP port of the fleet console (0: any)', '8780')
      .option('--host <host>', 'address to listen on', '127.0.0.1'),
  ).action(async (o: { home?: string; nats: string; fleet?: string; pg?: string; beaconInterval: string; beaconTtl: string; port: string; host: string }) => {
    const port = o.port === '0' ? 0 : parsePositiveInt(o.port, '--port');
    const a = await startAuthority({ home: homeOf(o), nats: o.nats, ...(o.fleet && { fleet: o.fleet }), ...(o.pg && { pg: o.pg }), beaconIntervalMs: parseDuration(o.beaconInterval), beaconTtlMs: parseDuration(o.beaconTtl) });
    // from now on this home revokes fleet-wide by default and decides nothing itself (src/home/kind.ts)
    markFleetAuthority(homeOf(o), { name: a.bus.name, nats: o.nats });
    const app = await buildAuthorityApp(a, { ...(o.pg && { pg: o.pg }) });
    const address = await app.listen({ port, host: o.host });
    process.stderr.write(`writ authority: publishing beacons on ${o.nats}; console on ${address}/console/ (listening on ${address})\n`);
    const stop = async () => {
      await app.close();
      await a.close();
    };
    until('SIGINT', stop);
    until('SIGTERM', stop);
  });

  fleetOptions(
    otelOption(tlsOptions(gateOption(program
      .command('node')
      .description('run a fleet node: policy from NATS, decisions local, evidence acknowledged by JetStream before any writ')
      .option('--port <port>', 'HTTP API port (0: any)', '8700')
      .option('--host <host>', 'address to listen on', '127.0.0.1')))),
  ).action(async (o: { home?: string; nats: string; fleet?: string; port: string; host: string; gate?: string; otel?: boolean | string } & TlsFlags) => {
    const https = readTlsOptions(o);
    // read before the node starts: a gate that cannot be configured stops here
    const gateConfig = gateConfigOf(o.gate, 'writ node');
    const n = await startFleetNode({ home: homeOf(o), nats: o.nats, ...(o.fleet && { fleet: o.fleet }) });
    const h = n.home;
    const gate = gateOf(gateConfig, { node: h.node, ledger: h.evidence });
    const tracing = tracingOf(o, (s) => process.stderr.write(`writ node ${h.config.nodeId}: ${s}\n`)); // buildApp traces with it
    const app = await buildApp({ node: h.node, ledger: h.evidence, state: h.state, jwks: h.jwks, adminTokenSha256: h.config.admin.tokenSha256, log: h.log, logger: false, nodeStatus: n.status, fleet: n.bus.name, stats: n.stats, callers: homeCallerAccess(h.db), running: h.running, revocationList: () => n.revocationList(), ...(https && { https }), ...(gate && { gate }) });
    const address = await app.listen({ port: o.port === '0' ? 0 : parsePositiveInt(o.port, '--port'), host: o.host });
    const log = (s: string) => process.stderr.write(`writ node ${h.config.nodeId}: ${s}\n`);
    const grpcServer = await startGateListeners(gate, address, log);
    n.advertise(address);
    log(`listening on ${address}`);
    const stop = async () => {
      await grpcServer?.close();
      await app.close();
      await n.close();
      await tracing?.shutdown(); // flushes the queued spans
    };
    until('SIGINT', stop);
    until('SIGTERM', stop);
  });

  fleetOptions(
    policy
      .command('push <file>')
      .description("publish a signed bundle to the fleet (its domain's bucket); prints the consistency token (--min-version) to wait for it")
      .option('--json', 'machine-readable output'),
  ).action(async (file: string, o: { home?: string; nats: string; fleet?: string; json?: boolean }) => {
    const config = readConfig(homeOf(o));
    const bytes = readFileSync(file);
    const b = await verifyBundle(bytes, { trust: { keys: config.authority.keys, threshold: config.authority.threshold }, now: new Date() }).catch((err: unknown) => {
      throw new CliError(`refused: ${(err as { code?: string }).code ?? 'bundle_malformed'}: ${errorMessage(err)}`);
    });
    const { bus } = await connectNatsBus(o.nats, { client: 'writ-push', ...(o.fleet && { fleet: o.fleet }) });
    try {
      const revision = await (await bus.bundles(b.manifest.domain)).put(BUNDLE_KEY, bytes);
      const out = { pushed: true, domain: b.manifest.domain, version: b.manifest.version, digest: b.digest, revision, minVersion: b.manifest.version };
      if (o.json) printJson(out);
      else process.stdout.write(`pushed ${file}: domain ${out.domain}, version ${out.version}; consistency token: --min-version ${out.minVersion}\n`);
    } finally {
      await bus.close();
    }
  });

  fleetOptions(
    witnessOption(program
      .command('sequencer')
      .description("build the fleet's Merkle ledger in PostgreSQL from the evidence stream; sign checkpoints; have them cosigned by witnesses (--witness); serve proofs")
      .option('--pg <url>', 'PostgreSQL connection string', process.env.WRIT_PG ?? 'postgres://root@127.0.0.1:5432/test')
      .option('--port <port>', 'HTTP port for checkpoints and proofs (0: any)', '8790')
      .option('--host <host>', 'address to listen on', '127.0.0.1')),
  ).action(async (o: { home?: string; nats: string; fleet?: string; pg: string; port: string; host: string; witness?: string[] }) => {
    const witnesses = witnessEndpointsOf(o.witness, 'writ sequencer');
    const s = await startSequencer({ home: homeOf(o), nats: o.nats, pg: o.pg, ...(o.fleet && { fleet: o.fleet }), port: o.port === '0' ? 0 : parsePositiveInt(o.port, '--port'), host: o.host, witnesses });
    const address = s.app.server.address();
    process.stderr.write(`writ sequencer: listening on http://${o.host}:${typeof address === 'object' && address ? address.port : o.port}; ledger in PostgreSQL schema ${s.log.schema}\n`);
    if (s.witnesses) process.stderr.write(`writ sequencer: witnesses: ${s.witnesses.status().map((w) => `${w.name} at ${w.url}`).join(', ')}\n`);
    until('SIGINT', s.close);
    until('SIGTERM', s.close);
  });

  const fleetCmd = program.command('fleet').description('fleet administration');
  fleetOptions(
    fleetCmd
      .command('keys')
      .description("print the fleet's writ keys as a JWKS: every node certificate in NATS that verifies against this home's pinned authority keys, newest per node, unexpired, not isolated — what to pin to verify any node's writs")
      .option('--log', "instead: the fleet log's signed-note verifier key (origin writ.fleet/<fleet>/<domain>), to pin for the sequencer's checkpoints"),
  ).action(async (o: { home?: string; nats: string; fleet?: string; log?: boolean }) => {
    const config = readConfig(homeOf(o));
    if (o.log) {
      const fleetName = o.fleet ?? process.env.WRIT_FLEET ?? 'writ';
      fleetNames(fleetName); // validates the name before it becomes part of a file name
      const vkey = readFleetLogVerifierKey(homeOf(o), fleetName);
      if (!vkey) throw new CliError(`${homeOf(o)} holds no key of the fleet log of ${fleetName} yet: \`writ sequencer --home ${homeOf(o)}\` generates it at its first start`);
      process.stdout.write(`${vkey}\n`);
      return;
    }
    const { bus } = await connectNatsBus(o.nats, { client: 'writ-keys', ...(o.fleet && { fleet: o.fleet }) });
    try {
      const text = (v: Uint8Array) => new TextDecoder().decode(v);
      const certs = new CertificateSet((node) => kvKey(node));
      // every kept revision: the newest certificate of a node stands, whatever was put last
      for (const e of await bus.certificates.list({ history: true })) {
        const cert = await verifyNodeCertificate(text(e.value), config.authority.keys).catch(() => null);
        if (cert) certs.offer(e.key, cert);
      }
      const isolated = new Set<string>();
      for (const e of await bus.revocations.list()) {
        const r = await verifyRevocation(text(e.value), config.authority.keys).catch(() => null);
        if (r?.kind === 'node') isolated.add(r.value);
      }
      printJson({ keys: certs.all(Date.now()).filter((c) => !isolated.has(c.node)).map((c) => c.jwk) });
    } finally {
      await bus.close();
    }
  });

  homeOption(
    fleetCmd
      .command('add-node')
      .description("create a node home certified by this home's authority key")
      .requiredOption('--node-id <id>', 'the new node id')
      .requiredOption('--out <dir>', 'the new node home')
      .option('--domain <name>', "the node's domain (default: the authority home's)")
      .option('--valid <d>', 'certificate lifetime', '365d')
      .option('--nats <url>', "the fleet's NATS server, recorded in the node home (default: the authority home's, else $WRIT_NATS, else nats://127.0.0.1:4222)")
      .option('--fleet <name>', "the fleet, recorded in the node home (default: the authority home's, else $WRIT_FLEET, else writ)"),
  ).action(async (o: { home?: string; nodeId: string; out: string; domain?: string; valid: string; nats?: string; fleet?: string }) => {
    const home = homeOf(o);
    const config = readConfig(home);
    const recorded = homeFleet(config);
    const fleetOf = { name: o.fleet ?? recorded.name, nats: o.nats ?? recorded.nats };
    fleetNames(fleetOf.name); // validates it before it is recorded
    const [key] = await authoritySigningKeys(home, config);
    if (!key) throw new CliError(`${home} holds no authority key`);
    // one log, one origin: the node's local log may not share a name with this home's
    if (`writ.local/${o.domain ?? config.domain}/${o.nodeId}` === config.log.origin) throw new CliError(`node id ${o.nodeId} would give the node's log the origin ${config.log.origin} of this home's own log: choose another node id`);
    const p = paths(o.out);
    mkdirSync(p.keys, { recursive: true, mode: 0o700 });
    const nodeKey = await newKeyPair();
    writePrivateKey(p.nodeKey, nodeKey.pkcs8);
    const domain = o.domain ?? config.domain;
    const certificate = await issueNodeCertificate({ id: o.nodeId, domain, jwk: nodeKey.publicJwk }, key, Math.floor(parseDuration(o.valid) / 1000));
    const adminToken = `writ_admin_${randomBytes(32).toString('base64url')}`;
    writeFileSync(p.adminToken, adminToken + '\n', { mode: 0o600 });
    const origin = `writ.local/${domain}/${o.nodeId}`;
    const logKey = generateKey(origin);
    writeFileSync(p.logKey, logKey.signerKey + '\n', { mode: 0o600 });
    writeConfig(o.out, {
      format: HOME_FORMAT,
      nodeId: o.nodeId,
      domain,
      authority: config.authority,
      node: { kid: nodeKey.kid, certificate },
      admin: { tokenSha256: sha256Hex(adminToken) },
      log: { origin, verifierKey: logKey.verifierKey },
      writ: config.writ,
      // its decision commands go through the fleet, never into its own ledger (src/home/kind.ts)
      kind: 'fleet-node',
      fleet: fleetOf,
    });
    // a home that certifies fleet nodes is that fleet's authority
    markFleetAuthority(home, fleetOf);
    process.stdout.write(`created node home ${o.out}: node ${o.nodeId}, domain ${domain}, certified by ${key.kid}\n`);
  });

  for (const [name, kind, what] of [
    ['isolate', 'node', 'revoke a node key fleet-wide: its writs stop verifying everywhere'],
    ['quarantine', 'quarantine', 'stop every decision for a principal fleet-wide'],
  ] as const) {
    homeOption(
      program
        .command(`${name} <value>`)
        .description(what)
        .option('--nats <url>', "fleet-wide through this NATS server (default on a fleet authority's home: the one recorded in it; on an embedded home the revocation is local)")
        .option('--fleet <name>', FLEET_HELP)
        .option('--reason <text>', 'recorded with it', `${name}d by operator`),
    ).action(async (value: string, o: { home?: string; nats?: string; fleet?: string; reason: string }) => {
      // on an embedded home, locally: never published to a fleet the home is not part of
      await runRevocation({ home: homeOf(o), command: name, past: `${name}d`, kind, value, reason: o.reason, ...(o.nats && { nats: o.nats }), ...(o.fleet && { fleet: o.fleet }) });
    });
  }
}

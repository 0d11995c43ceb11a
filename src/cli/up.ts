/** `writ up`: the embedded governance server (authority, node and ledger in one process). */
import { startHomeUpkeep } from '../home/upkeep.ts';
import { notifyApprovals } from '../node/approval-webhook.ts';
import { webhookOf } from './mcp.ts';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { paths, readConfig } from '../home/config.ts';
import { homeFleet, homeKind } from '../home/kind.ts';
import { initHome } from '../home/init.ts';
import { openHome } from '../home/open.ts';
import { ensureDemoPolicy } from '../demo/policy.ts';
import { DemoRunner } from '../demo/runner.ts';
import { sandboxScope } from '../demo/scope.ts';
import { buildApp } from '../server/app.ts';
import { homeCallerAccess } from '../server/caller-access.ts';
import type { ExtAuthzServer } from '../server/ext-authz-grpc.ts';
import { errorMessage } from '../util.ts';
import { CliError, EXIT, homeOf, homeOption, parsePositiveInt } from './common.ts';
import { runScenario } from './demo.ts';
import { readTlsOptions, tlsOptions, type TlsFlags } from './tls-options.ts';
import { gateConfigOf, gateOf, gateOption, startGateListeners } from './gate-option.ts';
import { logWitnessingOf, witnessEndpointsOf, witnessOption } from './witness-option.ts';
import { otelOption, tracingOf } from './otel-option.ts';

/** The demo's sandbox principals: the only ones `writ up --demo` lets a request without a caller token name (docs/http-api.md). */
const demoPrincipals = (): string[] => sandboxScope().principals;

/** A fleet home serves as `writ node` or `writ authority`: `writ up` there would decide into a private ledger. */
function refuseFleetHome(home: string): void {
  const config = readConfig(home);
  const kind = homeKind(home, config);
  if (kind === 'embedded') return;
  const fleet = homeFleet(config).name;
  throw new CliError(kind === 'fleet-node' ? `writ up: ${home} is a node home of fleet ${fleet}: run \`writ node --home ${home}\`` : `writ up: ${home} is the authority home of fleet ${fleet}: run \`writ authority --home ${home}\``, EXIT.usage);
}

export function registerUp(program: Command): void {
  homeOption(
    otelOption(witnessOption(tlsOptions(gateOption(program
      .command('up')
      .description('run the embedded governance server: HTTP API, JWKS, health, metrics, OpenAPI at /openapi.json')
      .option('--port <port>', 'TCP port', '8700')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--demo', 'initialize the home if needed, activate the demo policy if no valid bundle is active, and let requests without a caller token authorize the demo\'s sandbox agents (open demo)')
      .option('--demo-run', 'with --demo: once listening, run the demo\'s scenario once and print its transcript (as `writ demo` does; npm start does this)')
      .option('--approval-webhook <url>', 'POST each approval request (JSON: approvalId, principal, action, resource, args, intent, expires) here; failures are logged, never blocking')
      .option('--quiet', 'no request logs'))))),
  ).action(async (o: { home?: string; port: string; host: string; demo?: boolean; demoRun?: boolean; quiet?: boolean; approvalWebhook?: string; gate?: string; witness?: string[]; otel?: boolean | string } & TlsFlags) => {
    const home = homeOf(o);
    const https = readTlsOptions(o);
    // read before the home opens: a gate that cannot be configured stops here
    const gateConfig = gateConfigOf(o.gate, 'writ up');
    const witnessEndpoints = witnessEndpointsOf(o.witness, 'writ up');
    const webhook = webhookOf(o.approvalWebhook);
    const log = (s: string) => process.stderr.write(`writ: ${s}\n`);
    if (o.demo && !existsSync(paths(home).config)) {
      await initHome({ home });
      log(`initialized ${home} (admin credential in ${paths(home).adminToken})`);
    }
    refuseFleetHome(home);
    const h = await openHome(home, { writer: 'worker' });
    if (o.demo) await ensureDemoPolicy(h, log);
    if (webhook) notifyApprovals(h.node, h.state, webhook, log);
    const callers = { ...homeCallerAccess(h.db), ...(o.demo && { openDemoPrincipals: demoPrincipals() }) };
    if (callers.openDemoPrincipals) log(`OPEN DEMO: requests without a caller token may authorize ${callers.openDemoPrincipals.join(', ')} (verify and outcome still need a verify-role token); do not use --demo outside a sandbox`);
    const gate = gateOf(gateConfig, { node: h.node, ledger: h.ledger });
    // the cosignatures are stored with the home's checkpoints: a restart serves them without asking again
    const witnesses = logWitnessingOf(witnessEndpoints, h.log.store, log);
    // before the app is built: it traces with the tracing started here (off by default)
    const tracing = tracingOf(o, log);
    const demo = o.demo ? new DemoRunner({ node: h.node, ledger: h.ledger, state: h.state, running: h.running, home, log: (l) => log(`demo: ${l.replace(/^writ( mcp)?: /, '')}`) }) : null;
    const app = await buildApp({ node: h.node, ledger: h.ledger, state: h.state, jwks: h.jwks, adminTokenSha256: h.config.admin.tokenSha256, log: h.log, logger: !o.quiet, callers, running: h.running, ...(https && { https }), ...(gate && { gate }), ...(demo && { demo }), ...(witnesses && { witnesses }) });
    // every second: bundles activated by other processes, and a checkpoint if the log grew (handed to the witnesses)
    const stopUpkeep = startHomeUpkeep(h, log, 1000, witnesses);
    const port = o.port === '0' ? 0 : parsePositiveInt(o.port, '--port');
    let grpcServer: ExtAuthzServer | null = null;
    try {
      const address = await app.listen({ port, host: o.host });
      grpcServer = await startGateListeners(gate, address, log);
      log(`listening on ${address} (OpenAPI: ${address}/openapi.json); home ${home}`);
      if (witnesses) log(`witnesses: ${witnesses.status().map((w) => `${w.name} at ${w.url}`).join(', ')}`);
      log(`console: ${address}/console/${demo ? ` — the Runtime Governance Demo: ${address}/console/#/demo` : ''}`);
      if (demo && o.demoRun) {
        void runScenario(demo, { out: (l) => process.stdout.write(l + '\n') }).then(
          (r) => log(`demo: ${r.failures === 0 ? `all ${r.chains.length} steps as expected` : `${r.failures} step(s) not as expected`}; each chain: ${address}/console/#/demo`),
          (err: unknown) => log(`demo: the scenario failed: ${errorMessage(err)}`),
        );
      }
    } catch (err) {
      stopUpkeep();
      await app.close();
      await demo?.close();
      throw new CliError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(err)}`, EXIT.error);
    }
    const stop = async () => {
      stopUpkeep();
      await grpcServer?.close();
      await app.close();
      await demo?.close();
      await tracing?.shutdown(); // flushes the queued spans
      h.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop());
    process.once('SIGTERM', () => void stop());
  });
}

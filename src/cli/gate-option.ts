/**
 * `--gate <file>`: the HTTP gate (docs/http-gateway.md) for any command that serves a node's
 * HTTP API (`writ up`; `writ node` by the same three lines). The configuration is read before
 * anything starts — one that cannot be used is a usage error, not a gate that half works —
 * and the gRPC listener, if configured, starts once the HTTP server listens.
 */
import type { Command } from 'commander';
import { GateConfigError, readGateConfig, type GateConfig } from '../enforce/http-gate/config.ts';
import { HttpGate } from '../enforce/http-gate/gate.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { GovernanceNode } from '../node/node.ts';
import { startExtAuthzGrpc, type ExtAuthzServer } from '../server/ext-authz-grpc.ts';
import { EXT_AUTHZ_PREFIX, FORWARD_AUTH_PATH } from '../server/forward-auth.ts';
import { CliError, EXIT } from './common.ts';

export function gateOption(cmd: Command): Command {
  return cmd.option('--gate <file>', 'serve the HTTP gate (nginx auth_request, Traefik, Caddy, Envoy ext_authz HTTP and gRPC) with this configuration (docs/http-gateway.md)');
}

/** The configuration of `--gate <file>`, or null without the option; `what` names the command in errors. */
export function gateConfigOf(file: string | undefined, what: string): GateConfig | null {
  if (file === undefined) return null;
  try {
    return readGateConfig(file);
  } catch (err) {
    if (err instanceof GateConfigError) throw new CliError(`${what}: ${err.message}`, EXIT.usage);
    throw err;
  }
}

/** The gate deciding with this node and ledger, or null without a configuration. */
export function gateOf(config: GateConfig | null, deps: { node: GovernanceNode; ledger: Ledger }): HttpGate | null {
  return config === null ? null : new HttpGate({ ...deps, config });
}

/** After the HTTP server listens at `address`: logs the endpoints and starts the gRPC listener, if any. */
export async function startGateListeners(gate: HttpGate | null, address: string, log: (s: string) => void): Promise<ExtAuthzServer | null> {
  if (gate === null) return null;
  log(`HTTP gate: ${address}${FORWARD_AUTH_PATH} (nginx, Traefik, Caddy), ${address}${EXT_AUTHZ_PREFIX} (Envoy HTTP service); ${gate.config.routes.length} route(s)`);
  const grpc = gate.config.grpc;
  if (grpc === null) return null;
  try {
    const server = await startExtAuthzGrpc(gate, grpc);
    log(`HTTP gate: Envoy ext_authz gRPC (envoy.service.auth.v3.Authorization) on ${grpc.host}:${server.port}`);
    return server;
  } catch (err) {
    throw new Error(`the gate's gRPC listener ${grpc.host}:${grpc.port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

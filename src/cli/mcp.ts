/** `writ mcp`: the MCP governance proxy, over stdio or Streamable HTTP. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { serveHttpProxy, upstreamTransport, type Upstream } from '../enforce/mcp/http.ts';
import { McpGovernor } from '../enforce/mcp/governor.ts';
import { jwtIdentifier, mcpJwtIssuer } from '../enforce/mcp/jwt-identity.ts';
import { joinThroughGovernor } from '../enforce/mcp/proxy.ts';
import { printPins } from '../enforce/mcp/print-pins.ts';
import { IJsonStdioServerTransport } from '../enforce/mcp/stdio.ts';
import { openHome } from '../home/open.ts';
import { notifyApprovals, parseApprovalWebhook } from '../node/approval-webhook.ts';
import { parseUid } from '../canonical/uid.ts';
import { errorMessage, isRecord, parseDuration, sha256Hex } from '../util.ts';
import { CliError, EXIT, homeOf, homeOption, parsePositiveInt } from './common.ts';
import { otelOption, tracingOf } from './otel-option.ts';

interface McpFlags {
  home?: string;
  principal?: string;
  serverName?: string;
  approvalTimeout: string;
  approvalProgress: string;
  approvalWebhook?: string;
  freshnessGrace?: string;
  listen?: string;
  host: string;
  upstream?: string;
  tokens?: string;
  oidcIssuer?: string;
  oidcAudience?: string;
  oidcPrincipalType?: string;
  jwksFile?: string;
  jwksUri?: string;
  requireAtJwt?: boolean;
  otel?: boolean | string;
  printPins?: boolean;
}

/** A JSON file {"<token>": "<principal uid>"}; kept in memory only as sha256(token). */
function readTokens(file: string): Map<string, string> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`--tokens ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  if (!isRecord(v)) throw new CliError(`--tokens ${file}: expected {"<token>": "<principal>"}`, EXIT.usage);
  const out = new Map<string, string>();
  for (const [token, principal] of Object.entries(v)) {
    if (typeof principal !== 'string' || !parseUid(principal)) throw new CliError(`--tokens ${file}: ${JSON.stringify(principal)} is not a Cedar UID`, EXIT.usage);
    out.set(sha256Hex(token), principal);
  }
  return out;
}

/** `--oidc-issuer` and its companions: the verifier of bearer JWTs, or undefined without them. */
function jwtOption(o: McpFlags): ReturnType<typeof jwtIdentifier> | undefined {
  if (o.oidcIssuer === undefined) {
    if (o.oidcAudience ?? o.oidcPrincipalType ?? o.jwksFile ?? o.jwksUri ?? o.requireAtJwt) throw new CliError('--oidc-audience, --oidc-principal-type, --jwks-file, --jwks-uri and --require-at-jwt need --oidc-issuer', EXIT.usage);
    return undefined;
  }
  if (o.oidcAudience === undefined) throw new CliError('--oidc-issuer needs --oidc-audience (the aud its tokens for this proxy carry)', EXIT.usage);
  try {
    return jwtIdentifier(mcpJwtIssuer({ issuer: o.oidcIssuer, audience: o.oidcAudience, ...(o.oidcPrincipalType !== undefined && { principalType: o.oidcPrincipalType }), ...(o.jwksFile !== undefined && { jwksFile: o.jwksFile }), ...(o.jwksUri !== undefined && { jwksUri: o.jwksUri }), ...(o.requireAtJwt === true && { requireAccessToken: true }) }));
  } catch (err) {
    throw new CliError(errorMessage(err), EXIT.usage);
  }
}

/** `--approval-webhook`, checked before the home opens. */
export function webhookOf(text: string | undefined): URL | null {
  if (text === undefined) return null;
  try {
    return parseApprovalWebhook(text);
  } catch (err) {
    throw new CliError(errorMessage(err), EXIT.usage);
  }
}

export function registerMcp(program: Command): void {
  homeOption(otelOption(
    program
      .command('mcp')
      .description('govern an MCP server: every tools/call, resources/read and prompts/get is authorized before it reaches the server')
      .option('--principal <uid>', 'who the client acts as (e.g. Agent::"claude"); over HTTP, the default for requests without a bearer token')
      .option('--server-name <name>', "the server's name in resources (Tool::\"<name>/<tool>\"); default: the name it announces")
      .option('--approval-timeout <duration>', 'how long a call waits for human approval (under the 60 s request timeout of common MCP clients)', '50s')
      .option('--approval-progress <duration>', 'how often a call awaiting approval sends the client progress (if its request carried a progressToken)', '5s')
      .option('--approval-webhook <url>', 'POST each approval request (JSON: approvalId, principal, action, resource, args, intent, expires) here; failures are logged, never blocking')
      .option('--freshness-grace <duration>', 'how long a call goes on after the node lost freshness before it is terminated (default: the node\'s, 5s)')
      .option('--listen <port>', 'serve Streamable HTTP on this port instead of stdio')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--upstream <url>', 'with --listen: a Streamable HTTP MCP server to govern (instead of a command)')
      .option('--tokens <file>', 'with --listen: JSON {"<bearer token>": "<principal uid>"}')
      .option('--oidc-issuer <url>', 'with --listen: bearer JWTs from this issuer name the principal <type>::"<sub>" (docs/mcp.md, "Identity over HTTP")')
      .option('--oidc-audience <aud>', 'with --oidc-issuer: the aud the tokens must carry')
      .option('--oidc-principal-type <type>', 'with --oidc-issuer: the principal\'s entity type (default Agent)')
      .option('--jwks-file <file>', "with --oidc-issuer: the issuer's public keys (default: discovered from the issuer)")
      .option('--jwks-uri <url>', "with --oidc-issuer: where the issuer's keys are fetched from")
      .option('--require-at-jwt', 'with --oidc-issuer: accept only RFC 9068 access tokens (header typ at+jwt), not ID tokens or other JWTs of the issuer')
      .option('--print-pins', "list the server's tools, prompts and resource templates once and print them as an mcp-pins.json (tool-digest v1, docs/mcp.md), then exit; governs nothing, opens no home")
      .argument('[command...]', 'the stdio MCP server to run and govern')
      .usage('[options] -- <command> [args...]  |  --listen <port> (--upstream <url> | -- <command> [args...])')),
  ).action(async (command: string[], o: McpFlags) => {
    const log = (line: string) => process.stderr.write(line + '\n');
    if (o.principal !== undefined && !parseUid(o.principal)) throw new CliError(`--principal must be a Cedar UID such as Agent::"claude"`, EXIT.usage);
    const [cmd, ...args] = command;
    if (o.upstream && cmd) throw new CliError('give either --upstream or a command, not both', EXIT.usage);
    if (o.upstream && !o.listen && !o.printPins) throw new CliError('--upstream needs --listen (stdio mode runs a command)', EXIT.usage);
    const upstream: Upstream | null = o.upstream ? { url: o.upstream } : cmd ? { command: cmd, args } : null;
    if (!upstream) throw new CliError('give the MCP server to govern: -- <command> [args...] (or --upstream <url> with --listen)', EXIT.usage);
    if (o.printPins) {
      const pins = await printPins(upstreamTransport(upstream), { ...(o.serverName && { serverName: o.serverName }) }).catch((err: unknown) => {
        throw new CliError(`writ mcp --print-pins: ${errorMessage(err)}`, EXIT.error);
      });
      process.stdout.write(`${JSON.stringify(pins, null, 2)}\n`);
      return;
    }
    // One stdio client sends one call at a time: committing on this thread saves the two
    // thread hops of the writer worker on every decision. Over HTTP, many sessions share
    // the process, so fsyncs go to the worker and never stall the event loop.
    const webhook = webhookOf(o.approvalWebhook);
    const h = await openHome(homeOf(o), { writer: o.listen ? 'worker' : 'inline' });
    if (webhook) notifyApprovals(h.node, h.state, webhook, (l) => log(`writ mcp: ${l}`));
    const tracing = tracingOf(o, log); // off by default; flushed before exit
    const common = {
      node: h.node,
      ledger: h.ledger,
      state: h.state,
      running: h.running,
      approvalTimeoutMs: parseDuration(o.approvalTimeout),
      approvalProgressMs: parseDuration(o.approvalProgress),
      ...(o.freshnessGrace !== undefined && { freshnessGraceMs: parseDuration(o.freshnessGrace) }),
      log,
      ...(o.serverName && { serverName: o.serverName }),
      ...(tracing && { tracer: tracing.tracer }),
    };
    if (o.listen) {
      const tokens = o.tokens ? readTokens(o.tokens) : undefined;
      const jwt = jwtOption(o);
      if (!o.principal && !tokens && !jwt) throw new CliError('--listen needs --principal, --tokens or --oidc-issuer', EXIT.usage);
      const port = o.listen === '0' ? 0 : parsePositiveInt(o.listen, '--listen');
      const s = await serveHttpProxy({ ...common, port, host: o.host, upstream, ...(o.principal && { principal: o.principal }), ...(tokens && { tokens }), ...(jwt && { jwt }) });
      log(`writ mcp: listening on ${s.url}`);
      const stop = () => void s.close().then(() => tracing?.shutdown()).then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
    if (!o.principal) throw new CliError('--principal is required in stdio mode', EXIT.usage);
    const governor = new McpGovernor({ ...common, principal: o.principal, session: randomUUID() });
    // client lines are read as I-JSON (docs/json.md): the SDK's transport would round 9007199254740993 to …992
    const proxy = await joinThroughGovernor(new IJsonStdioServerTransport(), upstreamTransport(upstream), governor, { log });
    // the client closing stdin, or a signal, ends the session (the upstream server is stopped too)
    const stop = () => void proxy.close();
    process.stdin.once('end', stop);
    process.stdin.once('close', stop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await proxy.closed;
    await tracing?.shutdown();
    h.close();
    process.exit(0);
  });
}

/**
 * `writ/mcp-server`: the executor-side check for MCP servers written with the SDK.
 * Installs a guard in front of the server's handlers for tools/call, resources/read
 * and prompts/get: before a handler runs, the writ in params._meta["writ/authorization"]
 * is verified with verifyWrit — pinned keys, audience `mcp:<server>`, the action and
 * resource this call is, the intent recomputed from the arguments the server actually
 * received, single use. A call without a valid writ is refused with a JSON-RPC error
 * and its handler never runs.
 *
 *   const server = new McpServer({ name: 'files', version: '1.0.0' });
 *   requireWrits(server.server, { keys: jwks, serverName: 'files' });   // before registering tools
 *   server.registerTool(...)
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { getMethodLiteral } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { memoryJtiStore, verifyWrit, WritVerificationError, type VerifyWritOptions } from '../../writ/verify.ts';
import { governed, mcpAudience, mcpResource, WRIT_DENIED, WRIT_META } from './names.ts';

/**
 * Beside a Writ node, pass `node.verifierOptions()`: single use is then the node's (fleet-wide
 * in a fleet) and a node that cannot prove its state current refuses every call (`stale_policy`).
 */
export interface WritGuardOptions extends Pick<VerifyWritOptions, 'keys' | 'isRevoked' | 'clockToleranceSeconds' | 'maxLifetimeSeconds' | 'isConsumed' | 'stale' | 'acceptDomain'> {
  /** the name the proxy uses for this server (its announced name unless the proxy overrides it) */
  serverName: string;
  /** single-use store; default: in memory, for this process */
  consume?: VerifyWritOptions['consume'];
}

type Handler = Parameters<Server['setRequestHandler']>[1];
type Schema = Parameters<Server['setRequestHandler']>[0];

/** Guards the governed methods of `server`. Call it before registering handlers or tools. */
export function requireWrits(server: Server, o: WritGuardOptions): void {
  const consume = o.consume ?? memoryJtiStore();
  const original = server.setRequestHandler.bind(server);
  const guarded = (schema: Schema, handler: Handler) => {
    const g = governed(getMethodLiteral(schema));
    if (!g) return original(schema, handler);
    return original(schema, (async (request: { params?: Record<string, unknown> }, extra: unknown) => {
      const params = request.params ?? {};
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      try {
        await verifyWrit(meta[WRIT_META], {
          ...o,
          consume,
          audience: mcpAudience(o.serverName),
          args: g.args(params),
          expect: { action: g.action, resource: mcpResource(g.type, o.serverName, String(g.name(params))) },
        });
      } catch (err) {
        const reason = err instanceof WritVerificationError ? err.code : 'writ_malformed';
        throw new McpError(WRIT_DENIED, `writ required: ${reason}: ${(err as Error).message}`, { reasons: [reason] });
      }
      return (handler as (r: unknown, e: unknown) => unknown)(request, extra);
    }) as Handler);
  };
  server.setRequestHandler = guarded as Server['setRequestHandler'];
}

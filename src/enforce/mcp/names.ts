/**
 * How MCP calls map to Cedar requests (docs/mcp.md). Shared by the proxy and by the
 * executor-side middleware, which must compute the same action, resource and args.
 *   tools/call      Action::"tools/call"      Tool::"<server>/<tool name>"        args = params.arguments
 *   resources/read  Action::"resources/read"  Resource::"<server>/<uri>"          args = {uri}
 *   prompts/get     Action::"prompts/get"     Prompt::"<server>/<prompt name>"    args = params.arguments
 * The writ's audience is `mcp:<server>`.
 */
export const WRIT_META = 'writ/authorization';
export const WRIT_PARENT_META = 'writ/parent';
/** JSON-RPC error code of a call Writ refused (in the implementation-defined server error range). */
export const WRIT_DENIED = -32003;

type Params = Record<string, unknown>;

export interface Governed {
  method: string;
  action: string;
  type: 'Tool' | 'Resource' | 'Prompt';
  name: (p: Params) => unknown;
  args: (p: Params) => unknown;
}

const GOVERNED_METHODS: Record<string, Governed> = {
  'tools/call': { method: 'tools/call', action: 'Action::"tools/call"', type: 'Tool', name: (p) => p.name, args: (p) => p.arguments ?? {} },
  'resources/read': { method: 'resources/read', action: 'Action::"resources/read"', type: 'Resource', name: (p) => p.uri, args: (p) => ({ uri: p.uri }) },
  'prompts/get': { method: 'prompts/get', action: 'Action::"prompts/get"', type: 'Prompt', name: (p) => p.name, args: (p) => p.arguments ?? {} },
};

const LISTED_METHODS: Record<string, { key: string; action: string; type: string; name: (item: Params) => unknown }> = {
  'tools/list': { key: 'tools', action: 'Action::"tools/call"', type: 'Tool', name: (t) => t.name },
  'resources/list': { key: 'resources', action: 'Action::"resources/read"', type: 'Resource', name: (r) => r.uri },
  'prompts/list': { key: 'prompts', action: 'Action::"prompts/get"', type: 'Prompt', name: (p) => p.name },
};

/** The governed method of this name, if any (own keys only: `constructor` is no method). */
export function governed(method: string): Governed | undefined {
  return Object.hasOwn(GOVERNED_METHODS, method) ? GOVERNED_METHODS[method] : undefined;
}

/** The list method of this name whose results are filtered, if any. */
export function listed(method: string): (typeof LISTED_METHODS)[string] | undefined {
  return Object.hasOwn(LISTED_METHODS, method) ? LISTED_METHODS[method] : undefined;
}

export function mcpAudience(server: string): string {
  return `mcp:${server}`;
}

export function mcpResource(type: string, server: string, name: string): string {
  return `${type}::${JSON.stringify(`${server}/${name}`)}`;
}

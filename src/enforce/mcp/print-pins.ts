/**
 * `writ mcp --print-pins`: what an MCP server lists now, as an mcp-pins.json (docs/mcp.md,
 * "Tool-definition pinning") — every tool, prompt and resource template with its
 * tool-digest v1, computed from the messages exactly as `writ mcp` reads them (the same
 * upstream transport, no SDK client reshaping the lists). For review before it goes into a
 * bundle: the file pins what the server says today, not what it should say.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { LATEST_PROTOCOL_VERSION, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { isRecord } from '../../util.ts';
import type { McpPin } from '../../policy/mcp-pins.ts';
import { DEFINITION_LISTS, definitionDigest } from './definition-digest.ts';

/** pages read per list at most (a server whose cursor never ends) */
const MAX_PAGES = 100;

export async function printPins(transport: Transport, o: { serverName?: string; timeoutMs?: number }): Promise<{ v: 1; pins: McpPin[] }> {
  let next = 1;
  const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  transport.onmessage = (m: JSONRPCMessage) => {
    const r = m as { id?: unknown; method?: unknown; result?: unknown; error?: { message?: unknown } };
    if (r.method !== undefined || typeof r.id !== 'number') return;
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (r.error !== undefined) p.reject(new Error(`the server answered with an error: ${String(r.error.message)}`));
    else p.resolve(isRecord(r.result) ? r.result : {});
  };
  transport.onclose = () => pending.forEach((p) => p.reject(new Error('the server closed the connection')));
  const timeoutMs = o.timeoutMs ?? 30_000;
  const request = (method: string, params: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = next++;
      const t = setTimeout(() => reject(new Error(`${method}: no answer within ${timeoutMs} ms`)), timeoutMs);
      pending.set(id, { resolve: (r) => (clearTimeout(t), resolve(r)), reject: (e) => (clearTimeout(t), reject(e)) });
      transport.send({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage).catch(reject);
    });
  await transport.start();
  try {
    const init = await request('initialize', { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'writ-mcp-print-pins', version: '1' } });
    if (typeof init.protocolVersion === 'string') transport.setProtocolVersion?.(init.protocolVersion);
    await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    const announced = isRecord(init.serverInfo) ? init.serverInfo.name : undefined;
    const server = o.serverName ?? (typeof announced === 'string' ? announced : '');
    if (!/^[A-Za-z0-9][A-Za-z0-9._@/-]{0,127}$/.test(server)) throw new Error(`the server announced an unusable name ${JSON.stringify(announced)}: pass --server-name`);
    const caps = isRecord(init.capabilities) ? init.capabilities : {};
    const pins: McpPin[] = [];
    for (const [method, { kind, key }] of Object.entries(DEFINITION_LISTS)) {
      if (!isRecord(caps[kind === 'tool' ? 'tools' : kind === 'prompt' ? 'prompts' : 'resources'])) continue;
      let cursor: unknown;
      for (let page = 0; page < MAX_PAGES; page++) {
        const r = await request(method, cursor === undefined ? {} : { cursor });
        for (const item of Array.isArray(r[key]) ? (r[key] as unknown[]) : []) {
          const digest = definitionDigest(kind, item);
          if (digest !== null && isRecord(item) && typeof item.name === 'string') pins.push({ server, kind, name: item.name, digest });
        }
        cursor = r.nextCursor;
        if (typeof cursor !== 'string') break;
      }
    }
    return { v: 1, pins };
  } finally {
    await transport.close().catch(() => undefined);
  }
}

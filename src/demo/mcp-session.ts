/**
 * The demo's MCP path, in this process: an MCP client (the agent) → `writ mcp`'s governor
 * (the same McpGovernor and joinThroughGovernor as `writ mcp` runs) → the executor-side
 * guard → the real @modelcontextprotocol/server-filesystem, spawned on the sandbox folder
 * as its only root. The client and the proxy talk over an in-memory transport instead of
 * stdio; everything after that is what `writ mcp -- npx @modelcontextprotocol/server-filesystem`
 * does.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpGovernor } from '../enforce/mcp/governor.ts';
import { joinThroughGovernor, type ProxyHandle } from '../enforce/mcp/proxy.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { GovernanceNode } from '../node/node.ts';
import type { RunningRegistry } from '../node/running.ts';
import type { NodeState } from '../node/state.ts';
import { errorMessage } from '../util.ts';
import { WritError } from '../writ/errors.ts';
import { GuardedUpstream } from './guarded-upstream.ts';
import { DEMO_SERVER } from './steps.ts';

export interface DemoMcpDeps {
  node: GovernanceNode;
  ledger: Ledger;
  state: NodeState;
  running?: RunningRegistry;
  principal: string;
  sandbox: string;
  approvalTimeoutMs: number;
  log: (line: string) => void;
}

export interface DemoMcpSession {
  client: Client;
  guard: GuardedUpstream;
  close(): Promise<void>;
}

/** The filesystem server's entry point, from this package's dependencies. */
export function filesystemServerPath(): string {
  try {
    return createRequire(import.meta.url).resolve('@modelcontextprotocol/server-filesystem/dist/index.js');
  } catch {
    throw new WritError('internal_error', 'the demo needs @modelcontextprotocol/server-filesystem: run `npm ci` in the Writ folder');
  }
}

export async function openDemoMcp(d: DemoMcpDeps): Promise<DemoMcpSession> {
  const upstream = new StdioClientTransport({ command: process.execPath, args: [filesystemServerPath(), d.sandbox], stderr: 'ignore' });
  const guard = new GuardedUpstream(upstream, d.node, DEMO_SERVER);
  const governor = new McpGovernor({
    node: d.node,
    ledger: d.ledger,
    state: d.state,
    principal: d.principal,
    session: randomUUID(),
    serverName: DEMO_SERVER,
    approvalTimeoutMs: d.approvalTimeoutMs,
    ...(d.running && { running: d.running }),
    log: d.log,
  });
  const [clientSide, proxySide] = InMemoryTransport.createLinkedPair();
  let proxy: ProxyHandle | null = null;
  const client = new Client({ name: 'writ-demo-agent', version: '1.0.0' });
  try {
    proxy = await joinThroughGovernor(proxySide, guard, governor, { log: d.log });
    await client.connect(clientSide);
  } catch (err) {
    await proxy?.close();
    throw new WritError('internal_error', `the demo could not start the governed filesystem server: ${errorMessage(err)}`);
  }
  const p = proxy;
  return {
    client,
    guard,
    close: async () => {
      await client.close().catch(() => undefined);
      await p.close();
    },
  };
}

/**
 * Shared helpers of the `writ mcp` tests: throwaway homes with an MCP policy, the real
 * upstream servers from npm, SDK clients connected through the proxy (stdio or
 * Streamable HTTP) and readers for the ledger's decision and outcome leaves.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, type ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { OpenHome } from '../src/home/open.ts';
import type { LedgerEntry } from '../src/ledger/ledger.ts';
import { CLI } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..');
export const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const FILESYSTEM = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
/** server-everything's announced name, and so the prefix of its Cedar resources */
export const EV = 'mcp-servers/everything';
export const WRIT_DENIED = -32003;

/** The permit every MCP policy needs: a session is a lineage root that must itself be allowed. */
export const SESSION_PERMIT = 'permit (principal is Agent, action == Action::"mcp/session", resource);\n';

export function env(): Record<string, string> {
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'WRIT_HOME') e[k] = v;
  return e;
}

/** Runs the `writ` CLI to completion. */
export function writ(args: string[]): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: env(), timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function ok<R extends Ran>(r: R, what = 'command'): R {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r;
}

/** Runs the `writ` CLI without blocking the event loop (the proxy under test lives in this process's client). */
export function writAsync(args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export async function until<T>(what: string, fn: () => T | null | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- clients

export interface Connected {
  client: Client;
  /** what the proxy (or server) printed on stderr so far */
  stderr(): string;
  close(): Promise<void>;
}

export function newClient(capabilities: ClientCapabilities = {}): Client {
  return new Client({ name: 'writ-test-client', version: '1.0.0' }, { capabilities });
}

/** An SDK client connected over stdio to `node CLI mcp ARGS` (or, with `direct`, to the command itself). */
export async function connectStdio(command: string[], o: { capabilities?: ClientCapabilities; setup?: (c: Client) => void } = {}): Promise<Connected> {
  const [cmd, ...args] = command;
  assert.ok(cmd);
  const transport = new StdioClientTransport({ command: cmd, args, env: env(), stderr: 'pipe' });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const client = newClient(o.capabilities);
  o.setup?.(client);
  await client.connect(transport);
  return { client, stderr: () => err, close: () => client.close() };
}

/** `writ mcp --home H --principal P [FLAGS] -- node SERVER ARGS` over stdio. */
export function proxyCommand(home: string, principal: string, server: string[], flags: string[] = []): string[] {
  return [process.execPath, CLI, 'mcp', '--home', home, '--principal', principal, ...flags, '--', process.execPath, ...server];
}

export async function connectHttp(url: string, o: { token?: string; capabilities?: ClientCapabilities; setup?: (c: Client) => void } = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport; close(): Promise<void> }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), o.token ? { requestInit: { headers: { authorization: `Bearer ${o.token}` } } } : {});
  const client = newClient(o.capabilities);
  o.setup?.(client);
  await client.connect(transport);
  return { client, transport, close: () => client.close() };
}

/** A long-running child (an HTTP proxy or server) that announces its URL on a stream. */
export interface Served {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function serve(cmd: string[], announce: RegExp, o: { env?: Record<string, string> } = {}): Promise<Served> {
  const [bin, ...args] = cmd;
  assert.ok(bin);
  const child = spawn(bin, args, { env: { ...env(), ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await Promise.race([
    until(`${announce} in the output of ${cmd.join(' ')}`, () => announce.exec(out)?.[1], 15_000),
    exited.then(() => assert.fail(`${cmd.join(' ')} exited early: ${out}`)),
  ]);
  return {
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** `writ mcp --listen 0 ...`: resolves once it prints its URL. */
export function serveProxy(home: string, flags: string[], upstream: string[] | { url: string }): Promise<Served> {
  const tail = Array.isArray(upstream) ? ['--', process.execPath, ...upstream] : ['--upstream', upstream.url];
  return serve([process.execPath, CLI, 'mcp', '--home', home, '--listen', '0', ...flags, ...tail], /writ mcp: listening on (http:\/\/\S+)/);
}

// ---------------------------------------------------------------- errors

export interface DenialData {
  reasons: string[];
  decisionId?: string;
  policies?: string[];
  approvalId?: string;
  jti?: string;
}

/** Awaits a rejected MCP request and returns its JSON-RPC error (code, data). */
export async function mcpError(p: Promise<unknown>): Promise<{ code: number; message: string; data: DenialData }> {
  try {
    const r = await p;
    assert.fail(`expected a JSON-RPC error, got a result: ${JSON.stringify(r)}`);
  } catch (err) {
    if (!(err instanceof McpError)) throw err;
    const data = err.data as DenialData;
    return { code: err.code, message: err.message, data };
  }
}

// ---------------------------------------------------------------- ledger

export interface DecisionLeaf {
  type: 'decision';
  id: string;
  request: { principal: string; action: string; resource: string; args: Record<string, unknown>; parent: string | null };
  result: { decision: 'allow' | 'deny'; reasons: string[]; policies: string[] };
  writ: { jti: string; aud: string; lin: { parent: string | null; root: string; depth: number } } | null;
  approval: string | null;
}

export interface OutcomeLeaf {
  type: 'outcome';
  jti: string;
  status: 'ok' | 'failed' | 'terminated' | 'not_started';
  reason: string | null;
  durationMs: number;
  isError: boolean;
  resultDigest: string | null;
}

export const decode = <T>(e: LedgerEntry): T => JSON.parse(new TextDecoder().decode(e.leaf)) as T;

export function decisionsSince(h: OpenHome, from: number): DecisionLeaf[] {
  return h.ledger
    .entries(from, 100_000)
    .filter((e) => e.type === 'decision')
    .map((e) => decode<DecisionLeaf>(e));
}

export function outcomesOf(h: OpenHome, jti: string): OutcomeLeaf[] {
  return h.ledger.findByJti(jti, 'outcome').map((e) => decode<OutcomeLeaf>(e));
}

/** The last allowed decision for `resource` since ledger index `from`. */
export function allowedFor(h: OpenHome, from: number, resource: string): DecisionLeaf & { writ: NonNullable<DecisionLeaf['writ']> } {
  const d = decisionsSince(h, from)
    .filter((l) => l.result.decision === 'allow' && l.request.resource === resource)
    .at(-1);
  assert.ok(d?.writ, `no allowed decision for ${resource} since ${from}`);
  return d as DecisionLeaf & { writ: NonNullable<DecisionLeaf['writ']> };
}

export function tool(name: string, server = EV): string {
  return `Tool::${JSON.stringify(`${server}/${name}`)}`;
}

/**
 * `writ mcp --listen PORT`: the governing proxy over Streamable HTTP. Each MCP session
 * (Mcp-Session-Id) gets its own governor and its own upstream: a Streamable HTTP
 * server (`--upstream URL`) or a stdio server process (`-- CMD ARGS`). The principal
 * is the bearer credential's (an opaque token from a token file, or a JWT verified against
 * the configured issuer: jwt-identity.ts) or the configured default.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializeRequest, JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { HTTP_SERVER_LIMITS } from '../../server/http-limits.ts';
import { errorMessage, sha256Hex } from '../../util.ts';
import type { WritIdentityToken } from '../../writ/claims.ts';
import { IJsonError, parseIJson } from '../../writ/i-json.ts';
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { McpGovernor, type GovernorOptions } from './governor.ts';
import { withPrincipalEntity, type JwtIdentity } from './jwt-identity.ts';
import { joinThroughGovernor, type ProxyHandle } from './proxy.ts';

export type Upstream = { url: string } | { command: string; args: string[] };

export interface HttpProxyOptions extends Omit<GovernorOptions, 'session' | 'principal'> {
  port: number;
  host: string;
  upstream: Upstream;
  /** principal for requests without a (known) bearer credential; none: such requests get 401 */
  principal?: string;
  /** sha256(token) hex → principal */
  tokens?: Map<string, string>;
  /** verifies a bearer JWT (jwtIdentifier); none: only the opaque tokens are known */
  jwt?: (token: string) => Promise<JwtIdentity>;
  path?: string;
  /** close sessions idle this long (default 15 minutes) */
  idleSessionMs?: number;
  /** open sessions at most (each runs its own upstream); default 256 */
  maxSessions?: number;
}

export function upstreamTransport(u: Upstream): Transport {
  if ('url' in u) return new StreamableHTTPClientTransport(new URL(u.url));
  return new StdioClientTransport({ command: u.command, args: u.args, stderr: 'inherit', env: process.env as Record<string, string> });
}

/** Who sends a request: its principal and, for a JWT, the verified claims (the principal entity's attributes). */
type Who = { principal: string; attrs: Record<string, CedarValueJson> | null; token: WritIdentityToken | null } | { refused: string; invalidToken: boolean };

function knownToken(token: string, tokens: Map<string, string> | undefined): string | null {
  if (!tokens) return null;
  const digest = Buffer.from(sha256Hex(token), 'hex');
  for (const [hash, principal] of tokens) {
    const h = Buffer.from(hash, 'hex');
    if (h.length === digest.length && timingSafeEqual(h, digest)) return principal;
  }
  return null;
}

async function principalOf(req: IncomingMessage, o: HttpProxyOptions): Promise<Who> {
  const header = req.headers.authorization;
  if (header === undefined) return o.principal !== undefined ? { principal: o.principal, attrs: null, token: null } : { refused: 'a known bearer credential is required', invalidToken: false };
  // Any credential sent must be one we know (scheme matched case-insensitively): an unknown
  // or malformed one is refused, never downgraded to the default principal.
  const m = /^bearer[ \t]+(\S+)\s*$/i.exec(header);
  if (!m?.[1]) return { refused: 'the Authorization header is not "Bearer <token>"', invalidToken: true };
  const known = knownToken(m[1], o.tokens);
  if (known !== null) return { principal: known, attrs: null, token: null };
  if (!o.jwt) return { refused: 'a known bearer credential is required', invalidToken: true };
  const who = await o.jwt(m[1]);
  return who.ok ? { principal: who.principal, attrs: who.attrs, token: who.token } : { refused: who.message, invalidToken: true };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * DNS-rebinding protection (MCP transport spec): the Host header must name this server
 * (loopback names, or the address it listens on), and an Origin, when sent, too.
 */
function hostAllowed(req: IncomingMessage, listenHost: string): boolean {
  const allowed = (hostname: string) => LOOPBACK.has(hostname) || hostname === listenHost;
  const host = req.headers.host;
  if (!host) return false;
  try {
    if (!allowed(new URL(`http://${host}`).hostname)) return false;
    const origin = req.headers.origin;
    return origin === undefined || allowed(new URL(origin).hostname);
  } catch {
    return false;
  }
}

function refuse(res: ServerResponse, status: number, message: string, invalidToken = false): void {
  // RFC 6750 §3: error="invalid_token" tells the client its token (not its request) is the problem
  const challenge = invalidToken ? 'Bearer error="invalid_token"' : 'Bearer';
  res.writeHead(status, { 'content-type': 'application/json', ...(status === 401 ? { 'www-authenticate': challenge } : {}) });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

/**
 * The body, read as I-JSON (docs/json.md): a plain JSON.parse would round 9007199254740993
 * to …992 before the governor sees it. A body that is JSON but not I-JSON comes with its
 * violation (and its value as JSON.parse reads it, only to answer the refusal).
 */
async function readJson(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<{ body: unknown; violation: string | null }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  try {
    return { body: parseIJson(Buffer.concat(chunks).toString('utf8')), violation: null };
  } catch (err) {
    if (err instanceof IJsonError) return { body: err.value, violation: err.message };
    throw err;
  }
}

/**
 * Answers a session's POST whose body is not I-JSON without passing it to the transport:
 * every message in it is refused (a governed call with a recorded request_invalid), and
 * the answers go back as one JSON response (Streamable HTTP allows JSON for a POST).
 */
async function answerRefused(res: ServerResponse, proxy: ProxyHandle, body: unknown, violation: string): Promise<void> {
  const batch = Array.isArray(body);
  const parsed = (batch ? body : [body]).map((m) => JSONRPCMessageSchema.safeParse(m));
  if (parsed.length === 0 || parsed.some((p) => !p.success)) return refuse(res, 400, `writ: the body is ${violation}`);
  const replies: JSONRPCMessage[] = [];
  for (const p of parsed) {
    const reply = p.data ? await proxy.refuse(p.data, violation) : null;
    if (reply) replies.push(reply);
  }
  if (replies.length === 0) {
    res.writeHead(202).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(batch ? replies : replies[0]));
}

export async function serveHttpProxy(o: HttpProxyOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  // `who`: the principal and the kind of credential that named it (a JWT session stays a JWT
  // one); `attrs`: the claims of the latest verified token, what the governor's decisions carry
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; who: string; claims: { attrs: Record<string, CedarValueJson> | null; token: WritIdentityToken | null }; proxy: ProxyHandle; seen: number }>();
  // sessions a client abandoned (no DELETE) are closed after an idle period
  const idleMs = o.idleSessionMs ?? 15 * 60_000;
  const sweep = setInterval(() => {
    for (const s of sessions.values()) if (Date.now() - s.seen > idleMs) void s.proxy.close();
  }, Math.min(60_000, idleMs));
  sweep.unref();
  const path = o.path ?? '/mcp';
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req, o.host)) return refuse(res, 403, 'Host or Origin not allowed');
    if (new URL(req.url ?? '/', 'http://x').pathname !== path) return refuse(res, 404, `not found: MCP is served at ${path}`);
    const who = await principalOf(req, o);
    if ('refused' in who) return refuse(res, 401, who.refused, who.invalidToken);
    const { principal, attrs, token } = who;
    const whoKey = `${attrs === null ? 'token' : 'jwt'} ${principal}`;
    const sid = req.headers['mcp-session-id'];
    const { body, violation } = req.method === 'POST' ? await readJson(req) : { body: undefined, violation: null };
    if (typeof sid === 'string') {
      const s = sessions.get(sid);
      if (!s) return refuse(res, 404, 'unknown or expired session');
      if (s.who !== whoKey) return refuse(res, 403, 'this session belongs to another principal');
      s.seen = Date.now();
      // a refreshed token's claims count from now on
      s.claims.attrs = attrs;
      s.claims.token = token;
      if (violation !== null) return answerRefused(res, s.proxy, body, violation);
      return s.transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST') return refuse(res, 400, 'no session: start with an initialize request');
    if (violation !== null) return refuse(res, 400, `writ: the body is ${violation}`); // no session starts on it
    // nothing is started (no session, no upstream process) for anything but an initialize request
    if (!isInitializeRequest(body)) return refuse(res, 400, 'no session: start with an initialize request');
    if (sessions.size >= (o.maxSessions ?? 256)) return refuse(res, 503, 'too many open sessions');
    const session = randomUUID();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => session,
      onsessioninitialized: (id) => void id,
    });
    const claims = { attrs, token };
    // a JWT's claims go with every decision of the session as the principal entity's attributes
    const node = attrs === null ? o.node : withPrincipalEntity(o.node, () => ({ attrs: claims.attrs ?? {}, token: claims.token }));
    const governor = new McpGovernor({ ...o, node, principal, session });
    const proxy = await joinThroughGovernor(transport, upstreamTransport(o.upstream), governor, { log: o.log ?? (() => undefined) });
    sessions.set(session, { transport, who: whoKey, claims, proxy, seen: Date.now() });
    void proxy.closed.then(() => sessions.delete(session));
    return transport.handleRequest(req, res, body);
  };
  // slow or unfinished requests are cut off like the node API's (docs/bounds.md); no idle
  // socket timeout: a Streamable HTTP GET is a long-lived event stream
  const server = createServer(HTTP_SERVER_LIMITS, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log?.(`writ mcp: ${errorMessage(err)}`);
      if (!res.headersSent) refuse(res, 400, errorMessage(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(o.port, o.host, resolve));
  const a = server.address() as AddressInfo;
  return {
    server,
    url: `http://${o.host}:${a.port}${path}`,
    async close() {
      clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((s) => s.proxy.close()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

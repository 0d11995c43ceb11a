/**
 * The executor's side of the demo's MCP path. `writ mcp` carries each call's writ to the
 * server in params._meta["writ/authorization"]; a server written with `writ/mcp-server`
 * verifies it itself. The filesystem server from npm does not, so the demo puts this
 * transport in front of it: each governed call's writ is verified exactly as
 * requireWrits does (pinned keys, audience mcp:<server>, this action and resource, the
 * intent recomputed from the arguments about to be forwarded, single use through the
 * node) before the message goes on. A call whose writ does not verify is answered with
 * an error here and never reaches the server. What was verified is reported, for the
 * demo's chain.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { GovernanceNode } from '../node/node.ts';
import { canonicalJson } from '../canonical/json.ts';
import { isRecord } from '../util.ts';
import { verifyWrit, WritVerificationError } from '../writ/verify.ts';
import { governed, mcpAudience, mcpResource, WRIT_DENIED, WRIT_META } from '../enforce/mcp/names.ts';

export interface ExecutorCheck {
  /** the writ the call carried ('' when none) */
  writ: string;
  /** the writ's id, once it verified */
  jti: string | null;
  ok: boolean;
  reason: string | null;
  detail: string;
  method: string;
  name: string;
  args: unknown;
}

/** Checks kept for the chain: the latest ones only (a bound, whatever a session sends). */
const MAX_CHECKS = 64;

export class GuardedUpstream implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** governed calls the server actually received */
  forwarded = 0;
  private readonly checks: ExecutorCheck[] = [];
  private readonly inner: Transport;
  private readonly node: GovernanceNode;
  private readonly server: string;

  constructor(inner: Transport, node: GovernanceNode, server: string) {
    this.inner = inner;
    this.node = node;
    this.server = server;
    inner.onmessage = (m) => this.onmessage?.(m);
    inner.onclose = () => this.onclose?.();
    inner.onerror = (e) => this.onerror?.(e);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** the latest check of a call of tool `name` with exactly these arguments, if one was made */
  latest(name: string, args: unknown): ExecutorCheck | undefined {
    const want = canonicalJson(args);
    return this.checks.findLast((c) => c.name === name && canonicalJson(c.args) === want);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as { id?: string | number; method?: unknown; params?: unknown };
    const g = typeof m.method === 'string' && m.id !== undefined ? governed(m.method) : undefined;
    if (!g) return this.inner.send(message, options);
    const params = isRecord(m.params) ? m.params : {};
    const meta = isRecord(params._meta) ? params._meta : {};
    const writ = typeof meta[WRIT_META] === 'string' ? meta[WRIT_META] : '';
    const name = String(g.name(params));
    const args = g.args(params);
    const check: ExecutorCheck = { writ, jti: null, ok: false, reason: null, detail: '', method: g.method, name, args };
    try {
      const v = await verifyWrit(writ, {
        ...this.node.verifierOptions(),
        now: this.node.now(),
        audience: mcpAudience(this.server),
        args,
        expect: { action: g.action, resource: mcpResource(g.type, this.server, name) },
      });
      check.ok = true;
      check.jti = v.claims.jti;
      check.detail = `verified before the server ran it: signature (key ${v.kid}), typ, aud ${mcpAudience(this.server)}, time window, action and resource, the intent recomputed from the arguments the server received, and single use (consumed now)`;
    } catch (err) {
      check.reason = err instanceof WritVerificationError ? err.code : 'writ_malformed';
      check.detail = `refused before the server saw it: ${check.reason}: ${(err as Error).message}`;
    }
    this.checks.push(check);
    if (this.checks.length > MAX_CHECKS) this.checks.shift();
    if (!check.ok) {
      // answered here, as the server's own guard would: the call never reaches it
      this.onmessage?.({ jsonrpc: '2.0', id: m.id as string | number, error: { code: WRIT_DENIED, message: `writ required: ${check.detail}`, data: { reasons: [check.reason] } } });
      return;
    }
    this.forwarded++;
    return this.inner.send(message, options);
  }
}

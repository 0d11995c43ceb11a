/**
 * The MCP governor: sits on the JSON-RPC message stream between an MCP client and an
 * MCP server and governs what runs. Transport-agnostic (stdio and Streamable HTTP use
 * the same governor); everything it does not govern passes through unchanged —
 * initialize, ping, notifications, progress, logging, cancellation, and requests from
 * the server to the client (sampling, elicitation, roots).
 *
 *   tools/call, resources/read, prompts/get   authorized before forwarding; on allow the
 *        writ travels in params._meta["writ/authorization"]; on deny the client gets a
 *        JSON-RPC error (code -32003) and the server never sees the call
 *   tools/list, resources/list, prompts/list,
 *   resources/templates/list                  filtered, definitions pinned (list-governance.ts)
 *   responses to governed calls               outcome recorded, linked to the writ
 *
 * Each governed call is a GovernedCall (../governed-call.ts): authorized (with approvals),
 * its writ carried to the server, which verifies and consumes it; a lease that ends it
 * when a revocation covers it; one outcome leaf, whichever way it ends.
 *
 * Lineage: each session is a root (session-root.ts); each call is its child, or the child of
 * the writ the client names in params._meta["writ/parent"] (a call made on behalf of another).
 * The messages the governor writes itself are in replies.ts.
 */
import type { RunningRegistry } from '../../node/running.ts';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Ledger } from '../../ledger/ledger.ts';
import type { GovernanceNode } from '../../node/node.ts';
import type { NodeState } from '../../node/state.ts';
import { parseUid } from '../../canonical/uid.ts';
import { errorMessage, isRecord, sha256Base64urlSync } from '../../util.ts';
import { canonicalJson } from '../../writ/intent.ts';
import type { Tracer } from '@opentelemetry/api';
import type { TraceRef } from '../../node/types.ts';
import { DECIDE_SPAN, decideInSpan, startSpan, traceOutcome, traceparentOf, traceRef } from '../../telemetry/spans.ts';
import { APPROVAL_PROGRESS_MS, begin, type Begun, type GovernedCall } from '../governed-call.ts';
import { governed, mcpAudience, mcpResource, WRIT_DENIED, WRIT_META, WRIT_PARENT_META, type Governed } from './names.ts';
import { ListGovernance } from './list-governance.ts';
import { SessionRoot } from './session-root.ts';
import { approvalProgress, decisionOfBegun, deniedBy, denial, refusal, sessionDeniedBy, terminationMessages } from './replies.ts';

export interface GovernorOptions {
  node: GovernanceNode;
  ledger: Ledger;
  state: NodeState;
  principal: string;
  session: string;
  /** overrides the server name announced in the initialize result */
  serverName?: string;
  /**
   * how long a call waits for a human approval (default DEFAULT_APPROVAL_WAIT_MS: under the
   * 60 s request timeout common clients have, so the client hears the denial instead of timing out)
   */
  approvalTimeoutMs?: number;
  /** how often a call awaiting approval sends the client progress, if its request carried a progressToken (default 5 s) */
  approvalProgressMs?: number;
  /** how often running calls' leases are checked (default 200 ms) */
  revocationPollMs?: number;
  /** where calls in flight are registered (writ ps, the console) */
  running?: RunningRegistry;
  /** how long a call goes on after the node lost freshness (default: the node's freshnessGraceMs) */
  freshnessGraceMs?: number;
  log?: (line: string) => void;
  /** a writ.decide span per governed call, continuing params._meta.traceparent (docs/telemetry.md); none when tracing is off */
  tracer?: Tracer;
}

/** A governed call a revocation ended: the client gets `reply`, the server `cancel`. */
export interface RevokedCall {
  id: RequestId;
  reply: JSONRPCMessage;
  cancel: JSONRPCMessage;
}

/** The default bound of an approval wait: shorter than the 60 s request timeout of common MCP clients. */
export const DEFAULT_APPROVAL_WAIT_MS = 50_000;

/** A message the governor sends the client of its own accord, and the request it belongs to. */
export type ClientNotifier = (message: JSONRPCMessage, relatedRequestId: RequestId) => void;

export type ClientAction = { forward: JSONRPCMessage } | { reply: JSONRPCMessage } | { drop: true };

interface InFlight {
  method: string;
  progressToken?: string | number;
  governed?: GovernedCall;
  abort?: AbortController;
}

type Msg = Record<string, unknown>;

/**
 * Client requests tracked at once per session. Each waits for its response from the
 * upstream; a client that keeps sending requests the upstream does not answer would
 * otherwise grow the map without end. Beyond it requests are refused, not forwarded.
 */
export const MAX_INFLIGHT = 1024;

/** server names taken from an upstream's initialize result */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@/-]{0,127}$/;

export class McpGovernor {
  private readonly o: GovernorOptions;
  private serverName: string | null;
  private readonly inflight = new Map<RequestId, InFlight>();
  /** the session's lineage root, parent of its calls */
  private readonly session: SessionRoot;
  /** a governed call cut short by a revocation: its late response is dropped */
  private readonly cancelled = new Set<RequestId>();
  private readonly revokedListeners: ((r: RevokedCall) => void)[] = [];
  private readonly notifiers: ClientNotifier[] = [];
  /** outcomes being recorded (after their responses went out): settled() waits for them */
  private readonly recording = new Set<Promise<unknown>>();
  /** list filtering and definition pinning (docs/mcp.md, "Tool-definition pinning") */
  private readonly lists: ListGovernance;

  constructor(o: GovernorOptions) {
    this.o = o;
    this.serverName = o.serverName ?? null;
    const server = (): string => this.serverName ?? 'unknown';
    this.session = new SessionRoot({ node: o.node, principal: o.principal, session: o.session, server });
    this.lists = new ListGovernance({ node: o.node, principal: o.principal, session: o.session, server, ...(o.log && { log: o.log }) });
  }

  get server(): string | null {
    return this.serverName;
  }

  /** requests awaiting their response (at most MAX_INFLIGHT); for tests */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** definitions this session pinned (at most MAX_PINNED_DEFINITIONS); for tests */
  get pinnedCount(): number {
    return this.lists.pinnedCount;
  }

  /** Drops the late response to `id`, if one comes within a minute (ids may be reused after). */
  private forget(id: RequestId): void {
    this.cancelled.add(id);
    setTimeout(() => this.cancelled.delete(id), 60_000).unref();
  }

  /** A message from the client: forward it (possibly with a writ), answer it (a denial), or drop it. */
  async fromClient(message: JSONRPCMessage): Promise<ClientAction> {
    const m = message as Msg;
    if (m.method === 'notifications/cancelled' && isRecord(m.params)) await this.cancelled_(m.params.requestId as RequestId, String(m.params.reason ?? 'cancelled by the client'));
    if (typeof m.method !== 'string') return { forward: message };
    const g = governed(m.method);
    if (m.id === undefined) return g ? { drop: true } : { forward: message }; // a governed method as a notification never runs
    const id = m.id as RequestId;
    // Requests are tracked by id: a second one with the id of a request still running would
    // take its place, and that call's revocation and outcome would be lost.
    if (this.inflight.has(id)) return { reply: refusal(id, -32600, `writ: request id ${JSON.stringify(id)} is already in use by a request still running`) };
    if (this.inflight.size >= MAX_INFLIGHT) return { reply: refusal(id, -32600, `writ: ${MAX_INFLIGHT} requests of this session are still running; wait for some to finish`) };
    const params = isRecord(m.params) ? m.params : {};
    const meta = isRecord(params._meta) ? params._meta : {};
    const entry: InFlight = { method: m.method, ...(typeof meta.progressToken === 'string' || typeof meta.progressToken === 'number' ? { progressToken: meta.progressToken } : {}) };
    this.inflight.set(id, entry);
    if (!g) return { forward: message };
    if (params.task !== undefined) {
      // a task-augmented call answers at once and runs on: its revocation and outcome could not be governed
      this.inflight.delete(id);
      return { reply: refusal(id, WRIT_DENIED, `writ: task-augmented ${m.method} is not supported through writ mcp`) };
    }
    if (this.serverName === null) {
      // decided before the server said who it is (or it named itself unusably), the call would be decided as Server::"unknown"
      this.inflight.delete(id);
      return { reply: refusal(id, WRIT_DENIED, `writ: ${m.method} before the upstream's name is known (the initialize exchange, or --server-name)`) };
    }
    entry.abort = new AbortController(); // a cancellation may arrive while the call is being decided
    // MCP carries the W3C trace context in params._meta (traceparent, tracestate): the decision continues it
    const span = this.o.tracer && startSpan(this.o.tracer, DECIDE_SPAN, meta, { 'mcp.method.name': m.method });
    const signal = entry.abort.signal;
    const progress = this.progressOf(id, entry.progressToken);
    const b = span ? await decideInSpan(span, () => this.begin(g, params, meta, signal, progress, traceRef(span)), decisionOfBegun) : await this.begin(g, params, meta, signal, progress);
    if (entry.abort.signal.aborted) {
      if ('call' in b) b.call.abandon(); // never forwarded: it has no outcome
      this.inflight.delete(id);
      return { drop: true }; // cancelled by the client: neither forwarded nor answered
    }
    if ('denied' in b) {
      this.inflight.delete(id);
      return { reply: denial(id, b.denied.decision) };
    }
    const { call } = b;
    entry.governed = call;
    // its outcome, when recorded, is a writ.outcome span under this decision (docs/telemetry.md)
    if (span && this.o.tracer) traceOutcome(this.o.tracer, span, call);
    call.onTerminate((reason, t) => void this.terminate(id, call, reason, t.code));
    // the server's own spans are then children of the decision (its tracestate passes unchanged)
    return { forward: { ...message, params: { ...params, _meta: { ...meta, [WRIT_META]: call.writ, ...(span && { traceparent: traceparentOf(span) }) } } } as JSONRPCMessage };
  }

  /**
   * A client message that is JSON but not I-JSON (docs/json.md): what it asks would be
   * decided and forwarded with other values than were sent, so nothing of it runs. A
   * governed call is denied request_invalid and recorded, any other request answered
   * with an error, a notification dropped, and a response to the server replaced by an error.
   */
  async refuse(message: JSONRPCMessage, violation: string): Promise<ClientAction> {
    const m = message as Msg;
    const why = `the message is ${violation}`;
    if (typeof m.method !== 'string') return m.id === undefined ? { drop: true } : { forward: refusal(m.id as RequestId, -32600, `writ: ${why}`) };
    if (m.id === undefined) return { drop: true };
    const id = m.id as RequestId;
    const g = governed(m.method);
    if (!g) return { reply: refusal(id, -32600, `writ: ${why}`) };
    const params = isRecord(m.params) ? m.params : {};
    const server = this.serverName ?? 'unknown';
    const name = g.name(params);
    const named = typeof name === 'string' ? mcpResource(g.type, server, name) : '';
    const resource = parseUid(named) ? named : `${g.type}::"${server}/"`;
    return { reply: denial(id, await this.o.node.deny({ principal: this.o.principal, action: g.action, resource }, 'request_invalid', why)) };
  }

  /**
   * What a call awaiting approval tells its client meanwhile: MCP progress notifications on
   * the request's own progressToken (the spec's only way to say "still working"; a client
   * may reset its request timeout on each), naming the approval to decide. None without a token.
   */
  private progressOf(id: RequestId, progressToken: string | number | undefined): ((approvalId: string, waitedMs: number) => void) | undefined {
    if (progressToken === undefined) return undefined;
    let progress = 0;
    return (approvalId, waitedMs) => {
      const message = approvalProgress(progressToken, ++progress, approvalId, waitedMs);
      for (const n of this.notifiers) n(message, id);
    };
  }

  private async begin(g: Governed, params: Msg, meta: Msg, signal: AbortSignal, progress: ((approvalId: string, waitedMs: number) => void) | undefined, trace?: TraceRef): Promise<Begun> {
    const server = this.serverName ?? 'unknown';
    const name = g.name(params);
    const resource = mcpResource(g.type, server, String(name ?? ''));
    if (typeof name !== 'string' || !parseUid(resource)) {
      return deniedBy(await this.o.node.deny({ principal: this.o.principal, action: g.action, resource: `${g.type}::"${server}/"`, ...(trace && { trace }) }, 'request_invalid', `${g.method} without a valid ${g.type.toLowerCase()} name`));
    }
    const pinned = this.lists.checkCall(g, name);
    if ('denied' in pinned) return deniedBy(await this.o.node.deny({ principal: this.o.principal, action: g.action, resource, args: g.args(params), ...(trace && { trace }) }, pinned.denied, pinned.message));
    // The session is decided (and must stand) for every call, also one made on behalf of another writ.
    const session = await this.session.writ();
    if (typeof session !== 'string') return sessionDeniedBy(session); // the session itself was denied
    // a revoked session root (any of them) is the parent then, so the node denies and records why
    const revokedRoot = this.session.revoked();
    const parent = revokedRoot ?? (typeof meta[WRIT_PARENT_META] === 'string' ? (meta[WRIT_PARENT_META] as string) : session);
    const req = {
      principal: this.o.principal,
      action: g.action,
      resource,
      args: g.args(params),
      parent,
      audience: mcpAudience(server),
      context: { mcp: { session: this.o.session, server, method: g.method, ...(pinned.digest !== undefined && pinned.contextKey && { [pinned.contextKey]: pinned.digest }) } },
      ...(trace && { trace }),
    };
    return begin({
      node: this.o.node,
      ledger: this.o.ledger,
      request: req,
      verify: 'carried', // the server verifies and consumes it (writ/mcp-server)
      approval: {
        state: this.o.state,
        timeoutMs: this.o.approvalTimeoutMs ?? DEFAULT_APPROVAL_WAIT_MS,
        signal,
        ...(progress && { onProgress: progress, progressEveryMs: this.o.approvalProgressMs ?? APPROVAL_PROGRESS_MS }),
        onWait: (id) => this.o.log?.(`writ: ${g.method} ${name} for ${this.o.principal} awaits approval: writ approve ${id} (or writ reject ${id})`),
      },
      lease: {
        pollMs: this.o.revocationPollMs ?? 200,
        ...(this.o.freshnessGraceMs !== undefined && { freshnessGraceMs: this.o.freshnessGraceMs }),
        // a call of a session whose root was revoked ends with the session
        also: () => (this.session.revoked() !== null ? 'the MCP session was revoked' : null),
        onError: (err) => this.o.log?.(`writ mcp: lease check: ${errorMessage(err)}`),
      },
      // registered once the call is on its way to the server: the row is not on the call's path
      ...(this.o.running && { running: { registry: this.o.running, kind: 'mcp' as const, afterStart: true } }),
    });
  }

  /** A client cancellation: stops a call still being decided; for one already forwarded, records its end. */
  private async cancelled_(id: RequestId, reason: string): Promise<void> {
    const entry = this.inflight.get(id);
    if (!entry) return;
    entry.abort?.abort();
    if (!entry.governed) return;
    this.inflight.delete(id);
    this.forget(id); // a late response is not passed on: the client has forgotten the request
    // what the server did with the call is not known (it may have finished): the evidence says so
    await this.track(entry.governed.end({ status: 'terminated', reason: `cancel requested, result unknown: ${reason}`.slice(0, 120) })).catch(() => undefined);
  }

  /** A message from the server: filtered lists, outcomes recorded; null to drop it. */
  async fromUpstream(message: JSONRPCMessage): Promise<JSONRPCMessage | null> {
    const m = message as Msg;
    if (m.method !== undefined || m.id === undefined) return message; // server → client requests and notifications pass
    const id = m.id as RequestId;
    if (this.cancelled.delete(id)) return null;
    const entry = this.inflight.get(id);
    if (!entry) return message; // a response to something we did not see (should not happen): pass
    this.inflight.delete(id);
    if (entry.method === 'initialize' && isRecord(m.result) && isRecord(m.result.serverInfo) && this.serverName === null) {
      // the upstream names its own Cedar namespace: only a plain name is taken (pin it with --server-name)
      const announced = m.result.serverInfo.name;
      if (typeof announced === 'string' && SERVER_NAME.test(announced)) this.serverName = announced;
      else this.o.log?.(`writ: the upstream announced an unusable server name ${JSON.stringify(announced)}: governed calls are refused; pass --server-name`);
    }
    // Recorded after the response is on its way (an outcome is evidence of what happened,
    // not a gate): the call is settled now — its duration taken, its lease stopped — and
    // its digest and outcome leaf are made once this task, which passes the response on,
    // is done. settled() (the proxy's close) waits for the record to be durable.
    if (entry.governed) this.recordAfterReply(entry.governed, m);
    if (this.lists.governs(entry.method) && isRecord(m.result)) return { ...message, result: await this.lists.filter(entry.method, m.result) } as JSONRPCMessage;
    return message;
  }

  private recordAfterReply(call: GovernedCall, m: Msg): void {
    const durationMs = performance.now() - call.started;
    call.settle();
    const recorded = new Promise<void>((r) => setImmediate(r)).then(() => {
      const isError = m.error !== undefined || (isRecord(m.result) && m.result.isError === true);
      return call.end({ status: isError ? 'failed' : 'ok', reason: null, isError, resultDigest: sha256Base64urlSync(canonicalJson(m.result ?? m.error ?? null)), durationMs });
    });
    void this.track(recorded).catch((err: unknown) => this.o.log?.(`writ: the outcome of ${call.jti} could not be recorded: ${String(err)}`));
  }

  /** Keeps `p` (an outcome being recorded) until it settles, for settled(). */
  private track<T>(p: Promise<T>): Promise<T> {
    this.recording.add(p);
    void p.finally(() => this.recording.delete(p)).catch(() => undefined);
    return p;
  }

  /** Resolves once every outcome this governor is recording is recorded (or has failed, and was logged). */
  async settled(): Promise<void> {
    while (this.recording.size > 0) await Promise.allSettled([...this.recording]);
  }

  /**
   * Tells `listener` of each governed call still running that a revocation (of its writ,
   * session, principal, …) ended: the proxy cancels it upstream and answers the client.
   */
  onRevoked(listener: (r: RevokedCall) => void): void {
    this.revokedListeners.push(listener);
  }

  /** Tells `notifier` of each message for the client the governor sends of its own accord (progress while a call awaits approval). */
  onNotify(notifier: ClientNotifier): void {
    this.notifiers.push(notifier);
  }

  /**
   * A running call's lease ended it (a revocation, a re-decision that now denies, its run
   * time, lost freshness): no later response is passed on; the outcome says why.
   */
  private async terminate(id: RequestId, call: GovernedCall, reason: string, code: string): Promise<void> {
    if (this.inflight.get(id)?.governed !== call) return; // answered or cancelled meanwhile
    this.inflight.delete(id);
    this.forget(id);
    await this.track(call.end({ status: 'terminated', reason: code })).catch(() => undefined);
    const r: RevokedCall = { id, ...terminationMessages(id, call.jti, reason, code) };
    for (const l of this.revokedListeners) l(r);
  }

  /** The session is over: its calls still in flight are no longer watched (they have no outcome here). */
  close(): void {
    for (const entry of this.inflight.values()) entry.governed?.abandon();
  }

  /** Which client request a server message belongs to (for Streamable HTTP routing). */
  relatedRequest(message: JSONRPCMessage): RequestId | undefined {
    const m = message as Msg;
    if (m.id !== undefined && m.method === undefined) return m.id as RequestId;
    const token = isRecord(m.params) ? m.params.progressToken : undefined;
    let latest: RequestId | undefined;
    for (const [id, e] of this.inflight) {
      if (token !== undefined && e.progressToken === token) return id;
      latest = id;
    }
    return latest;
  }
}

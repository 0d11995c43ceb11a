/**
 * Joins a client-facing transport and an upstream transport through a governor.
 * Client messages are handled concurrently (an approval wait must not hold up other
 * traffic); each is forwarded, answered or dropped as the governor says. A governed
 * call whose writ is revoked while it runs (its lease, ../governed-call.ts) is cancelled
 * upstream and answered with writ_revoked.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage } from '../../util.ts';
import type { ClientAction, McpGovernor } from './governor.ts';
import { violationOf } from './stdio.ts';

export interface ProxyHandle {
  close(): Promise<void>;
  closed: Promise<void>;
  /**
   * A client message that is JSON but not I-JSON (docs/json.md), read by a transport
   * that cannot mark it (Streamable HTTP): refused by the governor, never forwarded as
   * read. Resolves to the answer for the client, if there is one.
   */
  refuse(message: JSONRPCMessage, violation: string): Promise<JSONRPCMessage | null>;
}

export async function joinThroughGovernor(client: Transport, upstream: Transport, governor: McpGovernor, o: { log: (line: string) => void }): Promise<ProxyHandle> {
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    governor.close();
    await Promise.allSettled([client.close(), upstream.close()]);
    // outcomes of calls already answered are recorded after their responses: durable before the session is over
    await governor.settled();
    resolveClosed();
  };
  const toClient = (m: JSONRPCMessage) => {
    const relatedRequestId = governor.relatedRequest(m);
    client.send(m, relatedRequestId === undefined ? {} : { relatedRequestId }).catch((err: unknown) => o.log(`writ mcp: cannot send to the client: ${errorMessage(err)}`));
  };
  const act = async (action: ClientAction): Promise<JSONRPCMessage | null> => {
    if ('forward' in action) await upstream.send(action.forward);
    return 'reply' in action ? action.reply : null;
  };
  client.onmessage = (m: JSONRPCMessage) => {
    // a line the I-JSON stdio transport read as JSON but not I-JSON carries its violation
    const violation = violationOf(m);
    (violation === undefined ? governor.fromClient(m) : governor.refuse(m, violation))
      .then(act)
      .then((reply) => {
        if (reply) toClient(reply);
      })
      .catch((err: unknown) => o.log(`writ mcp: ${errorMessage(err)}`));
  };
  // Server messages keep their order (a last progress notification must not overtake
  // the result it belongs to): they pass through one chain.
  let fromServer: Promise<void> = Promise.resolve();
  upstream.onmessage = (m: JSONRPCMessage) => {
    const result = (m as { result?: { protocolVersion?: unknown; serverInfo?: unknown } }).result;
    if (typeof result?.protocolVersion === 'string' && result.serverInfo !== undefined) upstream.setProtocolVersion?.(result.protocolVersion);
    fromServer = fromServer
      .then(() => governor.fromUpstream(m))
      .then((out) => {
        if (out) toClient(out);
      })
      .catch((err: unknown) => o.log(`writ mcp: ${errorMessage(err)}`));
  };
  client.onclose = () => void close();
  upstream.onclose = () => void close();
  client.onerror = (err) => o.log(`writ mcp: client transport: ${err.message}`);
  upstream.onerror = (err) => o.log(`writ mcp: upstream transport: ${err.message}`);
  // progress while a call awaits approval: relatedRequest routes it by its progressToken
  governor.onNotify((m) => toClient(m));
  governor.onRevoked((r) => {
    void upstream.send(r.cancel).catch(() => undefined);
    toClient(r.reply);
  });
  await upstream.start();
  await client.start();
  return { close, closed, refuse: (m, violation) => governor.refuse(m, violation).then(act) };
}

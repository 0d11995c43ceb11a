/**
 * The JSON-RPC messages the MCP governor (governor.ts) writes itself rather than passing on:
 * a denial, a refusal of a malformed or unsupported request, the progress a call awaiting
 * approval reports, and the reply and cancellation of a call a revocation ended.
 */
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Decision } from '../../node/node.ts';
import { evaluatedOf } from '../../node/evaluated.ts';
import type { Begun } from '../governed-call.ts';
import { WRIT_DENIED } from './names.ts';

/** Denials of the session (Action::"mcp/session") rather than of the call itself: the client is told which it was. */
const SESSION_DENIALS = new WeakSet<Decision>();

/**
 * A refused call's JSON-RPC error. Its data names the decision (id, ledger index: `writ explain`
 * takes either), what Cedar evaluated, and whether the session or the call was refused.
 */
export function denial(id: RequestId, d: Decision): JSONRPCMessage {
  const refused = SESSION_DENIALS.has(d) ? 'session' : 'call';
  const message = refused === 'session' ? `writ: the MCP session was refused, so no call of it can run: ${d.message}` : `writ: ${d.message}`;
  return {
    jsonrpc: '2.0',
    id,
    error: {
      code: WRIT_DENIED,
      message,
      data: { reasons: d.reasons, decisionId: d.decisionId, ledgerIndex: d.ledgerIndex, policies: d.policies, evaluated: evaluatedOf(d), refused, ...(d.approvalId && { approvalId: d.approvalId }) },
    },
  } as JSONRPCMessage;
}

/** A call denied by `d`, as GovernedCall's begin() reports one. */
export function deniedBy(d: Decision): Begun {
  return { denied: { reasons: d.reasons, message: d.message, decisionId: d.decisionId, decision: d } };
}

/** A call denied because its session was: denial() then says the session was refused. */
export function sessionDeniedBy(d: Decision): Begun {
  SESSION_DENIALS.add(d);
  return deniedBy(d);
}

/** The decision a begun call stands on, allowed or denied (for its writ.decide span). */
export const decisionOfBegun = (b: Begun): Decision => ('denied' in b ? b.denied.decision : b.call.decision);

/** An error reply to a request the governor does not let through, with a plain JSON-RPC code. */
export function refusal(id: RequestId, code: number, message: string): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage;
}

/**
 * The `progress`-th report of a call awaiting approval, on its request's progressToken;
 * progress must increase with each notification, and with no total it counts the reports.
 */
export function approvalProgress(progressToken: string | number, progress: number, approvalId: string, waitedMs: number): JSONRPCMessage {
  const seconds = Math.round(waitedMs / 1000);
  return { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken, progress, message: `awaiting human approval ${approvalId} (${seconds} s): writ approve ${approvalId}` } } as JSONRPCMessage;
}

/** What ends a running call its lease ended: the client's error reply and the server's cancellation. */
export function terminationMessages(id: RequestId, jti: string, reason: string, code: string): { reply: JSONRPCMessage; cancel: JSONRPCMessage } {
  const what = code === 'writ_revoked' ? 'revoked' : 'no longer authorized';
  return {
    reply: { jsonrpc: '2.0', id, error: { code: WRIT_DENIED, message: `writ: ${what} while running: ${reason}`, data: { reasons: [code], jti } } } as JSONRPCMessage,
    cancel: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: `writ ${what}: ${reason}` } } as JSONRPCMessage,
  };
}

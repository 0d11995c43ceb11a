/**
 * `--approval-webhook URL` (`writ up`, `writ mcp`): tells approvers that a request awaits
 * them, instead of their watching stderr or the console. Each approval request opened by
 * this process's node is POSTed as JSON; the webhook is a notification, never a gate: a
 * failure is logged and the call waits for its decision as it would without it.
 */
import type { GovernanceNode } from './node.ts';
import type { ApprovalStore } from './state.ts';
import { errorMessage } from '../util.ts';

/** how long one POST may take (it runs beside the wait, which it never delays) */
export const APPROVAL_WEBHOOK_TIMEOUT_MS = 5000;

/** What the webhook receives: enough to judge the call and decide it (`writ approve <approvalId>`). */
export interface ApprovalNotice {
  approvalId: string;
  principal: string;
  action: string;
  resource: string;
  /** the call's arguments (null: none, or too large to keep; `intent` is their digest either way) */
  args: unknown;
  intent: string;
  expires: string;
}

/** The webhook's URL, checked once at start: only http(s). */
export function parseApprovalWebhook(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--approval-webhook ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--approval-webhook must be an http(s) URL, not ${url.protocol}`);
  return url;
}

/** POSTs each approval request `node` opens to `url`; returns when registered (the POSTs run on their own). */
export function notifyApprovals(node: Pick<GovernanceNode, 'onDecision'>, state: Pick<ApprovalStore, 'approval'>, url: URL, log: (line: string) => void): void {
  node.onDecision((d) => {
    // only the decision that opened the request carries its id with approval_required
    if (d.approvalId === undefined || d.reasons[0] !== 'approval_required') return;
    const a = state.approval(d.approvalId);
    if (!a || a.status !== 'pending') return;
    const notice: ApprovalNotice = { approvalId: a.id, principal: a.principal, action: a.action, resource: a.resource, args: a.args ? (JSON.parse(a.args) as unknown) : null, intent: a.intent, expires: a.expires };
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(notice), signal: AbortSignal.timeout(APPROVAL_WEBHOOK_TIMEOUT_MS) })
      .then(async (r) => {
        await r.body?.cancel();
        if (!r.ok) log(`approval webhook ${url.origin}: approval ${a.id} answered ${r.status}`);
      })
      .catch((err: unknown) => log(`approval webhook ${url.origin}: approval ${a.id} not delivered: ${errorMessage(err)}`));
  });
}

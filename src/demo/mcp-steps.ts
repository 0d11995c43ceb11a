/**
 * The demo's steps through `writ mcp` in front of the filesystem server: an allowed read,
 * a denied write, a denied traversal, and a write that waits for a person's approval.
 * A call is made as any MCP client makes it; what the chain shows is read back from the
 * ledger, the executor-side guard and the sandbox.
 */
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { WRIT_DENIED } from '../enforce/mcp/names.ts';
import { pause } from '../clock.ts';
import { errorMessage, isRecord } from '../util.ts';
import { WritError } from '../writ/errors.ts';
import { outcomeEntry } from './chain.ts';
import { chainOf, notRun, type StepContext } from './context.ts';
import type { DemoChain } from './contract.ts';
import { DEMO_AGENT } from './steps.ts';
import { APPROVED_WRITE, DENIED_WRITE, README, TRAVERSAL } from './sandbox.ts';

export interface McpCallResult {
  /** the tool's result, when the call ran */
  result?: { isError?: boolean; content?: unknown };
  /** Writ's refusal (-32003), with the decision that made it */
  denied?: { decisionId: string; message: string; reasons: string[]; approvalId?: string };
}

/** Tool calls wait at most this long for an answer (an approval waits longer: its own timeout). */
const CALL_TIMEOUT_MS = 30_000;

export async function callTool(c: StepContext, name: string, args: Record<string, unknown>, timeoutMs = CALL_TIMEOUT_MS): Promise<McpCallResult> {
  const s = await c.mcp();
  try {
    const r = await s.client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs });
    return { result: { ...(r.isError === true && { isError: true }), content: r.content } };
  } catch (err) {
    if (err instanceof McpError && err.code === WRIT_DENIED && isRecord(err.data) && typeof err.data.decisionId === 'string') {
      const reasons = Array.isArray(err.data.reasons) ? err.data.reasons.map(String) : [];
      // the SDK prefixes "MCP error -32003: " and the proxy "writ: ": the node's own message is the rest
      const message = err.message.replace(/^MCP error -?\d+: /, '').replace(/^writ: /, '');
      return { denied: { decisionId: err.data.decisionId, message, reasons, ...(typeof err.data.approvalId === 'string' && { approvalId: err.data.approvalId }) } };
    }
    throw new WritError('internal_error', `the demo's ${name} call failed: ${errorMessage(err)}`);
  }
}

function text(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((x: unknown) => (isRecord(x) && typeof x.text === 'string' ? x.text : ''))
    .join('')
    .slice(0, 400);
}

/** The outcome the enforcement point records right after it answers: waited for briefly. */
async function recordedOutcome(c: StepContext, jti: string): Promise<{ index: number; leaf: Record<string, unknown> } | null> {
  for (let i = 0; i < 50; i++) {
    const o = outcomeEntry(c.ledger, jti);
    if (o) return o;
    await pause(c.node.clock, 40);
  }
  return null;
}

/** The chain of a call that ran (allowed, verified by the guard) or that Writ refused. */
export async function mcpChain(c: StepContext, r: McpCallResult, name: string, args: Record<string, unknown>, evidence: () => string, related: string[] = []): Promise<DemoChain> {
  if (r.denied) {
    return chainOf(c, {
      decided: { decisionId: r.denied.decisionId, message: r.denied.message },
      verification: null,
      outcome: notRun('Writ refused the call: the filesystem server never received it', evidence()),
      related,
    });
  }
  const s = await c.mcp();
  const check = s.guard.latest(name, args);
  if (!check) throw new WritError('internal_error', `the demo's ${name} call ran without passing the executor's guard`);
  const jti = check.jti;
  const o = jti ? await recordedOutcome(c, jti) : null;
  const status = o?.leaf.status === 'ok' ? 'ok' : o?.leaf.status === 'terminated' ? 'terminated' : 'failed';
  const out = text(r.result?.content);
  return chainOf(c, {
    decided: { writ: check.writ },
    verification: { ok: check.ok, reason: check.reason, detail: check.detail },
    outcome: {
      status,
      detail: `${r.result?.isError ? 'the server answered with an error' : 'the server answered'}${out ? `: ${JSON.stringify(out)}` : ''}`,
      evidence: evidence(),
      ledgerIndex: o?.index ?? null,
    },
    related,
  });
}

export async function readAllowed(c: StepContext): Promise<DemoChain> {
  const r = await callTool(c, 'read_text_file', { path: README });
  return mcpChain(c, r, 'read_text_file', { path: README }, () => (r.result ? `sandbox/${README} read through the governed server` : 'the filesystem server received no call'));
}

export async function writeDenied(c: StepContext): Promise<DemoChain> {
  c.sandbox.remove(DENIED_WRITE);
  const r = await callTool(c, 'write_file', { path: DENIED_WRITE, content: 'written by the demo agent' });
  return mcpChain(c, r, 'write_file', { path: DENIED_WRITE, content: 'written by the demo agent' }, () => c.sandbox.fact(DENIED_WRITE));
}

export async function traversalDenied(c: StepContext): Promise<DemoChain> {
  const s = await c.mcp();
  const before = s.guard.forwarded;
  const r = await callTool(c, 'read_text_file', { path: TRAVERSAL });
  return mcpChain(c, r, 'read_text_file', { path: TRAVERSAL }, () => `calls the filesystem server received during this step: ${s.guard.forwarded - before}`);
}

/** The approval step, begun: the call waits for a person; `finish` is the call's end. */
export interface PendingApproval {
  approvalId: string;
  args: Record<string, unknown>;
  chain: DemoChain;
  finish: Promise<DemoChain>;
}

export async function approvalBegin(c: StepContext, timeoutMs: number): Promise<PendingApproval> {
  c.sandbox.remove(APPROVED_WRITE);
  const args = { path: APPROVED_WRITE, content: `Report written by the demo agent at ${c.at}, after a person approved it.\n` };
  const before = new Set(c.state.pendingApprovals().map((a) => a.id));
  const call = callTool(c, 'write_file', args, timeoutMs + CALL_TIMEOUT_MS);
  let settled: McpCallResult | null = null;
  void call.then((r) => (settled = r), () => undefined);
  // the proxy has asked for an approval once the request is pending: the id is that decision's
  for (let i = 0; i < 250; i++) {
    const mine = c.state.pendingApprovals().find((a) => !before.has(a.id) && a.principal === DEMO_AGENT && a.resource === 'Tool::"fs/write_file"');
    if (mine) {
      const finish = call.then((r) => mcpChain(c, r, 'write_file', args, () => c.sandbox.fact(APPROVED_WRITE), [mine.id]));
      const chain = chainOf(c, {
        decided: { decisionId: mine.id, message: 'waiting for a person to approve or reject the call' },
        verification: null,
        outcome: { status: 'pending', detail: 'the call waits: approve or reject it', evidence: c.sandbox.fact(APPROVED_WRITE), ledgerIndex: null },
        pending: { approvalId: mine.id, args },
      });
      return { approvalId: mine.id, args, chain, finish };
    }
    if (settled) break;
    await pause(c.node.clock, 40);
  }
  const r = await call;
  // not sent for approval (e.g. the policy changed): the chain says what happened instead
  const chain = await mcpChain(c, r, 'write_file', args, () => c.sandbox.fact(APPROVED_WRITE));
  return { approvalId: '', args, chain, finish: Promise.resolve(chain) };
}

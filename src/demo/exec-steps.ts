/**
 * The demo's process steps, through `writ exec`'s own code (governedExec: decide, verify
 * the writ and the binary's digest, spawn, hold the lease, record the outcome), and the
 * delegated child asked of the node directly on behalf of an allowed read.
 */
import { pause } from '../clock.ts';
import { governedExec, type ExecOptions, type ExecResult } from '../enforce/exec.ts';
import { revoke } from '../node/evidence.ts';
import { errorMessage } from '../util.ts';
import { WritError } from '../writ/errors.ts';
import { outcomeEntry } from './chain.ts';
import { chainOf, notRun, type StepContext } from './context.ts';
import type { DemoChain } from './contract.ts';
import { callTool } from './mcp-steps.ts';
import { README } from './sandbox.ts';
import { DEMO_AGENT } from './steps.ts';

const EXEC_VERIFIED = 'verified by the executor before it spawned: signature, typ, aud, time window, the intent recomputed from the exact argv, environment and working directory, the binary\'s SHA-256 against the decided one, and single use (consumed)';

interface Started {
  writ: string;
  jti: string;
  pid: number | undefined;
}

async function exec(c: StepContext, command: string, args: string[], onStart?: (s: Started) => void): Promise<{ result: ExecResult; started: Started | null; ms: number }> {
  let started: Started | null = null;
  const t0 = performance.now();
  const o: ExecOptions = {
    node: c.node,
    ledger: c.ledger,
    principal: DEMO_AGENT,
    command,
    args,
    cwd: c.sandbox.root,
    stdio: 'ignore',
    graceMs: 1000,
    ...(c.running && { running: c.running }),
    log: c.log,
  };
  o.onStart = (s) => {
    started = { writ: s.writ, jti: s.claims.jti, pid: s.pid };
    onStart?.(started);
  };
  const result = await governedExec(o);
  return { result, started, ms: performance.now() - t0 };
}

async function execChain(c: StepContext, r: { result: ExecResult; started: Started | null; ms: number }, evidence: string, related: string[] = []): Promise<DemoChain> {
  const { result, started } = r;
  if (result.decision === 'deny' || !started) {
    return chainOf(c, { decided: { decisionId: result.decisionId }, verification: null, outcome: notRun(`Writ refused it (${result.reason ?? 'denied'}): no process was spawned`, evidence), related });
  }
  const o = result.jti ? outcomeEntry(c.ledger, result.jti) : null;
  const status = o?.leaf.status === 'terminated' ? 'terminated' : o?.leaf.status === 'ok' ? 'ok' : 'failed';
  const detail = `pid ${started.pid ?? '?'} ran ${(r.ms / 1000).toFixed(2)} s and exited with code ${result.exitCode}${result.reason ? ` (${result.reason})` : ''}`;
  return chainOf(c, {
    decided: { writ: started.writ },
    verification: { ok: true, reason: null, detail: EXEC_VERIFIED },
    outcome: { status, detail, evidence, ledgerIndex: o?.index ?? null },
    related,
  });
}

export async function execAllowed(c: StepContext): Promise<DemoChain> {
  const r = await exec(c, '/usr/bin/echo', ['hello from a governed process']);
  return execChain(c, r, r.started ? `exit code ${r.result.exitCode}; the outcome is in the ledger` : 'no process was spawned');
}

export async function execDenied(c: StepContext): Promise<DemoChain> {
  const r = await exec(c, '/usr/bin/rm', ['-r', c.sandbox.path('notes')]);
  return execChain(c, r, c.sandbox.fact(README));
}

/** How long the process visibly runs before the demo revokes its writ. */
const RUN_BEFORE_REVOKE_MS = 400;

export async function revocation(c: StepContext): Promise<DemoChain> {
  let revoked: Promise<{ ledgerIndex: number | null }> | null = null;
  let jti = '';
  const r = await exec(c, '/usr/bin/sleep', ['30'], (s) => {
    jti = s.jti;
    revoked = pause(c.node.clock, RUN_BEFORE_REVOKE_MS).then(() => revoke(c.ledger, c.state, { kind: 'writ', value: jti, reason: 'revoked by the Runtime Governance Demo', by: 'demo' }));
  });
  if (!revoked) return execChain(c, r, 'the process never started: nothing to revoke');
  let index: number | null;
  try {
    index = (await (revoked as Promise<{ ledgerIndex: number | null }>)).ledgerIndex;
  } catch (err) {
    throw new WritError('internal_error', `the demo could not revoke writ ${jti}: ${errorMessage(err)}`);
  }
  return execChain(c, r, `sleep 30 ended after ${(r.ms / 1000).toFixed(2)} s; the revocation is ledger entry #${index ?? '?'}`);
}

/** A child of the agent's allowed read asks to run a binary: children may only narrow. */
export async function delegatedChild(c: StepContext): Promise<DemoChain> {
  const parentCall = await callTool(c, 'read_text_file', { path: README });
  const s = await c.mcp();
  const parent = s.guard.latest('read_text_file', { path: README });
  if (!parentCall.result || !parent?.ok) throw new WritError('internal_error', 'the demo could not obtain the parent writ (the read was not allowed)');
  const d = await c.node.authorize({
    principal: DEMO_AGENT,
    action: 'Action::"exec"',
    resource: 'Binary::"/usr/bin/echo"',
    args: { argv: ['/usr/bin/echo', 'on behalf of the read'] },
    parent: parent.writ,
  });
  if (d.decision === 'allow' && d.writ) {
    return chainOf(c, { decided: { writ: d.writ }, verification: null, outcome: notRun('allowed, but the demo does not run it', null) });
  }
  return chainOf(c, {
    decided: { decisionId: d.decisionId, message: d.message },
    verification: null,
    outcome: notRun('no writ was issued: nothing can run on behalf of the parent', `the parent writ ${parent.jti ?? ''} still allows only its read`),
  });
}

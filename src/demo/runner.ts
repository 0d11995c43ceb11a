/**
 * The Runtime Governance Demo, run against the real node: `writ up --demo` serves it to
 * the console's #/demo page (src/console/demo-routes.ts) and `writ demo` prints it. One
 * step runs at a time; the approval step returns while it waits for a person and is
 * finished by `decide`. The latest chain of each step is kept (one per step: bounded).
 */
import { parseUid } from '../canonical/uid.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { decideApproval } from '../node/approval.ts';
import type { GovernanceNode } from '../node/node.ts';
import type { RunningRegistry } from '../node/running.ts';
import type { NodeState } from '../node/state.ts';
import { isRecord } from '../util.ts';
import { WritError } from '../writ/errors.ts';
import { notRun, chainOf, type StepContext } from './context.ts';
import { DEMO_CONTRACT_VERSION, type DemoChain, type DemoOverview, type DemoStepId, type DemoTryRequest } from './contract.ts';
import { delegatedChild, execAllowed, execDenied, revocation } from './exec-steps.ts';
import { openDemoMcp, type DemoMcpSession } from './mcp-session.ts';
import { approvalBegin, readAllowed, traversalDenied, writeDenied, type PendingApproval } from './mcp-steps.ts';
import { Sandbox } from './sandbox.ts';
import { sandboxScope, type SandboxScope } from './scope.ts';
import { DEMO_AGENT, DEMO_STEPS, isStepId } from './steps.ts';

/** A refusal of the demo's own (not a governance decision): its HTTP status goes with it. */
export class DemoRefusal extends WritError {
  readonly status: 400 | 403 | 404 | 409;
  constructor(status: 400 | 403 | 404 | 409, code: string, message: string) {
    super(code, message);
    this.name = 'DemoRefusal';
    this.status = status;
  }
}

export interface DemoRunnerDeps {
  node: GovernanceNode;
  ledger: Ledger;
  state: NodeState;
  running?: RunningRegistry;
  /** the home: the sandbox is created in it */
  home: string;
  log?: (line: string) => void;
  /** how long the approval step waits for a person (default 5 min) */
  approvalTimeoutMs?: number;
}

const STEPS: Record<Exclude<DemoStepId, 'approval'>, (c: StepContext) => Promise<DemoChain>> = {
  'read-allowed': readAllowed,
  'write-denied': writeDenied,
  'traversal-denied': traversalDenied,
  'delegated-child': delegatedChild,
  'exec-allowed': execAllowed,
  'exec-denied': execDenied,
  revocation,
};

const MAX_TRY_ARGS_BYTES = 4096;

export class DemoRunner {
  readonly sandbox: Sandbox;
  readonly scope: SandboxScope;
  private readonly d: DemoRunnerDeps;
  private readonly log: (line: string) => void;
  private readonly runs = new Map<DemoStepId | 'try', DemoChain>();
  private busy: string | null = null;
  private pending: PendingApproval | null = null;
  private session: Promise<DemoMcpSession> | null = null;
  private closed = false;

  constructor(d: DemoRunnerDeps) {
    this.d = d;
    this.log = d.log ?? (() => undefined);
    this.sandbox = Sandbox.create(d.home);
    this.scope = sandboxScope();
  }

  overview(): DemoOverview {
    return {
      v: DEMO_CONTRACT_VERSION,
      steps: [...DEMO_STEPS],
      sandbox: this.sandbox.root,
      ...this.scope,
      runs: DEMO_STEPS.flatMap((s) => this.runs.get(s.id) ?? []),
    };
  }

  /** Runs one step to its end (the approval step: to its wait). */
  run(id: string): Promise<DemoChain> {
    if (!isStepId(id)) return Promise.reject(new DemoRefusal(404, 'demo_no_such_step', `no demo step ${JSON.stringify(id)}; the steps are ${DEMO_STEPS.map((s) => s.id).join(', ')}`));
    if (id === 'approval' && this.pending) {
      return Promise.reject(new DemoRefusal(409, 'demo_busy', `an approval is already waiting (${this.pending.approvalId}): approve or reject it first`));
    }
    return this.exclusive(id, async (c) => {
      if (id !== 'approval') return STEPS[id](c);
      const p = await approvalBegin(c, this.d.approvalTimeoutMs ?? 300_000);
      if (!p.approvalId) return p.chain;
      this.pending = p;
      // a wait nobody ends expires (recorded as expired) and is then no longer pending
      void p.finish.then((chain) => this.runs.set('approval', chain), (err: unknown) => this.log(`writ demo: the approval step failed: ${String(err)}`)).finally(() => {
        if (this.pending === p) this.pending = null;
      });
      return p.chain;
    });
  }

  /** Approves or rejects the approval step's waiting call, and returns the step's chain once the call has ended. */
  async decide(approvalId: string, approve: boolean, by = 'demo visitor'): Promise<DemoChain> {
    const p = this.pending;
    if (!p || p.approvalId !== approvalId) throw new DemoRefusal(404, 'demo_no_such_approval', `approval ${approvalId} is not the demo's waiting approval (run the approval step first)`);
    await decideApproval(this.d.ledger, this.d.state, approvalId, approve ? 'approved' : 'rejected', by);
    const chain = await p.finish;
    this.runs.set('approval', chain);
    return chain;
  }

  /** The decision for a request of the visitor's, with the chain; nothing is executed. Who may ask what is the caller's to check (demo-routes). */
  async try(req: unknown): Promise<DemoChain> {
    const r = tryRequest(req);
    return this.exclusive('try', async (c) => {
      const d = await this.d.node.authorize({ principal: r.principal, action: r.action, resource: r.resource, args: r.args });
      if (d.decision !== 'allow' || !d.writ) return chainOf(c, { decided: { decisionId: d.decisionId, message: d.message }, verification: null, outcome: notRun('denied: no writ, nothing could run', null) });
      let verification: DemoChain['verification'];
      try {
        const v = await this.d.node.verify(d.writ, { audience: r.resource, args: r.args, consume: true, expect: { action: r.action, resource: r.resource } });
        verification = { ok: true, reason: null, detail: `verified as an executor would (key ${v.kid}, audience, time window, intent of these arguments) and consumed` };
      } catch (err) {
        verification = { ok: false, reason: err instanceof WritError ? err.code : 'internal_error', detail: String(err) };
      }
      return chainOf(c, { decided: { writ: d.writ }, verification, outcome: notRun('"try your own" asks for a decision only: nothing is executed', null) });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = null;
    if (s) await (await s.catch(() => null))?.close();
  }

  private mcp(): Promise<DemoMcpSession> {
    if (this.closed) return Promise.reject(new WritError('internal_error', 'the demo is closed'));
    this.session ??= openDemoMcp({
      node: this.d.node,
      ledger: this.d.ledger,
      state: this.d.state,
      ...(this.d.running && { running: this.d.running }),
      principal: DEMO_AGENT,
      sandbox: this.sandbox.root,
      approvalTimeoutMs: this.d.approvalTimeoutMs ?? 300_000,
      log: this.log,
    }).catch((err: unknown) => {
      this.session = null; // the next step tries again
      throw err;
    });
    return this.session;
  }

  private async exclusive(step: DemoStepId | 'try', fn: (c: StepContext) => Promise<DemoChain>): Promise<DemoChain> {
    if (this.busy) throw new DemoRefusal(409, 'demo_busy', `the demo is running ${this.busy}: try again when it has finished`);
    this.busy = step;
    try {
      const c: StepContext = {
        node: this.d.node,
        ledger: this.d.ledger,
        state: this.d.state,
        ...(this.d.running && { running: this.d.running }),
        sandbox: this.sandbox,
        mcp: () => this.mcp(),
        log: this.log,
        step,
        at: new Date(this.d.node.clock.now()).toISOString(),
        from: this.d.ledger.size(),
      };
      const chain = await fn(c);
      this.runs.set(step, chain);
      return chain;
    } finally {
      this.busy = null;
    }
  }
}

/** A "try your own" request, checked: UIDs in Cedar's text form, args a small JSON object. */
export function tryRequest(v: unknown): DemoTryRequest {
  const bad = (m: string) => new DemoRefusal(400, 'request_invalid', m);
  if (!isRecord(v)) throw bad('expected {principal, action, resource, args}');
  for (const k of ['principal', 'action', 'resource'] as const) {
    const t = v[k];
    if (typeof t !== 'string' || t.length > 512 || !parseUid(t)) throw bad(`${k} must be a Cedar entity UID such as ${k === 'principal' ? 'Agent::"a1"' : k === 'action' ? 'Action::"tools/call"' : 'Tool::"fs/read_text_file"'}`);
  }
  const args = v.args ?? {};
  if (!isRecord(args)) throw bad('args must be a JSON object');
  if (JSON.stringify(args).length > MAX_TRY_ARGS_BYTES) throw bad(`args must be at most ${MAX_TRY_ARGS_BYTES} bytes of JSON`);
  return { principal: v.principal as string, action: v.action as string, resource: v.resource as string, args };
}

/** `writ approve`, `writ reject`, `writ approvals`: human approval of calls whose policy asks for it. */
import type { Command } from 'commander';
import { openHome } from '../home/open.ts';
import { ApprovalStateError, decideApproval, expireOverdue, recordProblem } from '../node/approval.ts';
import type { ApprovalRecord } from '../node/state.ts';
import { CliError, homeOf, homeOption, printJson } from './common.ts';

/** What the approver reads of the arguments: the canonical JSON kept with the request, else why there is none. */
function argsLine(a: ApprovalRecord): string {
  if (a.args !== undefined && a.args !== null) return a.args;
  return `(not kept: none, or too large; intent ${a.intent})`;
}

function decideCommand(program: Command, name: 'approve' | 'reject', status: 'approved' | 'rejected'): void {
  homeOption(
    program
      .command(`${name} <decisionId>`)
      .description(`${name} a pending approval request (its id is the decision id of the approval_required denial); recorded in the ledger`)
      .option('--by <name>', 'who decides (recorded)', process.env.USER ?? 'operator')
      .option('--json', 'machine-readable output'),
  ).action(async (id: string, o: { home?: string; by: string; json?: boolean }) => {
    const h = await openHome(homeOf(o));
    try {
      const a = await decideApproval(h.ledger, h.state, id, status, o.by);
      if (o.json) printJson(a);
      else process.stdout.write(`${status} ${id}: ${a.principal} ${a.action} ${a.resource} (until ${a.expires})\n`);
    } catch (err) {
      if (err instanceof ApprovalStateError) throw new CliError(`${name}: ${err.message}`);
      throw err;
    } finally {
      h.close();
    }
  });
}

export function registerApprove(program: Command): void {
  decideCommand(program, 'approve', 'approved');
  decideCommand(program, 'reject', 'rejected');
  homeOption(program.command('approvals').description('list pending approval requests').option('--json', 'machine-readable output')).action(
    async (o: { home?: string; json?: boolean }) => {
      const h = await openHome(homeOf(o));
      try {
        // what can no longer be approved is recorded as expired first, so it is not listed as pending
        await expireOverdue(h.ledger, h.state, h.node.now(), Number.POSITIVE_INFINITY);
        // each checked against the decision that asked (node/approval-record.ts): an edited state.db is named, never shown as the call
        const pending = h.state.pendingApprovals().map((a) => ({ ...a, recordProblem: recordProblem(h.ledger, a) }));
        if (o.json) printJson(pending);
        else if (pending.length === 0) process.stdout.write('no pending approvals\n');
        else
          for (const a of pending) {
            const args = a.recordProblem === null ? `  args ${argsLine(a)}` : `  NOT THE RECORDED REQUEST: ${a.recordProblem}; it cannot be approved`;
            process.stdout.write(`${a.id}  ${a.principal} ${a.action} ${a.resource}  until ${a.expires}\n${args}\n`);
          }
      } finally {
        h.close();
      }
    },
  );
}

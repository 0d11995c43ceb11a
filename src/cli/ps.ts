/**
 * `writ ps`: the executions running under this home's writs (issue 13) — `writ exec`
 * processes and MCP tool calls in flight, as their enforcement points registered them —
 * and `writ ps --terminate <jti>`, which revokes that writ exactly as `writ revoke --kind
 * writ <jti>` does on this home (src/cli/revoke.ts): the enforcement point's lease ends the
 * execution when its writ is revoked, and the revocation is recorded in the ledger.
 */
import type { Command } from 'commander';
import { readConfig } from '../home/config.ts';
import { homeKind } from '../home/kind.ts';
import { humanSeconds, openRunning, processAlive, runningView, terminationReason, type RunningView } from '../home/running.ts';
import { CliError, EXIT, homeOf, homeOption, printJson, withStateDatabase } from './common.ts';
import { runRevocation } from './revoke.ts';

function constraint(v: RunningView): string {
  return v.maxRunSeconds === null ? '-' : `max ${humanSeconds(v.maxRunSeconds)} (${humanSeconds(v.secondsLeft ?? 0)} left)`;
}

function table(views: RunningView[]): string {
  const head = ['JTI', 'KIND', 'PRINCIPAL', 'ACTION → RESOURCE', 'AGE', 'CONSTRAINT', 'PID', 'NODE'];
  const rows = views.map((v) => [v.jti, v.kind, v.principal, `${v.action} → ${v.resource}`, humanSeconds(v.ageSeconds), constraint(v), String(v.pid), v.node]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

const HELP = `
Lists what runs now under this home's writs, oldest first: each \`writ exec\` process and
each MCP tool call in flight (\`writ mcp\`), as its enforcement point registered it when
the execution began; rows of processes that are gone are removed as they are listed.
Columns: the writ's jti, kind (exec, mcp, http), principal, action → resource, age,
constraint (the writ's maxRunSeconds and the time left, or -), the pid running it, the node.

--terminate <jti> ends one: it revokes that writ exactly as \`writ revoke --kind writ <jti>\`
does on this home (embedded: locally, recorded in the ledger; a fleet authority's home:
fleet-wide; a fleet node's home: refused, the authority revokes), with the reason
"terminated by cli: <reason>". The enforcement point sees the revocation and ends the
execution (exec: SIGTERM to its process group, SIGKILL after the grace).

Examples:
  writ ps --home /tmp/w
  writ ps --home /tmp/w --json
  writ ps --home /tmp/w --terminate 0197a1c2-… --reason "runaway job"
`;

export function registerPs(program: Command): void {
  homeOption(
    program
      .command('ps')
      .description('list the executions running under this home\'s writs (writ exec, MCP calls in flight); --terminate <jti> ends one by revoking its writ')
      .option('--terminate <jti>', 'end this running execution: revoke its writ (recorded in the ledger, as writ revoke --kind writ <jti>)')
      .option('--reason <text>', 'with --terminate: recorded with the revocation as "terminated by cli: <text>"')
      .option('--json', 'machine-readable output')
      .addHelpText('after', HELP),
  ).action(async (o: { home?: string; terminate?: string; reason?: string; json?: boolean }) => {
    const home = homeOf(o);
    if (o.reason !== undefined && o.terminate === undefined) throw new CliError('writ ps: --reason goes with --terminate <jti>', EXIT.usage);
    const now = Date.now();
    const views = withStateDatabase(o, 'writ ps', (db) => openRunning(db).list(processAlive).map((r) => runningView(r, now)));
    if (o.terminate === undefined) {
      if (o.json) printJson({ running: views });
      else process.stdout.write(views.length === 0 ? 'no running executions\n' : table(views));
      return;
    }
    const jti = o.terminate;
    // a fleet authority's home runs nothing itself: the executions are at the nodes, its revocation reaches them all
    if (homeKind(home, readConfig(home)) !== 'fleet-authority' && !views.some((v) => v.jti === jti)) {
      throw new CliError(`writ ps: no running execution under writ ${jti} on ${home} (writ revoke --kind writ ${jti} revokes a writ that is not running)`);
    }
    await runRevocation({ home, command: 'ps --terminate', past: 'terminated', kind: 'writ', value: jti, reason: terminationReason('cli', o.reason), ...(o.json && { json: true }) });
  });
}

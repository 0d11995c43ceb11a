/**
 * `writ demo`: the Runtime Governance Demo in the terminal — the same scenario as the
 * console's #/demo page (src/demo), against the home's real node, one line per step.
 * Exit 0 when every step came out as the scenario expects, 1 otherwise.
 */
import { existsSync } from 'node:fs';
import { styleText } from 'node:util';
import type { Command } from 'commander';
import type { DemoChain, DemoStepInfo } from '../demo/contract.ts';
import { ensureDemoPolicy } from '../demo/policy.ts';
import { DemoRunner } from '../demo/runner.ts';
import { paths } from '../home/config.ts';
import { initHome } from '../home/init.ts';
import { openHome } from '../home/open.ts';
import { errorMessage } from '../util.ts';
import { EXIT, homeOf, homeOption, printJson } from './common.ts';

type Style = Parameters<typeof styleText>[0];
/** Colours only on a terminal, and never with NO_COLOR (styleText checks both against stdout). */
const paint = (style: Style, text: string) => styleText(style, text, { stream: process.stdout });

/** Whether a step came out as the scenario says: an allow that ran, or a refusal (by the node or the executor) where nothing ran. */
export function asExpected(step: DemoStepInfo, c: DemoChain): boolean {
  const refused = c.decision.decision === 'deny' || c.verification?.ok === false || c.outcome.status === 'not-run';
  return step.expect === 'allow' ? c.decision.decision === 'allow' && !refused : refused;
}

function line(step: DemoStepInfo, c: DemoChain, ok: boolean): string {
  const mark = ok ? paint('green', '✔') : paint('red', '✘');
  const decision = c.decision.decision === 'allow' ? paint('green', 'allow') : paint('red', 'deny ');
  const why = [c.decision.reasons.join(','), c.decision.policies.length > 0 ? `(${c.decision.policies.join(', ')})` : ''].filter(Boolean).join(' ');
  const outcome = `${c.outcome.status}${c.outcome.evidence ? `: ${c.outcome.evidence}` : ''}`;
  const ledger = c.ledger.length > 0 ? paint('dim', ` [ledger #${c.ledger.map((e) => e.index).join(', #')}]`) : '';
  return `${mark} ${paint('bold', step.id.padEnd(16))} ${decision}  ${why.padEnd(48)} → ${outcome}${ledger}`;
}

/** Runs every step, approving (or with `reject`, rejecting) the approval, and writes one line per step to `out`. */
export async function runScenario(runner: DemoRunner, o: { reject?: boolean; out?: (line: string) => void }): Promise<{ chains: DemoChain[]; failures: number }> {
  const out = o.out ?? (() => undefined);
  const chains: DemoChain[] = [];
  let failures = 0;
  for (const step of runner.overview().steps) {
    let c: DemoChain;
    try {
      c = await runner.run(step.id);
      if (c.pending) {
        out(paint('yellow', `… ${step.id.padEnd(16)} waits for a person: ${o.reject ? 'rejecting' : 'approving'} approval ${c.pending.approvalId} (as \`writ ${o.reject ? 'reject' : 'approve'}\` would)`));
        c = await runner.decide(c.pending.approvalId, !o.reject, 'writ demo');
      }
    } catch (err) {
      failures++;
      out(`${paint('red', '✘')} ${step.id}: ${errorMessage(err)}`);
      continue;
    }
    chains.push(c);
    // with --reject, the approval step is expected to be refused
    const expected = o.reject && step.id === 'approval' ? { ...step, expect: 'deny' as const } : step;
    const ok = asExpected(expected, c);
    if (!ok) failures++;
    out(line(step, c, ok));
  }
  return { chains, failures };
}

export function registerDemo(program: Command): void {
  homeOption(
    program
      .command('demo')
      .description('run the Runtime Governance Demo in the terminal: eight real governed steps (MCP reads and writes, an approval, a delegated child, writ exec, a revocation), one line each')
      .option('--reject', 'reject the approval step instead of approving it')
      .option('--json', 'print every step\'s chain (src/demo/contract.ts) as JSON instead of the transcript')
      .addHelpText('after', '\nThe home is initialized if it does not exist, and the demo policy (demo/policy) is activated unless a valid bundle is active.\nEvery step is recorded in the home\'s ledger: `writ audit verify` and the console (`npm start`, /console/#/demo) show the same evidence.\nExit status: 0 when every step came out as expected, 1 otherwise.'),
  ).action(async (o: { home?: string; reject?: boolean; json?: boolean }) => {
    const home = homeOf(o);
    const say = (s: string) => process.stderr.write(`writ demo: ${s}\n`);
    if (!existsSync(paths(home).config)) {
      await initHome({ home });
      say(`initialized ${home}`);
    }
    const h = await openHome(home);
    const runner = new DemoRunner({ node: h.node, ledger: h.ledger, state: h.state, running: h.running, home, approvalTimeoutMs: 30_000 });
    let r: { chains: DemoChain[]; failures: number };
    try {
      await ensureDemoPolicy(h, say);
      if (!o.json) process.stdout.write(`${paint('bold', 'Writ — Runtime Governance Demo')}  home ${home}, sandbox ${runner.sandbox.root}\n`);
      r = await runScenario(runner, { ...(o.reject && { reject: true }), ...(!o.json && { out: (l: string) => process.stdout.write(l + '\n') }) });
    } finally {
      await runner.close();
      h.close();
    }
    const { chains, failures } = r;
    if (o.json) printJson(chains);
    else {
      const summary = failures === 0 ? paint('green', `all ${chains.length} steps as expected`) : paint('red', `${failures} step(s) not as expected`);
      process.stdout.write(`${summary}. Check the evidence: writ audit verify --home ${home}; see each chain in the console: writ up --demo --home ${home}, then /console/#/demo\n`);
    }
    process.exitCode = failures === 0 ? EXIT.ok : EXIT.error;
  });
}

/**
 * `writ policy diff OLD NEW --against HOME` (docs/policy-test.md): every decision recorded in
 * a home's ledger that reached Cedar is decided again, with its recorded input, under OLD and
 * under NEW; every one whose outcome (decision, reasons, determining policies) differs is
 * listed. OLD is also compared with what was recorded, so a diff against an OLD that does not
 * reproduce the ledger is visibly not a diff against what ran.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { uidText } from '../canonical/uid.ts';
import { openHome, type OpenHome } from '../home/open.ts';
import { PolicyEngine } from '../policy/engine.ts';
import { verifyBundle } from '../policy/verify-bundle.ts';
import { BundleError } from '../reasons.ts';
import { CliError, EXIT, printJson } from './common.ts';
import { engineOf, lintFolder } from './policy-folder.ts';
import { outcomeOf, sameSet, type Outcome } from './policy-test.ts';
import { recordedDecisions } from './recorded-decisions.ts';

/** OLD or NEW: a policy folder, a signed bundle file (verified against the home's pinned keys), or `active`. */
async function loadEngine(ref: string, h: OpenHome): Promise<{ engine: PolicyEngine; label: string }> {
  if (ref === 'active') {
    await h.node.policy.refresh().catch(() => undefined);
    const a = h.node.policy.active;
    if (!a) throw new CliError(`active: ${h.home} has no active bundle`);
    return { engine: a.engine, label: `active bundle version ${a.bundle.manifest.version}` };
  }
  let isDir: boolean;
  try {
    isDir = statSync(ref).isDirectory();
  } catch (err) {
    throw new CliError(`${ref}: ${(err as Error).message}`);
  }
  if (isDir) return { engine: engineOf(lintFolder(ref), ref), label: `folder ${ref}` };
  try {
    // a candidate may not be pushed yet, or be for another domain's nodes: only its signatures and files are checked here
    const b = await verifyBundle(readFileSync(ref), { trust: h.trust, now: new Date(), checkExpiry: false });
    return { engine: PolicyEngine.fromFiles(b.files), label: `bundle ${ref} (version ${b.manifest.version}, ${b.digest})` };
  } catch (err) {
    if (err instanceof BundleError) throw new CliError(`${ref}: refused: ${err.code}: ${err.message}`);
    throw new CliError(`${ref}: ${(err as Error).message}`);
  }
}

const same = (a: Outcome, b: Outcome) => a.decision === b.decision && sameSet(a.reasons, b.reasons) && sameSet(a.policies, b.policies);

export interface DiffRow {
  index: number;
  decisionId: string;
  principal: string;
  action: string;
  resource: string;
  /** context.args as recorded (Cedar's form of the call's arguments): what tells two calls of one tool apart */
  args: unknown;
  recorded: Outcome;
  old: Outcome;
  new: Outcome;
  /** OLD decides this input as it was recorded */
  oldReproduces: boolean;
  /** allow ↔ deny, not only the reasons or the determining policies */
  decisionChanged: boolean;
}

export interface DiffReport {
  old: string;
  new: string;
  /** decision entries in the ledger */
  decisions: number;
  /** re-decided under both (the rest were denied before Cedar: there is no input to decide) */
  redecided: number;
  gateDenials: number;
  oldReproduces: number;
  /** recorded inputs that could not be decided again (unreadable leaf) */
  errors: { index: number; error: string }[];
  changed: DiffRow[];
  summary: { changed: number; decisionChanged: number; allowToDeny: number; denyToAllow: number; reasonsOrPoliciesOnly: number };
}

export function diffDecisions(h: OpenHome, oldEngine: PolicyEngine, newEngine: PolicyEngine, labels: { old: string; new: string }): DiffReport {
  const r: DiffReport = { old: labels.old, new: labels.new, decisions: 0, redecided: 0, gateDenials: 0, oldReproduces: 0, errors: [], changed: [], summary: { changed: 0, decisionChanged: 0, allowToDeny: 0, denyToAllow: 0, reasonsOrPoliciesOnly: 0 } };
  for (const d of recordedDecisions(h.ledger)) {
    r.decisions++;
    if (d.kind === 'gate') {
      r.gateDenials++;
      continue;
    }
    if (d.kind === 'error') {
      r.errors.push({ index: d.index, error: d.error });
      continue;
    }
    let old: Outcome;
    let now: Outcome;
    try {
      old = outcomeOf(oldEngine.evaluate(d.input), d.approved);
      now = outcomeOf(newEngine.evaluate(d.input), d.approved);
    } catch (err) {
      r.errors.push({ index: d.index, error: (err as Error).message });
      continue;
    }
    r.redecided++;
    const oldReproduces = same(old, d.recorded);
    if (oldReproduces) r.oldReproduces++;
    if (same(old, now)) continue;
    const decisionChanged = old.decision !== now.decision;
    r.changed.push({ index: d.index, decisionId: d.decisionId, principal: uidText(d.input.principal), action: uidText(d.input.action), resource: uidText(d.input.resource), args: d.input.context.args ?? null, recorded: d.recorded, old, new: now, oldReproduces, decisionChanged });
    r.summary.changed++;
    if (!decisionChanged) r.summary.reasonsOrPoliciesOnly++;
    else {
      r.summary.decisionChanged++;
      if (old.decision === 'allow') r.summary.allowToDeny++;
      else r.summary.denyToAllow++;
    }
  }
  return r;
}

const show = (o: Outcome) => `${o.decision} ${o.reasons.join(',') || '-'} [${o.policies.join(',')}]`;
const MAX_ARGS_TEXT = 120;
const argsText = (a: unknown) => {
  const t = JSON.stringify(a) ?? 'null';
  return t.length > MAX_ARGS_TEXT ? `${t.slice(0, MAX_ARGS_TEXT - 1)}…` : t;
};

export function formatDiff(r: DiffReport): string {
  const out = [`old: ${r.old}`, `new: ${r.new}`];
  for (const c of r.changed) {
    out.push(`#${c.index} ${c.principal} ${c.action} ${c.resource} ${argsText(c.args)}: ${show(c.old)} -> ${show(c.new)}${c.decisionChanged ? '' : ' (same decision)'}${c.oldReproduces ? '' : `; recorded ${show(c.recorded)}`}`);
  }
  for (const e of r.errors) out.push(`#${e.index}: not re-decided: ${e.error}`);
  const s = r.summary;
  out.push(
    `${r.decisions} decisions: ${r.redecided} re-decided, ${r.gateDenials} denied before evaluation (nothing to re-decide)${r.errors.length ? `, ${r.errors.length} unreadable` : ''}; ` +
      `old reproduces ${r.oldReproduces} of ${r.redecided} as recorded; ` +
      `${s.changed} would change (${s.allowToDeny} allow -> deny, ${s.denyToAllow} deny -> allow, ${s.reasonsOrPoliciesOnly} reasons or policies only)`,
  );
  return out.join('\n') + '\n';
}

/** A home directory, or its state.db (the ledger): both name the home. */
function homeOfLedger(ref: string): string {
  try {
    return statSync(ref).isDirectory() ? ref : dirname(ref);
  } catch (err) {
    throw new CliError(`--against ${ref}: ${(err as Error).message}`);
  }
}

export function registerPolicyDiff(policy: Command): void {
  policy
    .command('diff <old> <new>')
    .description("decide every decision recorded in a home's ledger again under OLD and NEW (folders, signed bundles, or `active`) and list each one that would change")
    .requiredOption('--against <home>', 'the home (or its state.db) whose recorded decisions are decided again')
    .option('--fail-on-change', 'exit 1 if any decision would change (default: exit 0, the diff is a report)')
    .option('--json', 'machine-readable output')
    .action(async (oldRef: string, newRef: string, o: { against: string; failOnChange?: boolean; json?: boolean }) => {
      const h = await openHome(homeOfLedger(o.against));
      const engines: PolicyEngine[] = [];
      try {
        const a = await loadEngine(oldRef, h);
        const b = await loadEngine(newRef, h);
        // the active bundle's engine belongs to the node: only engines made here are disposed
        for (const [ref, e] of [[oldRef, a], [newRef, b]] as const) if (ref !== 'active') engines.push(e.engine);
        const report = diffDecisions(h, a.engine, b.engine, { old: a.label, new: b.label });
        if (o.json) printJson(report);
        else process.stdout.write(formatDiff(report));
        if (report.errors.length > 0 || (o.failOnChange && report.summary.changed > 0)) process.exitCode = EXIT.error;
      } finally {
        for (const e of engines) e.dispose();
        h.close();
      }
    });
}

/**
 * `writ explain DECISION_ID|JTI|INDEX` (docs/explain.md): one recorded decision, explained
 * from its ledger leaf and the bundle it was decided under (src/audit/explain.ts).
 */
import type { Command } from 'commander';
import { ExplainError, explain, type Explanation } from '../audit/explain.ts';
import type { PermitCheck } from '../audit/explain-permits.ts';
import { openHome } from '../home/open.ts';
import { CliError, EXIT, homeOf, homeOption, printJson } from './common.ts';

const indent = (text: string, by = '      ') => text.trimEnd().split('\n').map((l) => by + l).join('\n');
const json = (v: unknown) => JSON.stringify(v);

function permitLine(p: PermitCheck): string {
  const head = `    ${p.id} (${p.file})`;
  if (p.outcome === 'applies') return `${head}: its condition holds for this input now (re-decided: see below)`;
  if (p.outcome === 'request_refused') return `${head}: Cedar refused the request: ${p.errors.join('; ')}`;
  const f = p.failed;
  const what =
    f === null
      ? p.outcome === 'error'
        ? `evaluating it errored: ${p.errors.join('; ')}`
        : 'its condition was false'
      : `${f.kind} clause ${f.clause + 1} ${f.value === 'error' ? `errored: ${f.errors.join('; ')}` : `was ${f.value}`}: ${f.clauseText}${f.part ? `\n      decided by: ${f.part}` : ''}`;
  return `${head}: scope matched; ${p.outcome === 'error' ? 'error' : 'condition false'}: ${what}`;
}

export function formatExplanation(e: Explanation): string {
  const out: string[] = [];
  const via = e.via ? ` (entry ${e.via.index} is a ${e.via.type}; this is the decision it concerns)` : '';
  out.push(`decision ${e.decisionId} at ledger index ${e.index}${via}`);
  out.push(`  time ${e.time ?? '?'}, node ${e.node ?? '?'}`);
  out.push(`  result: ${e.result.decision} ${e.result.reasons.join(', ')}${e.result.policies.length > 0 ? ` [${e.result.policies.join(', ')}]` : ''}`);
  for (const m of e.result.errors) out.push(`    ${m}`);
  if (e.writ) out.push(`  writ: ${e.writ.jti}${e.writ.exp !== null ? ` (exp ${e.writ.exp})` : ''}`);
  if (e.reevaluates) out.push(`  re-decision of the running execution under writ ${e.reevaluates}`);
  if (e.approval) out.push(`  approved: approval ${e.approval}`);
  out.push('request as received:');
  out.push(`  principal ${json(e.request.principal)}, action ${json(e.request.action)}, resource ${json(e.request.resource)}`);
  out.push(`  args ${json(e.request.args)}${e.request.parent ? `, parent ${json(e.request.parent)}` : ''}`);
  if (e.gate) {
    out.push(`refused before evaluation: Cedar did not run (${e.gate.reasons.join(', ')}; docs/reason-codes.md)`);
    if (e.gate.message) out.push(`  ${e.gate.message}`);
  }
  if (e.evaluated) {
    const ev = e.evaluated;
    out.push('request as evaluated (the canonical Cedar input):');
    out.push(`  principal ${json(ev.principal)}, action ${json(ev.action)}, resource ${json(ev.resource)}`);
    out.push(`  context ${JSON.stringify(ev.context, null, 2).replace(/\n/g, '\n  ')}`);
    if (ev.principalEntity) out.push(`  principal entity (supplied) ${json(ev.principalEntity)}`);
    out.push(`  input digest ${e.inputDigest ?? '?'}`);
  }
  out.push(e.bundle ? `bundle: domain ${e.bundle.domain}, version ${e.bundle.version}, ${e.bundle.digest}` : 'bundle: none loaded when this was decided');
  if (!e.bundleLoaded.ok && e.evaluated) out.push(`  not re-decided: ${e.bundleLoaded.why}`);
  if (e.determining.length > 0) {
    out.push('determining policies:');
    for (const p of e.determining) {
      out.push(`  ${p.id}${p.effect ? ` (${p.effect}, ${p.file ?? '?'})` : ''}`);
      if (p.text !== null) out.push(indent(p.text, '    '));
    }
  }
  if (e.permits) {
    if (e.permits.length === 0) out.push("no permit policy's scope (principal, action, resource) matches this request");
    else {
      out.push('permit policies whose scope matched, evaluated alone:');
      for (const p of e.permits) out.push(permitLine(p));
    }
  }
  if (e.redecided) {
    const r = e.redecided;
    out.push(`re-decided under the recorded bundle: ${r.decision} ${r.reasons.join(', ')}${r.policies.length > 0 ? ` [${r.policies.join(', ')}]` : ''} — ${r.same ? 'the same as recorded' : 'DIFFERENT from what was recorded'}`);
  }
  return out.join('\n') + '\n';
}

export function registerExplain(program: Command): void {
  homeOption(
    program
      .command('explain <ref>')
      .description('explain one recorded decision (by decision id, writ jti or ledger index): the request as evaluated, the bundle, the determining policies and, for no_permit, which permit conditions failed')
      .option('--json', 'machine-readable output'),
  ).action(async (ref: string, o: { home?: string; json?: boolean }) => {
    const h = await openHome(homeOf(o));
    try {
      const e = await explain({ ledger: h.ledger, bundles: h.state, trust: h.trust }, ref);
      if (o.json) printJson(e);
      else process.stdout.write(formatExplanation(e));
    } catch (err) {
      if (err instanceof ExplainError) throw new CliError(`writ explain: ${err.message}`, err.code === 'explain_query_invalid' ? EXIT.usage : EXIT.error);
      throw err;
    } finally {
      h.close();
    }
  });
}

/**
 * The causal graph of executions: each writ names its parent and its root; a query
 * for one writ returns its ancestors up to the root and every descendant below it,
 * with what each was allowed to do, the decision's ledger index and its outcome.
 */
import type { Ledger, WritIndexRow } from '../ledger/ledger.ts';

export interface LineageNode {
  jti: string;
  principal: string;
  action: string;
  resource: string;
  depth: number;
  decisionIndex: number;
  exp: number;
  outcome: { status: string; exitCode: number | null; index: number } | null;
  children: LineageNode[];
}

export interface Lineage {
  jti: string;
  /** root first, the writ's parent last */
  ancestors: Omit<LineageNode, 'children'>[];
  /** the writ itself, with its descendants */
  tree: LineageNode;
}

const MAX_NODES = 10_000;

function outcomeOf(ledger: Ledger, jti: string): LineageNode['outcome'] {
  const e = ledger.findByJti(jti, 'outcome')[0];
  if (!e) return null;
  const o = JSON.parse(new TextDecoder().decode(e.leaf)) as { status: string; exitCode: number | null };
  return { status: o.status, exitCode: o.exitCode, index: e.index };
}

function node(ledger: Ledger, w: WritIndexRow): Omit<LineageNode, 'children'> {
  return { jti: w.jti, principal: w.principal, action: w.action, resource: w.resource, depth: w.depth, decisionIndex: w.decisionIndex, exp: w.exp, outcome: outcomeOf(ledger, w.jti) };
}

export function lineageOf(ledger: Ledger, jti: string): Lineage | null {
  const self = ledger.writ(jti);
  if (!self) return null;
  const ancestors: Omit<LineageNode, 'children'>[] = [];
  const seen = new Set([jti]);
  for (let p = self.parent; p !== null && !seen.has(p); ) {
    seen.add(p);
    const w = ledger.writ(p);
    if (!w) break;
    ancestors.unshift(node(ledger, w));
    p = w.parent;
  }
  let count = 0;
  const grow = (w: WritIndexRow): LineageNode => {
    count++;
    const children = count < MAX_NODES ? ledger.children(w.jti).map(grow) : [];
    return { ...node(ledger, w), children };
  };
  return { jti, ancestors, tree: grow(self) };
}

/** The lineage as an indented text tree, for `writ lineage`. */
export function formatLineage(l: Lineage): string {
  const line = (n: Omit<LineageNode, 'children'>, mark: string) =>
    `${mark}${n.jti}  ${n.principal} ${n.action} ${n.resource}  (depth ${n.depth}, ledger #${n.decisionIndex}${n.outcome ? `, ${n.outcome.status}${n.outcome.exitCode !== null ? ` exit ${n.outcome.exitCode}` : ''}` : ''})`;
  const out: string[] = [];
  l.ancestors.forEach((a, i) => out.push(line(a, `${'  '.repeat(i)}${i === 0 ? '' : '└─ '}`)));
  const walk = (n: LineageNode, indent: number, self: boolean) => {
    out.push(line(n, `${'  '.repeat(indent)}${indent === 0 ? '' : '└─ '}${self ? '* ' : ''}`));
    for (const c of n.children) walk(c, indent + 1, false);
  };
  walk(l.tree, l.ancestors.length, true);
  return out.join('\n');
}

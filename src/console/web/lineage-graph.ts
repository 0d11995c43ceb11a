/**
 * The lineage graph as Cytoscape.js draws it: shared by the Lineage page and the demo
 * page's small embedded graphs. Each vertex shows the decision, the deciding policy,
 * the outcome and its ledger index; denied children hang off their parent.
 */
import cytoscape from 'cytoscape';
import { h } from './dom.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { Vertex } from '../data.ts';

export interface Graph {
  query: string;
  kind: string;
  scanned: { from: number; to: number };
  vertices: Vertex[];
  edges: { source: string; target: string }[];
  truncated: boolean;
}

export const outcomeText = (v: Vertex): string => (v.outcome ? `${v.outcome.status}${v.outcome.exitCode !== null ? ` (exit ${v.outcome.exitCode})` : ''}` : v.decision === 'allow' ? 'no outcome yet' : 'not executed');
export const policyText = (v: Vertex): string => (v.policies.length ? v.policies.join(', ') : '(none)');

function label(v: Vertex): string {
  return [`${v.decision.toUpperCase()} · ${v.action}`, v.resource, `policy: ${policyText(v)}`, `outcome: ${outcomeText(v)}`, `ledger #${v.decisionIndex}${v.node ? ` · ${v.node}` : ''}`].join('\n');
}

/** Beyond this many vertices a tree drawn breadth-first is too wide to read: levels are wrapped into rows. */
const WRAP_ABOVE = 12;
const CELL = { w: 250, h: 100, levelGap: 40 };

/**
 * Positions for a wide graph: each depth level (from the roots, breadth-first, so siblings stay
 * together in their parents' order) is wrapped into rows of as many vertices as fit the
 * container's width, the levels stacked top to bottom. At zoom 1 every label stays readable;
 * the user pans down instead of squinting at a line of hundreds of boxes.
 */
function wrappedPositions(g: Graph, width: number): Map<string, { x: number; y: number }> {
  const perRow = Math.max(3, Math.floor((width || 1000) / CELL.w));
  const children = new Map<string, string[]>();
  const hasParent = new Set<string>();
  for (const e of g.edges) {
    children.set(e.source, [...(children.get(e.source) ?? []), e.target]);
    hasParent.add(e.target);
  }
  const level = new Map<string, number>();
  let frontier = g.vertices.filter((v) => !hasParent.has(v.id)).map((v) => v.id);
  if (frontier.length === 0 && g.vertices[0]) frontier = [g.vertices[0].id];
  for (let d = 0; frontier.length > 0; d++) {
    const next: string[] = [];
    for (const id of frontier) {
      if (level.has(id)) continue;
      level.set(id, d);
      next.push(...(children.get(id) ?? []));
    }
    frontier = next;
  }
  for (const v of g.vertices) if (!level.has(v.id)) level.set(v.id, 0); // unreachable (a cycle): first level
  const byLevel = new Map<number, string[]>();
  for (const v of g.vertices) byLevel.set(level.get(v.id) as number, [...(byLevel.get(level.get(v.id) as number) ?? []), v.id]);
  const out = new Map<string, { x: number; y: number }>();
  let y = 0;
  for (const d of [...byLevel.keys()].sort((a, b) => a - b)) {
    const ids = byLevel.get(d) as string[];
    const cols = Math.min(perRow, ids.length);
    ids.forEach((id, i) => out.set(id, { x: ((i % perRow) - (cols - 1) / 2) * CELL.w, y: y + Math.floor(i / perRow) * CELL.h }));
    y += Math.ceil(ids.length / perRow) * CELL.h + CELL.levelGap;
  }
  return out;
}

/** Draws `g` into `container` (replacing what was there); sets data-vertices and data-edges on it. */
export function drawGraph(container: HTMLElement, g: Graph, opts: { zoom?: boolean } = {}): cytoscape.Core {
  // Cytoscape adds a <style> element unless this marker exists (its rule is in style.css; the CSP allows no inline style)
  if (!document.getElementById('__________cytoscape_stylesheet')) document.head.append(h('meta', { id: '__________cytoscape_stylesheet' }));
  const wrap = g.vertices.length > WRAP_ABOVE;
  const positions = wrap ? wrappedPositions(g, container.clientWidth) : null;
  const cy = cytoscape({
    container,
    elements: [
      ...g.vertices.map((v) => ({ data: { id: v.id, label: label(v), decision: v.decision, matched: v.matched ? 'yes' : 'no' } })),
      ...g.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target } })),
    ],
    style: [
      {
        selector: 'node',
        style: {
          shape: 'round-rectangle',
          'background-color': '#ebfbee',
          'border-color': '#2f9e44',
          'border-width': 2,
          label: 'data(label)',
          'text-wrap': 'wrap',
          'text-valign': 'center',
          'font-size': 10,
          'font-family': 'ui-monospace, monospace',
          width: 230,
          height: 78,
          // zoomed far out, text too small to read is not drawn (boxes and colours remain)
          'min-zoomed-font-size': 6,
        },
      },
      { selector: 'node[decision = "deny"]', style: { 'background-color': '#fff5f5', 'border-color': '#e03131' } },
      { selector: 'node[matched = "yes"]', style: { 'border-width': 4 } },
      { selector: 'node:selected', style: { 'border-color': '#1971c2', 'border-width': 5 } },
      { selector: 'edge', style: { width: 2, 'line-color': '#868e96', 'target-arrow-color': '#868e96', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier' } },
    ],
    layout: wrap ? { name: 'preset', positions: Object.fromEntries(positions ?? []), padding: 20 } : { name: 'breadthfirst', directed: true, spacingFactor: 1.15, padding: 20 },
    wheelSensitivity: 0.3,
    ...(opts.zoom === false && { userZoomingEnabled: false, userPanningEnabled: false }),
  });
  if (wrap) {
    // start readable: the top rows at zoom ≤ 1, not the whole graph shrunk to fit
    const top = cy.nodes().filter((n) => (positions?.get(n.id())?.y ?? 0) < CELL.h * 3);
    cy.fit(top, 20);
    if (cy.zoom() > 1) cy.zoom(1);
  }
  container.dataset.layout = wrap ? 'wrapped' : 'tree';
  container.dataset.zoom = cy.zoom().toFixed(2);
  container.dataset.vertices = String(cy.nodes().length);
  container.dataset.edges = String(cy.edges().length);
  return cy;
}

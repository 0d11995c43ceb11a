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

/** Draws `g` into `container` (replacing what was there); sets data-vertices and data-edges on it. */
export function drawGraph(container: HTMLElement, g: Graph, opts: { zoom?: boolean } = {}): cytoscape.Core {
  // Cytoscape adds a <style> element unless this marker exists (its rule is in style.css; the CSP allows no inline style)
  if (!document.getElementById('__________cytoscape_stylesheet')) document.head.append(h('meta', { id: '__________cytoscape_stylesheet' }));
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
        },
      },
      { selector: 'node[decision = "deny"]', style: { 'background-color': '#fff5f5', 'border-color': '#e03131' } },
      { selector: 'node[matched = "yes"]', style: { 'border-width': 4 } },
      { selector: 'node:selected', style: { 'border-color': '#1971c2', 'border-width': 5 } },
      { selector: 'edge', style: { width: 2, 'line-color': '#868e96', 'target-arrow-color': '#868e96', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier' } },
    ],
    layout: { name: 'breadthfirst', directed: true, spacingFactor: 1.15, padding: 20 },
    wheelSensitivity: 0.3,
    ...(opts.zoom === false && { userZoomingEnabled: false, userPanningEnabled: false }),
  });
  container.dataset.vertices = String(cy.nodes().length);
  container.dataset.edges = String(cy.edges().length);
  return cy;
}

/**
 * Health: the nodes (version, bundle, beacon age, readiness) and live charts (uPlot)
 * of the decision rate, the deny rate by reason code and the decision latency
 * p50/p99, refreshed every second from /console/api/health.
 */
import uPlot from 'uplot';
import { getJson } from '../api.ts';
import { badge, clear, errorBox, every, h, nodeLink, relTime, short } from '../dom.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { NodeHealth } from '../../data.ts';
import type { HealthView as Health } from '../../source.ts';

const COLORS = ['#d9480f', '#5f3dc4', '#1971c2', '#e8590c', '#c2255c', '#2f9e44', '#f08c00', '#0c8599', '#862e9c', '#495057'];

function reportCell(n: NodeHealth): HTMLElement {
  const age = n.reportAgeMs;
  const text = age === null || age === undefined ? 'never' : `${(age / 1000).toFixed(1)} s ago`;
  return h('td', { class: 'node-report' }, n.address ? nodeLink(n.address, 'health', text) : text);
}

function nodesTable(nodes: NodeHealth[]): HTMLElement {
  // the authority's view has each node's last report (and a link to its console)
  const fleetView = nodes.some((n) => n.reportAgeMs !== undefined);
  if (nodes.length === 0) return h('p', { class: 'muted', id: 'no-nodes' }, 'No node has registered yet (writ fleet add-node, then writ node).');
  return h(
    'table',
    { class: 'grid', id: 'nodes' },
    h('thead', null, h('tr', null, ['node', 'domain', 'mode', 'software', 'bundle', 'beacon age', 'ready', 'up since', ...(fleetView ? ['last report'] : [])].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      nodes.map((n) =>
        h(
          'tr',
          { dataset: { node: n.node } },
          h('td', { class: 'mono' }, n.node),
          h('td', null, n.domain),
          h('td', null, n.mode),
          h('td', { class: 'node-software' }, `writ ${n.software}`),
          h('td', { class: 'node-bundle' }, n.bundle ? `v${n.bundle.version} · ${short(n.bundle.digest, 18)} · expires ${relTime(n.bundle.expires)}` : 'none'),
          h('td', { class: 'node-beacon' }, n.beacon ? `${(n.beacon.ageMs / 1000).toFixed(1)} s` : n.mode === 'embedded' ? 'none (embedded: no beacons)' : 'no beacon'),
          h('td', { class: 'node-ready' }, badge(n.ready, n.ready ? 'ready' : `not ready: ${n.reason ?? '?'}`)),
          h('td', null, n.startedAt ? relTime(n.startedAt) : ''),
          fleetView ? reportCell(n) : null,
        ),
      ),
    ),
  );
}

interface Chart {
  plot: uPlot | null;
  box: HTMLElement;
  key: string;
}

function draw(c: Chart, title: string, labels: { label: string; color: string }[], data: uPlot.AlignedData, yLabel: string, points = false): void {
  const key = labels.map((l) => l.label).join('|');
  const width = Math.max(320, c.box.clientWidth - 8);
  if (!c.plot || c.key !== key) {
    c.plot?.destroy();
    c.box.replaceChildren();
    c.key = key;
    c.plot = new uPlot(
      {
        title,
        width,
        height: 220,
        scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 1) * 1.1)] } },
        axes: [{}, { label: yLabel, size: 60 }],
        series: [{}, ...labels.map((l) => ({ label: l.label, stroke: l.color, width: 2, spanGaps: false, points: { show: points, size: 6, fill: l.color } }))],
        legend: { live: false },
      },
      data,
      c.box,
    );
  } else {
    c.plot.setData(data);
    if (Math.abs(c.plot.width - width) > 4) c.plot.setSize({ width, height: 220 });
  }
}

export function render(root: HTMLElement): () => void {
  const nodes = h('div', { id: 'nodes-box' }, h('p', { class: 'muted' }, 'Loading…'));
  const totals = h('div', { id: 'totals' });
  const updated = h('span', { id: 'updated', class: 'muted' });
  const NODE_NOTE = 'Per second over the last two minutes, refreshed every second. Counts: every decision in this home\'s ledger, whichever process made it (writ up, writ authorize, writ exec, writ mcp, writ demo). Latency: this server\'s own decisions, from request to decision, including the durable ledger append and signing.';
  const FLEET_NOTE = 'The whole fleet, per second over the last two minutes, refreshed every second: the sum of what every node reports each second. Latency p50/p99 are quantiles of the nodes’ merged latency histograms (within ±5%), from request to decision including the acknowledged evidence append.';
  const note = h('p', { class: 'muted', id: 'decisions-note' }, NODE_NOTE);
  const mk = (id: string): Chart => ({ plot: null, box: h('div', { class: 'chart', id }), key: '' });
  const rate = mk('chart-rate');
  const denies = mk('chart-deny');
  const latency = mk('chart-latency');
  root.append(
    h('h1', null, 'Health'),
    h('section', { class: 'card' }, h('h2', null, 'Nodes'), nodes),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Decisions, live ', updated),
      note,
      totals,
      h('div', { class: 'charts' }, rate.box, denies.box, latency.box),
    ),
  );
  let n = 0;
  let disposed = false;
  const tick = async () => {
    let health: Health;
    try {
      health = await getJson<Health>('/console/api/health?seconds=120');
    } catch (err) {
      clear(nodes, errorBox(err));
      return;
    }
    if (disposed) return;
    n++;
    clear(nodes, nodesTable(health.nodes));
    note.textContent = health.nodes.some((x) => x.reportAgeMs !== undefined) ? FLEET_NOTE : NODE_NOTE;
    const s = health.stats;
    // counts come from the ledger when the console has it: every decision of the home, also the CLI's
    const counts = health.ledger ?? s;
    const reasonTotals = Object.entries(counts.totals.denyReasons).sort((a, b) => b[1] - a[1]);
    const catchingUp = health.ledger && health.ledger.counted < health.ledger.size ? ` (counting: ${health.ledger.counted} of ${health.ledger.size} entries read)` : '';
    clear(
      totals,
      h(
        'div',
        { class: 'totals' },
        h('span', { class: 'total allow', id: 'total-allow' }, `${counts.totals.allow} allowed`),
        h('span', { class: 'total deny', id: 'total-deny' }, `${counts.totals.deny} denied`),
        h('span', { class: 'muted', id: 'totals-scope' }, health.ledger ? ` in the ledger, by every process of this home${catchingUp}` : ` since ${new Date(s.since).toLocaleTimeString()}`),
        reasonTotals.length ? h('span', { class: 'reasons' }, reasonTotals.map(([r, c]) => h('span', { class: 'reason', dataset: { reason: r } }, `${r}: ${c}`))) : null,
      ),
    );
    // the ledger's window is its leaves' own times; the node's own, from its start (at least the last 30 s)
    const start = health.ledger ? (s.series[0]?.t ?? 0) : Math.min(Math.floor(Date.parse(s.since) / 1000), (s.series.at(-1)?.t ?? 0) - 29);
    const series = s.series.filter((p) => p.t >= start);
    const rates = (health.ledger?.series ?? s.series).filter((p) => p.t >= start);
    const xs = series.map((p) => p.t);
    const at = new Map(rates.map((p) => [p.t, p]));
    const rateOf = (t: number) => at.get(t) ?? { allow: 0, deny: 0, denyReasons: {} as Record<string, number> };
    draw(rate, 'Decision rate (per second)', [{ label: 'allow', color: '#2f9e44' }, { label: 'deny', color: '#e03131' }], [xs, xs.map((t) => rateOf(t).allow), xs.map((t) => rateOf(t).deny)], 'decisions/s');
    // every reason charted: the totals' and the window's
    const reasons = [...new Set([...reasonTotals.map(([r]) => r), ...rates.flatMap((p) => Object.keys(p.denyReasons))])].sort();
    const reasonLabels = reasons.length ? reasons.map((r, i) => ({ label: r, color: COLORS[i % COLORS.length] as string })) : [{ label: 'no denials yet', color: '#adb5bd' }];
    const reasonData = reasons.length ? reasons.map((r) => xs.map((t) => rateOf(t).denyReasons[r] ?? 0)) : [xs.map(() => 0)];
    draw(denies, 'Deny rate by reason code (per second)', reasonLabels, [xs, ...reasonData], 'denies/s');
    draw(latency, 'Decision latency of this server\'s node (ms)', [{ label: 'p50', color: '#1971c2' }, { label: 'p99', color: '#f08c00' }], [xs, series.map((p) => p.p50), series.map((p) => p.p99)], 'ms', true);
    updated.textContent = `· updated ${new Date(health.now).toLocaleTimeString()}`;
    updated.dataset.updates = String(n);
  };
  const stop = every(1000, tick);
  return () => {
    disposed = true;
    stop();
    for (const c of [rate, denies, latency]) c.plot?.destroy();
  };
}

/**
 * What the console's pages read, assembled from the node, its state and its ledger:
 * the active bundle and its policies, the activation history (bundle_activation
 * leaves), the lineage graph around a writ, a principal or an MCP session, and the
 * node's health. Read-only; nothing here carries a secret (no keys, no admin token).
 */
import { decisionKeys, leafObject } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { lineageOf, type LineageNode } from '../lineage/lineage.ts';
import type { GovernanceNode } from '../node/node.ts';
import type { VerifiedBundle } from '../policy/manifest.ts';
import { isRecord } from '../util.ts';
import type { BundleView } from './source.ts';

const decoder = new TextDecoder();


const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** A verified bundle as the governance page shows it: manifest facts and its files as text, policies first. */
export function bundleView(b: VerifiedBundle, now = new Date()): BundleView {
  const m = b.manifest;
  const files = [...b.files.entries()]
    .sort(([x], [y]) => (x.endsWith('.cedar') === y.endsWith('.cedar') ? x.localeCompare(y) : x.endsWith('.cedar') ? -1 : 1))
    .map(([name, bytes]) => ({ name, sha256: m.files[name]?.sha256 ?? null, size: bytes.byteLength, text: decoder.decode(bytes) }));
  return { domain: m.domain, version: m.version, digest: b.digest, signers: b.signers, created: m.created, expires: m.expires, expired: Date.parse(m.expires) <= now.getTime(), files };
}

/** The active bundle of each domain this node serves (one). */
export function activeBundles(node: GovernanceNode, now = new Date()): BundleView[] {
  const a = node.policy.active;
  return a ? [bundleView(a.bundle, now)] : [];
}

export interface Activation {
  /** the bundle_activation leaf; null where the history is the authority's (it names bundles, nodes activate them) */
  index: number | null;
  time: string | null;
  domain: string | null;
  version: number | null;
  digest: string | null;
  signers: string[];
  expires: string | null;
}

const SCAN_BATCH = 2000;
/** Lets decisions run between two batches of a long ledger scan. */
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Incrementally scans the ledger for bundle activations (the history is append-only). */
export class ActivationHistory {
  private scanned = 0;
  private readonly found: Activation[] = [];
  private scanning: Promise<void> | null = null;

  async list(ledger: Ledger): Promise<Activation[]> {
    this.scanning ??= this.scan(ledger).finally(() => (this.scanning = null));
    await this.scanning;
    return [...this.found].reverse();
  }

  private async scan(ledger: Ledger): Promise<void> {
    const size = ledger.size();
    while (this.scanned < size) {
      const batch = ledger.entries(this.scanned, SCAN_BATCH);
      const last = batch.at(-1);
      if (!last) break;
      for (const e of batch) {
        if (e.type !== 'bundle_activation') continue;
        const l = leafObject(e.leaf);
        const p = rec(l.policy);
        this.found.push({
          index: e.index,
          time: str(l.time),
          domain: str(p.domain),
          version: typeof p.version === 'number' ? p.version : null,
          digest: str(p.digest),
          signers: strings(l.signers),
          expires: str(l.expires),
        });
      }
      this.scanned = last.index + 1;
      await yieldToEventLoop();
    }
  }
}

export interface Vertex {
  id: string;
  kind: 'writ' | 'denied';
  jti: string | null;
  decision: 'allow' | 'deny';
  principal: string;
  action: string;
  resource: string;
  reasons: string[];
  policies: string[];
  decisionIndex: number;
  time: string | null;
  depth: number | null;
  session: string | null;
  /** the node that decided (from the decision leaf) */
  node: string | null;
  outcome: LineageNode['outcome'];
  matched: boolean;
}

export interface LineageGraph {
  query: string;
  kind: 'writ' | 'principal' | 'session';
  /** the ledger range searched for principals, sessions and denied children */
  scanned: { from: number; to: number };
  vertices: Vertex[];
  edges: { source: string; target: string }[];
  truncated: boolean;
}

/** how far back (entries) a principal or session search looks, and how much it returns */
export const SCAN_LIMIT = 50_000;
export const MAX_ROOTS = 25;
export const MAX_VERTICES = 500;

export function sessionOf(l: Record<string, unknown>): string | null {
  return decisionKeys(l).session;
}

export function deniedVertex(index: number, l: Record<string, unknown>, matched: boolean): Vertex {
  const req = rec(l.request);
  const result = rec(l.result);
  return {
    id: `d:${index}`,
    kind: 'denied',
    jti: null,
    decision: 'deny',
    principal: str(req.principal) ?? '',
    action: str(req.action) ?? '',
    resource: str(req.resource) ?? '',
    reasons: strings(result.reasons),
    policies: strings(result.policies),
    decisionIndex: index,
    time: str(l.time),
    depth: null,
    session: sessionOf(l),
    node: str(l.node),
    outcome: null,
    matched,
  };
}

/** A writ's vertex: its lineage row and its decision leaf. */
export function writVertex(n: Omit<LineageNode, 'children'>, l: Record<string, unknown>, matched: boolean): Vertex {
  const result = rec(l.result);
  return {
    id: `w:${n.jti}`,
    kind: 'writ',
    jti: n.jti,
    decision: 'allow',
    principal: n.principal,
    action: n.action,
    resource: n.resource,
    reasons: strings(result.reasons),
    policies: strings(result.policies),
    decisionIndex: n.decisionIndex,
    time: str(l.time),
    depth: n.depth,
    session: sessionOf(l),
    node: str(l.node),
    outcome: n.outcome,
    matched,
  };
}

/** The causal graph around a writ id, a principal or an MCP session. */
export async function searchLineage(ledger: Ledger, query: string, kind: 'auto' | 'writ' | 'principal' | 'session' = 'auto'): Promise<LineageGraph> {
  const q = query.trim();
  const k = kind !== 'auto' ? kind : ledger.writ(q) ? 'writ' : q.includes('::') ? 'principal' : 'session';
  const size = ledger.size();
  const from = Math.max(0, size - SCAN_LIMIT);
  const roots = new Set<string>();
  const matchedJtis = new Set<string>();
  const standalone: Vertex[] = [];
  const deniedByParent = new Map<string, { index: number; leaf: Record<string, unknown> }[]>();

  if (k === 'writ') {
    const w = ledger.writ(q);
    if (w) {
      roots.add(w.root);
      matchedJtis.add(w.jti);
    }
  }
  for (let i = from; i < size; ) {
    const batch = ledger.entries(i, SCAN_BATCH);
    const last = batch.at(-1);
    if (!last) break;
    if (i > from) await yieldToEventLoop();
    for (const e of batch) {
      if (e.type !== 'decision') continue;
      const l = leafObject(e.leaf);
      const req = rec(l.request);
      const denied = rec(l.result).decision !== 'allow';
      const parent = str(req.parent);
      if (denied && parent !== null) deniedByParent.set(parent, [...(deniedByParent.get(parent) ?? []), { index: e.index, leaf: l }]);
      if (k === 'writ') continue;
      const hit = k === 'principal' ? str(req.principal)?.trim() === q : sessionOf(l) === q;
      if (!hit) continue;
      const writ = rec(l.writ);
      const jti = str(writ.jti);
      if (!denied && jti !== null) {
        matchedJtis.add(jti);
        roots.add(str(rec(writ.lin).root) ?? jti);
      } else if (parent !== null && ledger.writ(parent)) {
        roots.add(ledger.writ(parent)?.root ?? parent);
        standalone.push(deniedVertex(e.index, l, true));
      } else if (standalone.length < MAX_VERTICES) standalone.push(deniedVertex(e.index, l, true));
    }
    i = last.index + 1;
  }

  const vertices = new Map<string, Vertex>();
  const edges: { source: string; target: string }[] = [];
  let truncated = roots.size > MAX_ROOTS;
  const addDenied = (parentJti: string) => {
    for (const d of deniedByParent.get(parentJti) ?? []) {
      const id = `d:${d.index}`;
      if (!vertices.has(id)) vertices.set(id, deniedVertex(d.index, d.leaf, standalone.some((s) => s.id === id)));
      edges.push({ source: `w:${parentJti}`, target: id });
    }
  };
  const walk = (n: LineageNode, parentId: string | null) => {
    if (vertices.size >= MAX_VERTICES) {
      truncated = true;
      return;
    }
    const id = `w:${n.jti}`;
    const entry = ledger.entry(n.decisionIndex);
    vertices.set(id, writVertex(n, entry ? leafObject(entry.leaf) : {}, matchedJtis.has(n.jti)));
    if (parentId) edges.push({ source: parentId, target: id });
    addDenied(n.jti);
    for (const c of n.children) walk(c, id);
  };
  for (const root of [...roots].slice(0, MAX_ROOTS)) {
    const l = lineageOf(ledger, root);
    if (l && !vertices.has(`w:${root}`)) walk(l.tree, null);
  }
  for (const s of standalone) if (!vertices.has(s.id) && vertices.size < MAX_VERTICES) vertices.set(s.id, s);
  const ids = new Set(vertices.keys());
  return { query: q, kind: k, scanned: { from, to: size }, vertices: [...vertices.values()], edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)), truncated };
}

export interface NodeHealth {
  node: string;
  domain: string;
  mode: 'embedded' | 'fleet';
  software: string;
  bundle: { version: number; digest: string; expires: string } | null;
  /** age of the newest beacon; null where the node runs without beacons (embedded) */
  beacon: { ageMs: number } | null;
  ready: boolean;
  reason: string | null;
  startedAt: string | null;
  /** fleet view (authority): ms since the node's last status report */
  reportAgeMs?: number | null;
  /** fleet view (authority): where the node says its console is */
  address?: string | null;
  /** fleet view (authority): whether it holds a valid certificate */
  certified?: boolean;
}

/** This node's health, judged as /readyz judges it; a fleet node's status report fills in the beacon. */
export function nodeHealth(node: GovernanceNode, o: { software: string; startedAt: string; status?: () => Record<string, unknown> }, now = new Date()): NodeHealth {
  const a = node.policy.active;
  const r = node.readiness(now);
  const status = o.status?.();
  const beacon = status ? rec(status.beacon) : null;
  return {
    node: node.identity.nodeId,
    domain: node.identity.domain,
    mode: status ? 'fleet' : 'embedded',
    software: o.software,
    bundle: a ? { version: a.bundle.manifest.version, digest: a.bundle.digest, expires: a.bundle.manifest.expires } : null,
    beacon: beacon && typeof beacon.ageMs === 'number' ? { ageMs: beacon.ageMs } : null,
    ready: r.ready,
    reason: r.ready ? null : r.reason,
    startedAt: o.startedAt,
  };
}

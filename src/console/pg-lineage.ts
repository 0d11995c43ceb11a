/**
 * Lineage search over the fleet ledger in PostgreSQL, for the authority's console: the
 * same graph as a node's console draws (data.ts searchLineage), from the sequencer's
 * lineage index (`writs`: parent, root, depth) and the search columns it derives from
 * each decision leaf (`entries.principal`, `parent`, `session`: leaf.ts decisionKeys).
 * Every lookup is an index lookup, bounded to the newest SCAN_LIMIT entries like a
 * node's search.
 */
import type { Pool } from 'pg';
import { leafObject } from '../ledger/leaf.ts';
import type { WritIndexRow } from '../ledger/ledger.ts';
import { pgText } from '../ledger/pg-log.ts';
import type { LineageNode } from '../lineage/lineage.ts';
import { isRecord } from '../util.ts';
import { deniedVertex, MAX_ROOTS, MAX_VERTICES, SCAN_LIMIT, writVertex, type LineageGraph, type Vertex } from './data.ts';

/** the writs table's columns, as the ledger's WritIndexRow (bigints arrive as strings) */
/** decisions a principal or session search reads at most */
const MAX_HITS = MAX_VERTICES * 4;
const WRIT_COLUMNS = 'jti, decision_idx::float8 AS "decisionIndex", principal, action, resource, parent, root, depth, exp::float8 AS exp';

const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function pgLineageSearch(pool: Pool, schema: string) {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const q = <T extends object>(sql: string, params: unknown[]) => pool.query<T>(sql, params).then((r) => r.rows);
  const writ = async (jti: string) => (await q<WritIndexRow>(`SELECT ${WRIT_COLUMNS} FROM ${schema}.writs WHERE jti = $1`, [pgText(jti)]))[0] ?? null;

  return async (query: string, kind: 'auto' | 'writ' | 'principal' | 'session'): Promise<LineageGraph> => {
    const needle = query.trim();
    const self = await writ(needle);
    const k = kind !== 'auto' ? kind : self ? 'writ' : needle.includes('::') ? 'principal' : 'session';
    const size = Number((await q<{ n: string }>(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${schema}.entries`, []))[0]?.n ?? 0);
    const from = Math.max(0, size - SCAN_LIMIT);
    const roots = new Set<string>();
    const matched = new Set<string>();
    const standalone: Vertex[] = [];
    let hitsTruncated = false;

    if (k === 'writ') {
      const w = kind === 'auto' ? self : await writ(needle);
      if (w) {
        roots.add(w.root);
        matched.add(w.jti);
      }
    } else {
      const column = k === 'principal' ? 'principal' : 'session';
      // the newest matches, like a node's search of its newest entries; oldest first again below
      const hits = (await q<{ idx: string; leaf: Buffer }>(`SELECT idx, leaf FROM ${schema}.entries WHERE ${column} = $2 AND idx >= $1 ORDER BY idx DESC LIMIT ${MAX_HITS + 1}`, [from, pgText(needle)])).reverse();
      if (hits.length > MAX_HITS) {
        hitsTruncated = true;
        hits.shift();
      }
      for (const h of hits) {
        const l = leafObject(h.leaf);
        const w = rec(l.writ);
        const jti = str(w.jti);
        const parent = str(rec(l.request).parent);
        if (rec(l.result).decision === 'allow' && jti !== null) {
          matched.add(jti);
          roots.add(str(rec(w.lin).root) ?? jti);
          continue;
        }
        const p = parent === null ? null : await writ(parent);
        if (p) roots.add(p.root);
        if (p || standalone.length < MAX_VERTICES) standalone.push(deniedVertex(Number(h.idx), l, true));
      }
    }

    const chosen = [...roots].slice(0, MAX_ROOTS);
    const rows = chosen.length ? await q<WritIndexRow>(`SELECT ${WRIT_COLUMNS} FROM ${schema}.writs WHERE root = ANY($1) ORDER BY decision_idx LIMIT ${MAX_VERTICES + 1}`, [chosen]) : [];
    const jtis = rows.map((r) => r.jti);
    const [decisions, outcomes, denied] = jtis.length
      ? await Promise.all([
          q<{ idx: string; leaf: Buffer }>(`SELECT idx, leaf FROM ${schema}.entries WHERE idx = ANY($1::bigint[])`, [rows.map((r) => r.decisionIndex)]),
          q<{ idx: string; jti: string; leaf: Buffer }>(`SELECT idx, jti, leaf FROM ${schema}.entries WHERE type = 'outcome' AND jti = ANY($1) ORDER BY idx`, [jtis]),
          // a denial issued no writ: no jti
          q<{ idx: string; leaf: Buffer }>(`SELECT idx, leaf FROM ${schema}.entries WHERE parent = ANY($2) AND type = 'decision' AND jti IS NULL AND idx >= $1 ORDER BY idx LIMIT ${MAX_VERTICES}`, [from, jtis]),
        ])
      : [[], [], []];
    const leafAt = new Map(decisions.map((d) => [Number(d.idx), leafObject(d.leaf)]));
    const outcomeOf = new Map<string, LineageNode['outcome']>();
    for (const o of outcomes) {
      if (outcomeOf.has(o.jti)) continue; // the first outcome recorded, as lineageOf reports it
      const l = leafObject(o.leaf);
      outcomeOf.set(o.jti, { status: str(l.status) ?? '', exitCode: typeof l.exitCode === 'number' ? l.exitCode : null, index: Number(o.idx) });
    }

    const vertices = new Map<string, Vertex>();
    const edges: { source: string; target: string }[] = [];
    for (const r of rows.slice(0, MAX_VERTICES)) {
      const n = { jti: r.jti, principal: r.principal, action: r.action, resource: r.resource, depth: r.depth, decisionIndex: r.decisionIndex, exp: r.exp, outcome: outcomeOf.get(r.jti) ?? null };
      vertices.set(`w:${r.jti}`, writVertex(n, leafAt.get(n.decisionIndex) ?? {}, matched.has(r.jti)));
      if (r.parent !== null) edges.push({ source: `w:${r.parent}`, target: `w:${r.jti}` });
    }
    const standaloneIds = new Set(standalone.map((s) => s.id));
    for (const d of denied) {
      const l = leafObject(d.leaf);
      const v = deniedVertex(Number(d.idx), l, standaloneIds.has(`d:${d.idx}`));
      if (vertices.size < MAX_VERTICES && !vertices.has(v.id)) vertices.set(v.id, v);
      edges.push({ source: `w:${str(rec(l.request).parent) ?? ''}`, target: v.id });
    }
    for (const s of standalone) if (!vertices.has(s.id) && vertices.size < MAX_VERTICES) vertices.set(s.id, s);
    const ids = new Set(vertices.keys());
    const truncated = hitsTruncated || roots.size > MAX_ROOTS || rows.length > MAX_VERTICES || vertices.size >= MAX_VERTICES;
    return { query: needle, kind: k, scanned: { from, to: size }, vertices: [...vertices.values()], edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)), truncated };
  };
}


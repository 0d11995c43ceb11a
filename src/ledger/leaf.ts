/**
 * Ledger leaves: every piece of evidence is one leaf, the RFC 8785 canonical JSON
 * of an object with a `type` and a format version `v` (docs/ledger-leaf.md).
 * Leaf hashing follows RFC 6962: SHA-256(0x00 || leaf bytes) (merkle.ts).
 */
import { canonicalJson } from '../canonical/json.ts';

/**
 * The leaf format version. Optional members that only inform — a decision's `trace` (the span
 * that decided it), `reevaluates`, an outcome's `reportedBy` — keep it: a reader ignoring them
 * still reads and replays the leaf correctly. A member that changes what is replayed bumps it.
 */
export const LEAF_VERSION = 1;
/**
 * The version of a decision leaf whose `input` carries a `principalEntity` (docs/ledger-leaf.md):
 * a reader that knows only version 1 would replay it without the entity, so it is told apart.
 */
export const LEAF_VERSION_PRINCIPAL_ENTITY = 2;
// 65,535: a tlog-tiles entry bundle prefixes each entry with a uint16 length
export const MAX_LEAF_BYTES = 64 * 1024 - 1;

export type LeafType = 'decision' | 'outcome' | 'revocation' | 'bundle_activation' | 'key_change' | 'approval';

export interface LeafBase {
  type: LeafType;
  v: number;
  /** RFC 3339 time the node wrote the leaf */
  time: string;
}

export function encodeLeaf(leaf: LeafBase & Record<string, unknown>): Uint8Array {
  const bytes = new TextEncoder().encode(canonicalJson(leaf));
  if (bytes.byteLength > MAX_LEAF_BYTES) {
    throw new RangeError(`leaf of ${bytes.byteLength} bytes exceeds ${MAX_LEAF_BYTES}; store large payloads by digest`);
  }
  return bytes;
}

/** A stored leaf read back as an object for queries and audits; bytes that are not a JSON object read as {} (the tree, not this, decides what is intact). */
export function leafObject(leaf: Uint8Array): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(leaf));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const field = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined);
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * What a decision is searched by: its principal, the parent writ it was made under, and
 * its MCP session (the proxy puts it in context.mcp.session; a caller may pass it as the
 * `session` argument). Derived from the leaf, so it can always be recomputed.
 */
export function decisionKeys(leaf: Record<string, unknown>): { principal: string | null; parent: string | null; session: string | null } {
  const request = field(leaf, 'request');
  return {
    principal: text(field(request, 'principal'))?.trim() ?? null,
    parent: text(field(request, 'parent')),
    session: text(field(field(field(field(leaf, 'input'), 'context'), 'mcp'), 'session')) ?? text(field(field(request, 'args'), 'session')),
  };
}

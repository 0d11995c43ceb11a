/**
 * Audit export, format `jsonl` (docs/audit-export.md): one record per ledger entry, carrying
 * its index and its RFC 6962 leaf hash so that an exported record can still be proven
 * (`writ audit prove INDEX`, `writ audit verify-proof`). Pure: a LedgerEntry in, a record out.
 */
import { encodeBase64 } from '../tlog/base64.ts';
import { leafHash } from '../tlog/merkle.ts';
import type { LedgerEntry } from './ledger.ts';

/** The export record's own format version (`v`), independent of the leaf's. */
export const EXPORT_VERSION = 1;

export interface ExportRecord {
  v: typeof EXPORT_VERSION;
  /** 0-based position in the log */
  index: number;
  /** standard base64 of SHA-256(0x00 || leaf bytes), as in checkpoints and proof files */
  leafHash: string;
  /** the stored entry type */
  type: string;
  /**
   * The leaf, parsed. Its bytes are its RFC 8785 canonical form again (the stored leaf is JCS),
   * so JCS(leaf) is what `verify-proof --entry` takes; `null` if the stored bytes are not a
   * JSON object (the tree, `writ audit verify`, is what judges them).
   */
  leaf: Record<string, unknown> | null;
}

export function leafHashBase64(leaf: Uint8Array): string {
  return encodeBase64(leafHash(leaf));
}

/** The parsed leaf, or null when its bytes are not a JSON object. */
export function parseLeaf(leaf: Uint8Array): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(leaf));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function exportRecord(e: LedgerEntry): ExportRecord {
  return { v: EXPORT_VERSION, index: e.index, leafHash: leafHashBase64(e.leaf), type: e.type, leaf: parseLeaf(e.leaf) };
}

/** The record as one line of JSON Lines (no pretty-printing: one entry, one line). */
export function exportLine(e: LedgerEntry): string {
  return JSON.stringify(exportRecord(e)) + '\n';
}

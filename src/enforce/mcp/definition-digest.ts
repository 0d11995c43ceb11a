/**
 * Definition digests, format "tool-digest v1" (docs/mcp.md, "Tool-definition pinning"): what
 * an MCP server told the agent a tool, prompt or resource template is, as one digest — the
 * base64url SHA-256 (no padding) of the RFC 8785 canonical JSON of
 *
 *   tool               {"v":1, "kind":"tool",             "name", "description", "inputSchema"}
 *   prompt             {"v":1, "kind":"prompt",           "name", "description", "arguments"}
 *   resource template  {"v":1, "kind":"resourceTemplate", "name", "description", "uriTemplate"}
 *
 * taken from the item of the server's list exactly as sent: a member the item lacks is left
 * out (absent and "" differ), a member's value is hashed whatever it is (a schema is hashed
 * whole, with its unknown keywords). Every other member of the item (title, annotations,
 * outputSchema, icons, _meta, …) is not covered by version 1. The name is hashed exactly —
 * no case folding, no trimming: `Read_File` is another tool than `read_file`.
 */
import { canonicalJson } from '../../canonical/json.ts';
import { isRecord, sha256Base64urlSync } from '../../util.ts';

export const DEFINITION_DIGEST_VERSION = 1;

export type DefinitionKind = 'tool' | 'prompt' | 'resourceTemplate';

/** The list each kind comes from, and the member of its result that holds the items. */
export const DEFINITION_LISTS: Record<string, { kind: DefinitionKind; key: string }> = {
  'tools/list': { kind: 'tool', key: 'tools' },
  'prompts/list': { kind: 'prompt', key: 'prompts' },
  'resources/templates/list': { kind: 'resourceTemplate', key: 'resourceTemplates' },
};

const FIELDS: Record<DefinitionKind, readonly string[]> = {
  tool: ['name', 'description', 'inputSchema'],
  prompt: ['name', 'description', 'arguments'],
  resourceTemplate: ['name', 'description', 'uriTemplate'],
};

/** a digest as definitionDigest gives it: 43 base64url characters */
export const DIGEST_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** The object a definition's digest is taken over (for docs and tests); null if the item has no string name. */
export function definitionObject(kind: DefinitionKind, item: unknown): Record<string, unknown> | null {
  if (!isRecord(item) || typeof item.name !== 'string') return null;
  const o: Record<string, unknown> = { v: DEFINITION_DIGEST_VERSION, kind };
  for (const f of FIELDS[kind]) if (Object.hasOwn(item, f) && item[f] !== undefined) o[f] = item[f];
  return o;
}

/** The item's "tool-digest v1"; null if it has no string name or no canonical form. */
export function definitionDigest(kind: DefinitionKind, item: unknown): string | null {
  const o = definitionObject(kind, item);
  if (o === null) return null;
  try {
    return sha256Base64urlSync(canonicalJson(o));
  } catch {
    return null;
  }
}

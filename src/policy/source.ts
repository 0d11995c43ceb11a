/**
 * Parsing and validating the files of a policy folder or bundle with Cedar.
 * Shared by `writ policy lint`, `writ policy sign` and bundle activation, so a
 * bundle that lints clean is exactly a bundle that activates.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { DetailedError, EntityJson, PolicyJson, SchemaJson } from '@cedar-policy/cedar-wasm/nodejs';
import { WritError } from '../writ/errors.ts';
import { checkBudgetAnnotations, parseUsage, USAGE_FILE, type UsageCounter } from './usage.ts';
import { MCP_PINS_FILE, parseMcpPins, type McpPin } from './mcp-pins.ts';

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
}

export interface PolicyEntry {
  id: string;
  file: string;
  text: string;
  json: PolicyJson;
  annotations: Record<string, string>;
}

export interface PolicySource {
  policies: PolicyEntry[];
  schemaText: string | null;
  schemaJson: SchemaJson<string> | null;
  entities: EntityJson[];
  /** the usage counters of usage.json (docs/budgets.md); empty without one */
  usage: UsageCounter[];
  /** the MCP definitions of mcp-pins.json (docs/mcp.md, "Tool-definition pinning"); empty without one */
  mcpPins: McpPin[];
}

export class PolicySourceError extends WritError {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super('policy_source_invalid', diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'PolicySourceError';
    this.diagnostics = diagnostics;
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

function position(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset));
  const lines = before.split('\n');
  return { line: lines.length, col: (lines.at(-1)?.length ?? 0) + 1 };
}

function fromCedar(file: string, text: string, err: DetailedError): Diagnostic {
  const loc = err.sourceLocations?.[0];
  const { line, col } = position(text, loc?.start ?? 0);
  const label = loc?.label ? ` (${loc.label})` : '';
  const help = err.help ? `; ${err.help}` : '';
  return { file, line, col, message: `${err.message}${label}${help}` };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function decode(file: string, bytes: Uint8Array, out: Diagnostic[]): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    out.push({ file, line: 1, col: 1, message: 'not valid UTF-8' });
    return null;
  }
}

function parsePolicyFile(file: string, text: string, out: Diagnostic[]): PolicyEntry[] {
  const check = cedar.checkParsePolicySet({ staticPolicies: text });
  if (check.type === 'failure') {
    for (const e of check.errors) out.push(fromCedar(file, text, e));
    return [];
  }
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') {
    for (const e of parts.errors) out.push(fromCedar(file, text, e));
    return [];
  }
  if (parts.policy_templates.length > 0) {
    out.push({ file, line: 1, col: 1, message: 'policy templates are not supported in bundles; write static policies' });
  }
  const entries: PolicyEntry[] = [];
  inFileOrder(text, parts.policies).forEach((policyText, i) => {
    const json = cedar.policyToJson(policyText);
    if (json.type === 'failure') {
      for (const e of json.errors) out.push(fromCedar(file, text, e));
      return;
    }
    const annotations = json.json.annotations ?? {};
    entries.push({ id: annotations.id ?? `${file}#${i}`, file, text: policyText, json: json.json, annotations });
  });
  return entries;
}

/**
 * policySetTextToParts returns policies ordered by Cedar's internal ids as strings
 * (policy0, policy1, policy10, policy2, …). Restore the order of the file: by where
 * each policy's text occurs when every part is found verbatim, else by undoing the
 * string order of the ids.
 */
function inFileOrder(text: string, parts: string[]): string[] {
  const found = parts.map((p) => ({ p, at: text.indexOf(p) }));
  if (found.every((f) => f.at >= 0) && new Set(found.map((f) => f.at)).size === found.length) {
    return found.sort((a, b) => a.at - b.at).map((f) => f.p);
  }
  const ids = parts.map((_, i) => `policy${i}`).sort();
  const ordered: string[] = new Array<string>(parts.length);
  ids.forEach((id, sortedIndex) => {
    ordered[Number(id.slice('policy'.length))] = parts[sortedIndex] as string;
  });
  return ordered;
}

function parseEntities(text: string, schemaText: string | null, out: Diagnostic[]): EntityJson[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    out.push({ file: 'entities.json', line: 1, col: 1, message: `not JSON: ${(err as Error).message}` });
    return [];
  }
  if (!Array.isArray(value)) {
    out.push({ file: 'entities.json', line: 1, col: 1, message: "must be a JSON array in Cedar's entity format" });
    return [];
  }
  const check = cedar.checkParseEntities({ entities: value as EntityJson[], schema: schemaText });
  if (check.type === 'failure') {
    for (const e of check.errors) out.push({ file: 'entities.json', line: 1, col: 1, message: e.message });
    return [];
  }
  return (value as EntityJson[]).map((e) => ({ ...e, attrs: e.attrs ?? {}, parents: e.parents ?? [] }));
}

/** Parses and validates everything; throws PolicySourceError listing every problem. */
export function loadPolicySource(files: Map<string, Uint8Array>): PolicySource {
  const out: Diagnostic[] = [];
  let schemaText: string | null = null;
  let schemaJson: SchemaJson<string> | null = null;
  const schemaBytes = files.get('schema.cedarschema');
  if (schemaBytes) {
    schemaText = decode('schema.cedarschema', schemaBytes, out);
    if (schemaText !== null) {
      const parsed = cedar.schemaToJson(schemaText);
      if (parsed.type === 'failure') {
        for (const e of parsed.errors) out.push(fromCedar('schema.cedarschema', schemaText, e));
        schemaText = null;
      } else {
        schemaJson = parsed.json;
      }
    }
  }
  const policies: PolicyEntry[] = [];
  for (const [file, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!file.endsWith('.cedar')) continue;
    const text = decode(file, bytes, out);
    if (text === null) continue;
    const parsed = parsePolicyFile(file, text, out);
    if (schemaText !== null && parsed.length > 0) {
      const v = cedar.validate({ schema: schemaText, policies: { staticPolicies: text } });
      if (v.type === 'failure') for (const e of v.errors) out.push(fromCedar(file, text, e));
      else for (const e of v.validationErrors) out.push(fromCedar(file, text, e.error));
    }
    policies.push(...parsed);
  }
  const seen = new Set<string>();
  for (const p of policies) {
    if (seen.has(p.id)) out.push({ file: p.file, line: 1, col: 1, message: `duplicate policy id ${JSON.stringify(p.id)}` });
    seen.add(p.id);
  }
  const entitiesBytes = files.get('entities.json');
  let entities: EntityJson[] = [];
  if (entitiesBytes) {
    const text = decode('entities.json', entitiesBytes, out);
    if (text !== null) entities = parseEntities(text, schemaText, out);
  }
  let usage: UsageCounter[] = [];
  const usageBytes = files.get(USAGE_FILE);
  if (usageBytes) {
    const text = decode(USAGE_FILE, usageBytes, out);
    if (text !== null) usage = parseUsage(text, out);
  }
  checkBudgetAnnotations(policies, usage, out);
  let mcpPins: McpPin[] = [];
  const pinsBytes = files.get(MCP_PINS_FILE);
  if (pinsBytes) {
    const text = decode(MCP_PINS_FILE, pinsBytes, out);
    if (text !== null) mcpPins = parseMcpPins(text, out);
  }
  if (policies.length === 0 && out.length === 0) out.push({ file: '.', line: 1, col: 1, message: 'no policies' });
  if (out.length > 0) throw new PolicySourceError(out);
  return { policies, schemaText, schemaJson, entities, usage, mcpPins };
}

/** Action hierarchy declared in a schema: action uid text -> parent uid texts. */
export function schemaActionParents(schema: SchemaJson<string> | null): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  if (!schema) return parents;
  const declared = new Set<string>();
  for (const [ns, def] of Object.entries(schema)) {
    for (const name of Object.keys(def.actions ?? {})) declared.add(`${ns === '' ? 'Action' : `${ns}::Action`}::${JSON.stringify(name)}`);
  }
  for (const [ns, def] of Object.entries(schema)) {
    const actionType = ns === '' ? 'Action' : `${ns}::Action`;
    // A parent's type is resolved as Cedar resolves it: a name written inside a namespace
    // means that namespace's action if it declares one, else the name as written. (Reading
    // `Action::"x"` as the global action would drop `action in Acme::Action::"x"` policies.)
    const resolve = (type: string | undefined, id: string): string => {
      const local = `${ns === '' ? '' : `${ns}::`}${type ?? 'Action'}::${JSON.stringify(id)}`;
      if (type === undefined || declared.has(local)) return type === undefined ? `${actionType}::${JSON.stringify(id)}` : local;
      return `${type}::${JSON.stringify(id)}`;
    };
    for (const [name, action] of Object.entries(def.actions ?? {})) {
      parents.set(`${actionType}::${JSON.stringify(name)}`, (action.memberOf ?? []).map((m) => resolve(m.type, m.id)));
    }
  }
  return parents;
}


const NODE_SUPPLIED = ['args', 'now', 'lineage', 'attestation'];

/**
 * With a schema, requests are validated, so each action's context must declare what the
 * node supplies (args, now, lineage, attestation); otherwise every request for it is a
 * schema_violation. Returns one warning per action that does not.
 */
export function schemaContextWarnings(schema: SchemaJson<string> | null): string[] {
  const out: string[] = [];
  for (const [ns, def] of Object.entries(schema ?? {})) {
    for (const [name, action] of Object.entries(def.actions ?? {})) {
      const ctx = action.appliesTo?.context as { type?: string; attributes?: Record<string, unknown> } | undefined;
      if (!action.appliesTo) continue;
      if (ctx && ctx.type !== 'Record') continue; // a named type: cannot judge here
      const missing = NODE_SUPPLIED.filter((k) => !ctx?.attributes || !(k in ctx.attributes));
      if (missing.length > 0) {
        out.push(`schema.cedarschema: action ${ns ? `${ns}::` : ''}"${name}": context does not declare ${missing.join(', ')}, which the node always supplies; every request for it will be denied with schema_violation`);
      }
    }
  }
  return out;
}

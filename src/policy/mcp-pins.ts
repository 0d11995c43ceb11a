/**
 * `mcp-pins.json` (docs/mcp.md, "Tool-definition pinning"; version 1): the MCP tool, prompt
 * and resource-template definitions a bundle pins, by their "tool-digest v1"
 * (src/enforce/mcp/definition-digest.ts). Parsed with the rest of the policy source
 * (source.ts), so it is signed with the bundle and `writ policy lint`, `sign` and activation
 * refuse the same mistakes.
 *
 *   {"v": 1, "pins": [{"server": "files", "kind": "tool", "name": "read_file", "digest": "<43 base64url>"}]}
 */
import { isRecord } from '../util.ts';
import type { Diagnostic } from './source.ts';
import { parseVersionedList } from './versioned-list.ts';

export const MCP_PINS_FILE = 'mcp-pins.json';
export const MCP_PINS_VERSION = 1;
/** at most this many pins in a bundle (as many as a session's pin table holds) */
export const MAX_BUNDLE_PINS = 2048;
export const PIN_KINDS = ['tool', 'prompt', 'resourceTemplate'] as const;
export type PinKind = (typeof PIN_KINDS)[number];
/** the server names writ mcp accepts (governor.ts) */
const SERVER = /^[A-Za-z0-9][A-Za-z0-9._@/-]{0,127}$/;
const DIGEST = /^[A-Za-z0-9_-]{43}$/;

export interface McpPin {
  server: string;
  kind: PinKind;
  name: string;
  digest: string;
}

/**
 * The pins of a bundle, looked up by server and kind: `forServer` is undefined when the bundle
 * pins no definition of that kind for that server (the session then pins on first use).
 */
export class McpPins {
  private readonly by = new Map<string, Map<string, string>>();
  readonly size: number;
  constructor(pins: readonly McpPin[]) {
    for (const p of pins) {
      const k = `${p.kind}\0${p.server}`;
      let m = this.by.get(k);
      if (!m) this.by.set(k, (m = new Map()));
      m.set(p.name, p.digest);
    }
    this.size = pins.length;
  }
  forServer(server: string, kind: PinKind): ReadonlyMap<string, string> | undefined {
    return this.by.get(`${kind}\0${server}`);
  }
}

export const NO_PINS = new McpPins([]);

/** Parses mcp-pins.json; every problem is a diagnostic (file mcp-pins.json), and nothing is returned with one. */
export function parseMcpPins(text: string, out: Diagnostic[]): McpPin[] {
  const bad = (message: string): McpPin[] => {
    out.push({ file: MCP_PINS_FILE, line: 1, col: 1, message });
    return [];
  };
  const list = parseVersionedList(text, { file: MCP_PINS_FILE, version: MCP_PINS_VERSION, key: 'pins', max: MAX_BUNDLE_PINS, nonEmpty: false }, out);
  if (list === null) return [];
  const before = out.length;
  const pins: McpPin[] = [];
  const seen = new Set<string>();
  list.forEach((p: unknown, i: number) => {
    const at = `pins[${i}]`;
    if (!isRecord(p)) return bad(`${at}: must be an object`);
    for (const k of Object.keys(p)) if (!['server', 'kind', 'name', 'digest'].includes(k)) bad(`${at}: unknown member ${JSON.stringify(k)}`);
    const { server, kind, name, digest } = p;
    if (typeof server !== 'string' || !SERVER.test(server)) return bad(`${at}: "server" must be a server name as writ mcp knows it ([A-Za-z0-9][A-Za-z0-9._@/-]*, at most 128)`);
    if (typeof kind !== 'string' || !(PIN_KINDS as readonly string[]).includes(kind)) return bad(`${at}: "kind" must be one of ${PIN_KINDS.join(', ')}`);
    if (typeof name !== 'string' || name.length === 0 || name.length > 1024) return bad(`${at}: "name" must be a non-empty string (at most 1,024 characters), exactly as the server lists it`);
    if (typeof digest !== 'string' || !DIGEST.test(digest)) return bad(`${at}: "digest" must be a tool-digest v1: 43 base64url characters (writ mcp --print-pins prints them, docs/mcp.md)`);
    const key = JSON.stringify([server, kind, name]);
    if (seen.has(key)) return bad(`${at}: ${kind} ${JSON.stringify(name)} of server ${JSON.stringify(server)} is pinned twice`);
    seen.add(key);
    pins.push({ server, kind: kind as PinKind, name, digest });
  });
  return out.length > before ? [] : pins;
}

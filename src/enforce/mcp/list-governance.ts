/**
 * What the MCP governor (governor.ts) does to the server's lists and the definitions in them:
 *
 *   tools/list, resources/list, prompts/list  results lose what the principal can never call
 *   tools/list, prompts/list, resources/templates/list  definitions pinned (definition-pins.ts):
 *        one that differs from its pin is hidden, recorded, and its calls denied
 *        (tool_definition_changed); a call's pinned digest is context.mcp.toolDigest (promptDigest)
 */
import type { GovernanceNode } from '../../node/node.ts';
import { parseUid } from '../../canonical/uid.ts';
import { errorMessage } from '../../util.ts';
import { listed, mcpResource, type Governed } from './names.ts';
import { DEFINITION_LISTS, type DefinitionKind } from './definition-digest.ts';
import { DefinitionPins, MAX_RECORDED_CHANGES, type DefinitionChange, type PinCheck } from './definition-pins.ts';

export interface ListGovernanceOptions {
  node: GovernanceNode;
  principal: string;
  session: string;
  /** the upstream's name as known now ('unknown' before it is) */
  server: () => string;
  log?: (line: string) => void;
}

type Msg = Record<string, unknown>;

/** A call's pin check, and the context key its pinned digest goes under. */
export type CallPin = PinCheck & { contextKey?: 'toolDigest' | 'promptDigest' };

export class ListGovernance {
  private readonly o: ListGovernanceOptions;
  /** the definitions this session pinned (docs/mcp.md, "Tool-definition pinning") */
  private readonly pins = new DefinitionPins();

  constructor(o: ListGovernanceOptions) {
    this.o = o;
  }

  /** definitions this session pinned (at most MAX_PINNED_DEFINITIONS) */
  get pinnedCount(): number {
    return this.pins.size;
  }

  /** Whether `method`'s result is a list governed here (filtered, or its definitions pinned). */
  governs(method: string): boolean {
    return listed(method) !== undefined || Object.hasOwn(DEFINITION_LISTS, method);
  }

  /**
   * The pin a call of `name` must match: a call of a definition that is not its pin's never
   * reaches the server (docs/mcp.md, "Tool-definition pinning"); resources are not pinned by name.
   */
  checkCall(g: Governed, name: string): CallPin {
    const kind: DefinitionKind | null = g.type === 'Tool' ? 'tool' : g.type === 'Prompt' ? 'prompt' : null;
    if (kind === null) return { digest: undefined };
    return { ...this.pins.check(kind, name, this.bundlePins(kind)), contextKey: kind === 'prompt' ? 'promptDigest' : 'toolDigest' };
  }

  /** The result of `method` as the client sees it: definitions that broke their pin and what the principal can never call left out. */
  async filter(method: string, result: Msg): Promise<Msg> {
    const list = listed(method);
    const defs = Object.hasOwn(DEFINITION_LISTS, method) ? DEFINITION_LISTS[method] : undefined;
    await this.o.node.policy.refresh({ maxAgeMs: 100 }).catch(() => undefined); // no bundle: everything is hidden
    const server = this.o.server();
    let out = result;
    if (defs && Array.isArray(out[defs.key])) {
      const items = out[defs.key] as unknown[];
      const seen = this.pins.observe(defs.kind, items, this.bundlePins(defs.kind));
      await this.recordChanges(seen.changes, seen.dropped);
      out = { ...out, [defs.key]: items.filter((_, i) => seen.keep[i]) };
    }
    if (list && Array.isArray(out[list.key])) {
      out = { ...out, [list.key]: (out[list.key] as Msg[]).filter((item) => this.mayCall(list.action, mcpResource(list.type, server, String(list.name(item))))) };
    }
    return out;
  }

  /** The active bundle's pins of this kind for this server (mcp-pins.json); undefined if it pins none. */
  private bundlePins(kind: DefinitionKind): ReadonlyMap<string, string> | undefined {
    return this.o.node.policy.active?.engine.mcpPins.forServer(this.o.server(), kind);
  }

  /**
   * Each definition that broke its pin is recorded before the list goes on: a denial
   * (tool_definition_changed) of the action it would be called with, naming the pinned and
   * the listed digests, so an auditor sees the change, not only the calls it refused.
   */
  private async recordChanges(changes: DefinitionChange[], dropped: number): Promise<void> {
    const server = this.o.server();
    for (const c of changes) {
      const [type, action] = c.kind === 'tool' ? ['Tool', 'Action::"tools/call"'] : c.kind === 'prompt' ? ['Prompt', 'Action::"prompts/get"'] : ['ResourceTemplate', 'Action::"resources/read"'];
      const named = mcpResource(type, server, c.name);
      const resource = parseUid(named) ? named : `${type}::"${server}/"`;
      const message = `the server ${c.pinned === null ? 'listed more than one definition' : `changed the definition it ${c.pin === 'bundle' ? 'must match (mcp-pins.json)' : 'gave first this session'}`} of ${c.kind} ${JSON.stringify(c.name)}: pinned ${c.pinned ?? 'none'}, listed ${c.seen.join(', ')}; it is hidden and its calls are denied`;
      this.o.log?.(`writ: ${message}`);
      const args = { session: this.o.session, definition: { kind: c.kind, name: c.name, pin: c.pin, pinned: c.pinned, seen: c.seen } };
      await this.o.node.deny({ principal: this.o.principal, action, resource, args }, 'tool_definition_changed', message).catch((err: unknown) => this.o.log?.(`writ: the definition change could not be recorded: ${errorMessage(err)}`));
    }
    if (dropped > 0) this.o.log?.(`writ: ${dropped} more definition changes of this session are hidden but not recorded (at most ${MAX_RECORDED_CHANGES} per session)`);
  }

  private mayCall(action: string, resource: string): boolean {
    const engine = this.o.node.policy.active?.engine;
    const p = parseUid(this.o.principal);
    const a = parseUid(action);
    const r = parseUid(resource);
    return !!engine && !!p && !!a && !!r && engine.mayEverAllow(p, a, r);
  }
}

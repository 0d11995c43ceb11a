/**
 * A session's pinned MCP definitions (docs/mcp.md, "Tool-definition pinning"): what the
 * proxy saw the upstream list for each tool, prompt and resource template ("tool-digest v1",
 * definition-digest.ts), against the pin each must match.
 *
 *   bundle pin   the bundle's mcp-pins.json pins definitions of this kind for this server: an
 *                item is shown (and callable) only while its listed digest is its pin; an item
 *                the file does not name is hidden, its calls tool_definition_unknown
 *   session pin  otherwise trust on first use: the first definition this session saw for a name
 *                is its pin; once a list gives another, the name is broken for the rest of the
 *                session (hidden, its calls tool_definition_changed), even if the old one returns
 *
 * Two different definitions under one name in one list break the name as well: which of them
 * the server would run is not known. The table holds at most MAX_PINNED_DEFINITIONS names; a
 * name listed beyond it is hidden and its calls are tool_definition_unknown, as are a name over
 * MAX_PINNED_NAME characters and, once the table is full, every name never listed.
 */
import { isRecord } from '../../util.ts';
import { definitionDigest, type DefinitionKind } from './definition-digest.ts';

/** names pinned per session (tools, prompts and resource templates together) */
export const MAX_PINNED_DEFINITIONS = 2048;
/** definition changes a session records in the ledger; later ones are hidden all the same, and logged */
export const MAX_RECORDED_CHANGES = 256;
/** a longer name is not pinned: hidden, its calls tool_definition_unknown (as in mcp-pins.json) */
export const MAX_PINNED_NAME = 1024;
/** digests a change record lists (of many definitions under one name, the first in sorted order) */
export const MAX_SEEN_RECORDED = 16;

/** a name listed with an item whose definition has no canonical form */
const UNHASHABLE = '!';

interface Entry {
  /** the session pin (trust on first use); null while a bundle pin applied, or when the first sighting was ambiguous */
  pin: string | null;
  /** the digest the latest list gave, null if it gave more than one */
  current: string | null;
  /** the session pin was contradicted: the name stays hidden this session */
  broken: boolean;
  /** the seen digests last recorded as a change against a bundle pin (one record per change, not per list) */
  reported: string | null;
}

/** A definition that differs from its pin, for the ledger. */
export interface DefinitionChange {
  kind: DefinitionKind;
  name: string;
  /** which pin it broke */
  pin: 'bundle' | 'session';
  /** the pinned digest (null: the first list already gave two definitions) */
  pinned: string | null;
  /** the digests the list gave for the name, sorted ("!" for one with no canonical form; at most MAX_SEEN_RECORDED) */
  seen: string[];
}

export type PinCheck = { digest: string | undefined } | { denied: 'tool_definition_changed' | 'tool_definition_unknown'; message: string };

export class DefinitionPins {
  private readonly table = new Map<string, Entry>();
  /** kinds of which a listed name did not fit in the table */
  private readonly overflowed = new Set<DefinitionKind>();
  private recordedChanges = 0;
  private readonly max: number;

  constructor(max = MAX_PINNED_DEFINITIONS) {
    this.max = max;
  }

  get size(): number {
    return this.table.size;
  }

  /**
   * One page of a list: updates the pins and says which items stay visible (`keep`, by index:
   * a name's first item whose definition matches its pin) and which changes to record.
   * `bundle` is the bundle's pins of this kind for this server, undefined if it pins none.
   */
  observe(kind: DefinitionKind, items: readonly unknown[], bundle: ReadonlyMap<string, string> | undefined): { keep: boolean[]; changes: DefinitionChange[]; dropped: number } {
    const digests = items.map((item) => definitionDigest(kind, item));
    const byName = new Map<string, Set<string>>();
    items.forEach((item, i) => {
      if (!isRecord(item) || typeof item.name !== 'string' || item.name.length > MAX_PINNED_NAME) return; // nothing to pin: hidden
      let s = byName.get(item.name);
      if (!s) byName.set(item.name, (s = new Set()));
      s.add(digests[i] ?? UNHASHABLE);
    });
    const ok = new Map<string, string>(); // name -> the digest that may be shown
    const changes: DefinitionChange[] = [];
    for (const [name, ds] of byName) {
      const key = `${kind}\0${name}`;
      let e = this.table.get(key);
      if (!e) {
        if (this.table.size >= this.max) {
          this.overflowed.add(kind);
          continue;
        }
        e = { pin: null, current: null, broken: false, reported: null };
        this.table.set(key, e);
      }
      const seen = [...ds].sort();
      const ambiguous = seen.length > 1 || seen[0] === UNHASHABLE;
      e.current = ambiguous ? null : (seen[0] as string);
      if (bundle) {
        const pinned = bundle.get(name);
        if (pinned === undefined) continue; // not pinned by the bundle: hidden
        if (e.current === pinned) {
          e.reported = null;
          ok.set(name, pinned);
        } else if (e.reported !== seen.join(' ')) {
          e.reported = seen.join(' ');
          changes.push({ kind, name, pin: 'bundle', pinned, seen: seen.slice(0, MAX_SEEN_RECORDED) });
        }
        continue;
      }
      if (e.pin === null && !ambiguous && !e.broken) e.pin = e.current;
      if (!e.broken && e.current !== null && e.current === e.pin) {
        ok.set(name, e.current);
        continue;
      }
      if (!e.broken) {
        e.broken = true;
        changes.push({ kind, name, pin: 'session', pinned: e.pin, seen: seen.slice(0, MAX_SEEN_RECORDED) });
      }
    }
    const keep = items.map(() => false);
    items.forEach((item, i) => {
      const name = isRecord(item) ? item.name : undefined;
      if (typeof name === 'string' && ok.get(name) === digests[i]) {
        keep[i] = true;
        ok.delete(name); // one item per name: an identical duplicate is dropped
      }
    });
    const allowed = Math.max(0, Math.min(changes.length, MAX_RECORDED_CHANGES - this.recordedChanges));
    this.recordedChanges += allowed;
    return { keep, changes: changes.slice(0, allowed), dropped: changes.length - allowed };
  }

  /** Whether a call of `name` may go on: the digest of the definition it calls, or why it may not. */
  check(kind: DefinitionKind, name: string, bundle: ReadonlyMap<string, string> | undefined): PinCheck {
    const e = this.table.get(`${kind}\0${name}`);
    const what = `${kind === 'resourceTemplate' ? 'resource template' : kind} ${JSON.stringify(name)}`;
    if (name.length > MAX_PINNED_NAME) return { denied: 'tool_definition_unknown', message: `names over ${MAX_PINNED_NAME} characters are never pinned` };
    if (!e) {
      if (bundle) return { denied: 'tool_definition_unknown', message: `the bundle pins this server's ${kind} definitions (mcp-pins.json) and ${what} was not listed matching one: list it first` };
      if (this.overflowed.has(kind)) return { denied: 'tool_definition_unknown', message: `this session's pin table is full (${this.max} definitions) and ${what} is not in it` };
      return { digest: undefined }; // never listed, nothing pinned: decided by policy alone (context.mcp carries no digest)
    }
    if (bundle) {
      const pinned = bundle.get(name);
      if (pinned === undefined) return { denied: 'tool_definition_unknown', message: `the bundle pins this server's ${kind} definitions (mcp-pins.json), not ${what}` };
      if (e.current !== pinned) return { denied: 'tool_definition_changed', message: `the server's definition of ${what} is not the one the bundle pins (${pinned})` };
      return { digest: pinned };
    }
    if (e.broken || e.current === null) return { denied: 'tool_definition_changed', message: `the server changed the definition of ${what} during this session (pinned ${e.pin ?? 'none: it listed two'}); it stays hidden for the rest of the session` };
    return { digest: e.current };
  }
}

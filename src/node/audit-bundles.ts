/**
 * The audit of which policy decided (embedded mode: the ledger is this home's). The
 * ledger's `bundle_activation` leaves are the truth about which bundle was active when;
 * state.db's `bundle_active` and `bundle_floor` are only derived from them, and a
 * decision replays the same under whatever bundle it names — so replay alone cannot
 * tell a decision made under a superseded bundle (the pointer set back to an older
 * stored bundle, and the floor lowered to match) from an honest one. Checked here:
 *
 *   every decision that names a bundle names the one activated most recently before it
 *     in its domain (`policy_superseded`), allowing for a decision in flight across an
 *     activation (see ACTIVATION_OVERLAP_MS);
 *   per domain, `bundle_active` is the digest of the last activation entry and
 *     `bundle_floor` the highest version any activation entry activated (`bundle_state_mismatch`).
 */
import { isRecord } from '../util.ts';
import type { BundleStore } from './state.ts';
import type { StateProblem } from './audit-state.ts';

/**
 * A decision reads the active bundle before its leaf is appended, and an activation
 * appends its leaf before it swaps the bundle in: a decision that started just before an
 * activation can be recorded after the activation's leaf, naming the bundle it replaced.
 * Its time (taken when the decision started) is then at most the activation's append and
 * persist latency after the activation leaf's time; this bounds that latency generously
 * (a SQLite busy wait is at most 10 s, a fleet publish times out after 2 s).
 */
export const ACTIVATION_OVERLAP_MS = 30_000;

interface Activation {
  index: number;
  time: number;
  version: number;
  digest: string;
}

interface Ref {
  domain: string;
  version: number;
  digest: string;
}

function policyOf(leaf: Record<string, unknown>): Ref | null {
  const p = leaf.policy;
  if (!isRecord(p) || typeof p.domain !== 'string' || typeof p.digest !== 'string' || typeof p.version !== 'number') return null;
  return { domain: p.domain, version: p.version, digest: p.digest };
}

const describe = (a: { version: number; digest: string }) => `version ${a.version} (${a.digest})`;

/**
 * Per domain, the bundle in force after each entry is the one of the most recent activation
 * entry — or, when two processes on one home activated at once, the higher version of the two
 * (both leaves are recorded; the floor, re-checked as it is persisted, refuses the lower one).
 * So: the activation with the highest version so far, the later one on a tie.
 */
export class BundleAudit {
  private readonly activations = new Map<string, Activation[]>();
  private readonly inForce = new Map<string, Activation>();
  private readonly problems: StateProblem[] = [];

  /** Feed every `bundle_activation` and `decision` leaf, in index order. */
  entry(index: number, leaf: Record<string, unknown>): void {
    if (leaf.type === 'bundle_activation') this.activation(index, leaf);
    else if (leaf.type === 'decision') this.decision(index, leaf);
  }

  private activation(index: number, leaf: Record<string, unknown>): void {
    const p = policyOf(leaf);
    if (!p) {
      this.problems.push({ kind: 'bundle_state_mismatch', index, message: `entry ${index}: an activation that names no bundle (domain, version, digest)` });
      return;
    }
    const a: Activation = { index, time: Date.parse(String(leaf.time)), version: p.version, digest: p.digest };
    const list = this.activations.get(p.domain) ?? (this.activations.set(p.domain, []).get(p.domain) as Activation[]);
    list.push(a);
    const current = this.inForce.get(p.domain);
    if (!current || a.version >= current.version) this.inForce.set(p.domain, a);
  }

  private decision(index: number, leaf: Record<string, unknown>): void {
    const p = policyOf(leaf);
    if (!p) return; // decided before any bundle was named (no active bundle, a refused state): nothing to compare
    const current = this.inForce.get(p.domain);
    if (current && current.digest === p.digest && current.version === p.version) return;
    const list = this.activations.get(p.domain) ?? [];
    const named = list.findLast((a) => a.digest === p.digest && a.version === p.version);
    if (named) {
      // in flight across the activation that replaced it: started at most the overlap after that activation's leaf
      const replacers = list.filter((a) => a.version > named.version || (a.version === named.version && a.index > named.index));
      const replacedAt = Math.min(...replacers.map((a) => a.time)); // not empty: `named` is not in force
      if (Date.parse(String(leaf.time)) <= replacedAt + ACTIVATION_OVERLAP_MS) return;
    }
    const was = current ? `${describe(current)}, entry ${current.index}` : 'none';
    this.problems.push({
      kind: 'policy_superseded',
      index,
      message: `entry ${index}: decided under ${describe(p)}, but the bundle activated most recently before it in ${p.domain} is ${was}${named ? '' : ' (the ledger never activated the bundle it names)'}`,
    });
  }

  /** After the last entry: the state's pointer and floor against the activation entries, for each domain the ledger or the caller names. */
  finish(state: Pick<BundleStore, 'activeWithFloor'>, domains: readonly string[]): StateProblem[] {
    for (const d of new Set([...this.inForce.keys(), ...domains])) {
      const last = this.inForce.get(d) ?? null;
      const { digest: active, floor } = state.activeWithFloor(d);
      const highest = last?.version ?? 0;
      if (active !== (last?.digest ?? null)) {
        const recorded = last ? `the last activation entry (${last.index}) activated ${describe(last)}` : 'the ledger holds no activation';
        this.problems.push({ kind: 'bundle_state_mismatch', index: last?.index ?? null, message: `bundle_active for ${d} in state.db is ${active ?? 'empty'}, but ${recorded}` });
      }
      if (floor !== highest) {
        this.problems.push({ kind: 'bundle_state_mismatch', index: last?.index ?? null, message: `bundle_floor for ${d} in state.db is ${floor}, but the highest version the ledger activated is ${highest}` });
      }
    }
    return this.problems;
  }
}

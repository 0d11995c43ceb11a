/**
 * The invariants, checked as the simulation runs (every allow, every activation,
 * every beacon offered, every checkpoint signed) and once more at the end.
 *
 * Notation. T is true simulated time; node N's clock reads C_N(T) = T + skew_N with
 * |skew_N| ≤ maxSkew. A decision's *gate* runs in one simulator step — the step in
 * which authorize() starts: no event is handled before it waits on its ledger append —
 * so "N's view at the decision" is well defined: the snapshot taken in that step of
 * N's clock c = C_N(T), N's newest accepted beacon B, the revocation-list version A
 * N has applied (every version 1..A), and F = the highest bundle version ever
 * *successfully* activated on N (kept by the checker, surviving N's crashes).
 *
 * (1) Fresh policy, no rollback. For every allow returned by N, with policy P = the
 *     writ's `pol`:
 *     a. B exists and is unexpired at N's clock: B.exp > ⌊c / 1000⌋;
 *     b. B names exactly P (version and digest);
 *     c. P.version ≥ F (never lower than a version N activated before);
 *     d. P is a bundle the authority really published under that version (domain, digest);
 *     e. the shipped authority had named P current at some true time in (T − TTL − 1 s − maxSkew, T]
 *        — the global staleness bound implied by (a) and (b): B was issued at authority
 *        time t with B.exp = ⌈(t + TTL)/1000⌉, so t > B.exp·1000 − TTL − 1 s > c − TTL − 1 s
 *        ≥ T − maxSkew − TTL − 1 s, and named P then (when it named what: its bundle history);
 *     f. A ≥ B.revocations.version (every revocation B speaks of is applied on N);
 *     g. P had not expired at N's clock; the writ's iat is ⌊c / 1000⌋ (the gate used N's own clock).
 *     Also: a bundle activation that succeeds is above F (a rollback is never accepted),
 *     a forged bundle is never activated and a forged beacon never accepted.
 * (2) Revocation. Let S be the step at which the shipped authority's fleet view first held,
 *     from every node, a signed status report whose applied revocation-list version covers
 *     revocation r ("acknowledged fleet-wide"). No allow whose gate ran after S
 *     names r's principal (or has r's writ as parent or ancestor); no enforcement-point
 *     verification after S accepts a writ r covers.
 * (3) Evidence. Every returned writ's `led` is an index the evidence stream acknowledged to
 *     the node, and the leaf at `led` in the sequencer's log is byte for byte the leaf the node sent: a decision, allow,
 *     this jti, this node, this policy. At the end (after crashes), still so, and each
 *     such leaf is proven included in the final signed checkpoint.
 * (4) Checkpoints. Every checkpoint the sequencer signs verifies as a signed note with
 *     the log key, commits to the tree it holds, and is consistent (RFC 6962 proof,
 *     verifyConsistency) with every checkpoint signed before it.
 *
 * Findings are not safety violations: liveness problems (a node that cannot decide after
 * every fault healed) and anomalies the invariants do not forbid. They are reported.
 */
import type { BeaconClaims } from '../../src/authority/beacon.ts';
import { parseCheckpoint } from '../../src/tlog/checkpoint.ts';
import { leafHash, proveRecord, proveTree, verifyConsistency, verifyInclusion } from '../../src/tlog/merkle.ts';
import { openNote } from '../../src/tlog/note.ts';
import type { AuthorizeRequest, Decision } from '../../src/node/node.ts';
import { errorMessage } from '../../src/util.ts';
import type { WritClaims } from '../../src/writ/claims.ts';
import type { FleetView } from '../../src/authority/fleet-view.ts';
import type { EvidenceMessage } from '../../src/ledger/evidence-stream.ts';
import type { SimNode } from './node.ts';
import type { SimOperator } from './operator.ts';
import { LOG_VERIFIER, type SignedCheckpoint, type SimSequencer } from './sequencer.ts';
import { BEACON_TTL_MS, DOMAIN, type NodeId, type World } from './world.ts';

export interface Violation {
  /** 1–4: the invariant; 0: the simulator itself failed (an exception escaped a task) */
  invariant: 0 | 1 | 2 | 3 | 4;
  step: number;
  time: number;
  message: string;
}

export interface Finding {
  kind: 'not-live' | 'activation-refused-after-failed-record' | 'activation-completed-out-of-order' | 'active-below-activated' | 'allow-before-activation-recorded';
  step: number;
  time: number;
  message: string;
}

export interface DecisionSnapshot {
  node: NodeId;
  step: number;
  time: number;
  clockMs: number;
  beacon: BeaconClaims | null;
  applied: number;
  floor: number;
}

export interface IssuedWrit {
  writ: string;
  claims: WritClaims;
  args: unknown;
  node: NodeId;
  step: number;
  leaf: Uint8Array;
}

interface DecisionLeaf {
  type?: unknown;
  node?: unknown;
  policy?: unknown;
  result?: { decision?: unknown };
  writ?: { jti?: unknown } | null;
}

const MAX_VIOLATIONS = 20;

export class Checker {
  private readonly world: World;
  private readonly operator: SimOperator;
  private readonly seq: SimSequencer;
  private readonly maxSkewMs: number;
  readonly violations: Violation[] = [];
  readonly findings: Finding[] = [];
  readonly writs: IssuedWrit[] = [];
  private readonly byJti = new Map<string, IssuedWrit>();
  private readonly floors = new Map<NodeId, number>();
  private readonly checkpoints: { size: number; root: Uint8Array }[] = [];
  readonly counts = { allow: 0, deny: 0, activations: 0, refusals: 0, verified: 0, checkpoints: 0 };

  /** the evidence stream as the bus holds it */
  private readonly stream: () => readonly EvidenceMessage[];

  constructor(world: World, operator: SimOperator, seq: SimSequencer, stream: () => readonly EvidenceMessage[], maxSkewMs: number) {
    this.world = world;
    this.stream = stream;
    this.operator = operator;
    this.seq = seq;
    this.maxSkewMs = maxSkewMs;
  }

  violation(invariant: Violation['invariant'], message: string): void {
    this.world.trace(`VIOLATION (${invariant}) ${message}`);
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push({ invariant, step: this.world.step(), time: this.world.now(), message });
  }

  /** Records a finding, once per kind and node (the first occurrence). */
  finding(kind: Finding['kind'], message: string, node = ''): void {
    const key = `${kind}:${node}`;
    if (this.findingKeys.has(key)) return;
    this.findingKeys.add(key);
    this.world.trace(`finding ${kind}: ${message}`);
    this.findings.push({ kind, step: this.world.step(), time: this.world.now(), message });
  }

  private readonly findingKeys = new Set<string>();

  floor(node: NodeId): number {
    return this.floors.get(node) ?? 0;
  }

  snapshot(n: SimNode): DecisionSnapshot {
    const p = n.p;
    return {
      node: n.id,
      step: this.world.step(),
      time: this.world.now(),
      clockMs: n.clock().getTime(),
      beacon: p.tracker.beacon,
      applied: p.cursor.applied,
      floor: this.floor(n.id),
    };
  }

  // (1) — activations and beacons

  /**
   * A successful activation. `floorAtStart` is F when the activation began: a version at
   * or below it is a rollback accepted. A version below F as it is *now* (a newer one
   * was activated while this one waited for its record) is reported as a finding.
   */
  onActivated(node: NodeId, version: number, why: string, floorAtStart: number): void {
    this.counts.activations++;
    if (why === 'forged') this.violation(1, `${node} activated a bundle signed by an untrusted key (v${version})`);
    if (version <= floorAtStart) this.violation(1, `${node} accepted a rollback: activated v${version} after v${floorAtStart}`);
    const floor = this.floor(node);
    if (version < floor) {
      this.finding('activation-completed-out-of-order', `${node}: activate(v${version}) succeeded after v${floor} had been activated; the older bundle became the active one`, node);
    }
    this.floors.set(node, Math.max(floor, version));
  }

  /** A refused activation (a node's bundle watch applies one at a time: none is ever in flight beside it). */
  onRefused(node: NodeId, version: number, why: string, code: string): void {
    this.counts.refusals++;
    if (why !== 'forged' && why !== 'rollback' && code === 'bundle_rollback' && version > this.floor(node)) {
      this.finding('activation-refused-after-failed-record', `${node} refuses v${version} as a rollback though it never activated it (an activation whose record failed raised the floor)`, node);
    }
  }

  onForgedBeaconOffered(n: SimNode, forged: string): void {
    // forged beacons carry sequence numbers near 2^53 (operator.ts): one held means one was accepted
    const b = n.p.tracker.beacon;
    if (b && b.seq > Number.MAX_SAFE_INTEGER - 1_000_000) this.violation(1, `${n.id} accepted a beacon signed by an untrusted key (${forged.length} bytes)`);
  }

  /**
   * After every step: a revocation is acknowledged fleet-wide once the authority's view of
   * the fleet (the shipped FleetView, believing only signed reports) holds, from every node,
   * a status report whose applied revocation-list version reaches its revision.
   */
  updateAcks(view: FleetView, nodes: readonly NodeId[]): void {
    const reports = new Map(view.nodes().map((v) => [v.node, v.report?.revocations ?? 0]));
    for (const r of this.operator.revocations) {
      if (r.fleetAckedStep !== null || r.revision === null) continue;
      if (nodes.every((id) => (reports.get(id) ?? 0) >= (r.revision as number))) {
        r.fleetAckedStep = this.world.step();
        this.world.trace(`revocation ${r.revision} acknowledged fleet-wide`);
      }
    }
  }

  /** After anything that may change a node's active bundle: is it below a version the node activated? */
  checkActive(n: SimNode): void {
    if (!n.up) return;
    const v = n.p.policy.active?.bundle.manifest.version ?? 0;
    if (v < this.floor(n.id)) this.finding('active-below-activated', `${n.id} has v${v} active after activating v${this.floor(n.id)}`, n.id);
  }

  // (1), (2), (3) — decisions

  onDecision(n: SimNode, snap: DecisionSnapshot, req: AuthorizeRequest, d: Decision): void {
    if (d.decision !== 'allow') {
      this.counts.deny++;
      if (d.writ !== undefined) this.violation(3, `${n.id} returned a writ with a deny`);
      return;
    }
    this.counts.allow++;
    const c = d.claims;
    if (!d.writ || !c) {
      this.violation(3, `${n.id} allowed without a writ`);
      return;
    }
    const at = `${n.id} allow ${c.sub} (gate at step ${snap.step})`;
    this.checkFresh(at, snap, c);
    this.checkRevocations(at, snap, c.sub, c.lin.parent);
    const leaf = n.p.acked.get(c.led);
    if (d.ledgerIndex !== c.led) this.violation(3, `${at}: writ led ${c.led} differs from the decision's ledger index ${d.ledgerIndex}`);
    if (!leaf) {
      this.violation(3, `${at}: writ led ${c.led} was never acked to this node`);
      return;
    }
    const issued: IssuedWrit = { writ: d.writ, claims: c, args: req.args, node: n.id, step: snap.step, leaf };
    this.checkEvidence(at, issued, 'stream');
    this.writs.push(issued);
    this.byJti.set(c.jti, issued);
    if (c.pol.version > snap.floor) {
      this.finding('allow-before-activation-recorded', `${at} under v${c.pol.version}, whose activation on ${n.id} was not recorded (acked) when the gate ran`, n.id);
    }
  }

  private checkFresh(at: string, snap: DecisionSnapshot, c: WritClaims): void {
    const B = snap.beacon;
    const P = c.pol;
    const nowS = Math.floor(snap.clockMs / 1000);
    if (!B) return this.violation(1, `${at} under v${P.version} with no beacon`);
    if (B.exp <= nowS) this.violation(1, `${at} under an expired beacon (seq ${B.seq}, exp ${B.exp} ≤ ${nowS} on the node's clock)`);
    if (!B.bundle || B.bundle.version !== P.version || B.bundle.digest !== P.digest) {
      this.violation(1, `${at} under v${P.version} while its newest beacon names v${B.bundle?.version ?? 'none'}`);
    }
    if (P.version < snap.floor) this.violation(1, `${at} under v${P.version}, below v${snap.floor} activated before (rollback)`);
    const pub = this.operator.byVersion(P.version);
    if (!pub || pub.digest !== P.digest || P.domain !== DOMAIN) return this.violation(1, `${at} under a bundle the operator never published (v${P.version} ${P.digest})`);
    const named = this.operator.naming.find((x) => x.version === P.version && x.digest === P.digest);
    const bound = BEACON_TTL_MS + 1000 + this.maxSkewMs;
    if (!named) return this.violation(1, `${at} under v${P.version}, which the authority never named current`);
    if (named.from > snap.time || (named.to !== null && named.to <= snap.time - bound)) {
      this.violation(1, `${at} under v${P.version}, named t=${named.from}..${named.to}: not current at the authority within ${bound} ms before the gate at t=${snap.time}`);
    }
    if (snap.applied < B.revocations.version) this.violation(1, `${at} with revocations applied up to ${snap.applied}, beacon names ${B.revocations.version}`);
    if (pub.expires <= snap.clockMs) this.violation(1, `${at} under v${P.version}, expired on the node's clock`);
    if (c.iat !== nowS) this.violation(1, `${at}: writ iat ${c.iat} is not the node's clock at the gate (${nowS})`);
  }

  /** The jtis of a writ's parent and all its ancestors, as far as they were issued. */
  private lineage(parent: string | null): string[] {
    const out: string[] = [];
    for (let j = parent; j !== null && out.length < 64; j = this.byJti.get(j)?.claims.lin.parent ?? null) out.push(j);
    return out;
  }

  private revokedFleetWide(step: number, principal: string, writs: string[]): string | null {
    for (const r of this.operator.revocations) {
      if (r.fleetAckedStep === null || r.fleetAckedStep >= step) continue;
      if (r.what === 'principal' && r.value === principal) return `principal ${principal} (revocation ${r.revision}, acknowledged fleet-wide at step ${r.fleetAckedStep})`;
      if (r.what === 'writ' && writs.includes(r.value)) return `writ ${r.value} (revocation ${r.revision}, acknowledged fleet-wide at step ${r.fleetAckedStep})`;
    }
    return null;
  }

  private checkRevocations(at: string, snap: DecisionSnapshot, principal: string, parent: string | null): void {
    const hit = this.revokedFleetWide(snap.step, principal, this.lineage(parent));
    if (hit) this.violation(2, `${at} after the revocation of ${hit}`);
  }

  onVerified(node: NodeId, w: IssuedWrit, step: number): void {
    this.counts.verified++;
    const hit = this.revokedFleetWide(step, w.claims.sub, [w.claims.jti, ...this.lineage(w.claims.lin.parent)]);
    if (hit) this.violation(2, `${node} verified writ ${w.claims.jti} (${w.claims.sub}) after the revocation of ${hit}`);
  }

  /** The leaf at the writ's `led` — in the evidence stream (when the writ is returned: the stream acknowledged it) or in the sequencer's log (at the end). */
  private checkEvidence(at: string, w: IssuedWrit, where: 'stream' | 'log'): void {
    const c = w.claims;
    const stored = where === 'stream' ? (this.stream()[c.led]?.leaf ?? null) : this.seq.leaf(c.led);
    if (!stored) return this.violation(3, `${at}: no leaf #${c.led} in the ${where} (size ${where === 'stream' ? this.stream().length : this.seq.size()})`);
    if (!equalBytes(stored, w.leaf)) return this.violation(3, `${at}: leaf #${c.led} is not the decision leaf the node recorded`);
    let leaf: DecisionLeaf;
    try {
      leaf = JSON.parse(new TextDecoder().decode(stored)) as DecisionLeaf;
    } catch (err) {
      return this.violation(3, `${at}: leaf #${c.led} is not JSON: ${errorMessage(err)}`);
    }
    const pol = leaf.policy as WritClaims['pol'] | null | undefined;
    if (leaf.type !== 'decision' || leaf.result?.decision !== 'allow' || leaf.writ?.jti !== c.jti || leaf.node !== c.iss) {
      return this.violation(3, `${at}: leaf #${c.led} is not this writ's allow decision`);
    }
    if (!pol || pol.version !== c.pol.version || pol.digest !== c.pol.digest || pol.domain !== c.pol.domain) {
      this.violation(3, `${at}: leaf #${c.led} records another policy than the writ`);
    }
  }

  // (4) — checkpoints

  onCheckpoint(cp: SignedCheckpoint): void {
    this.counts.checkpoints++;
    let size: number;
    let root: Uint8Array;
    try {
      const parsed = parseCheckpoint(openNote(cp.note, [LOG_VERIFIER]).text);
      size = parsed.size;
      root = parsed.rootHash;
    } catch (err) {
      return this.violation(4, `checkpoint ${cp.size} does not verify: ${errorMessage(err)}`);
    }
    if (size !== cp.size || !equalBytes(root, cp.root)) this.violation(4, `checkpoint note says size ${size}, sequencer says ${cp.size}`);
    for (const earlier of this.checkpoints) {
      try {
        if (earlier.size > size) throw new Error(`the tree shrank from ${earlier.size}`);
        verifyConsistency(earlier.size, size, proveTree(size, earlier.size, this.seq.store.reader), earlier.root, root);
      } catch (err) {
        this.violation(4, `checkpoint ${size} is not consistent with checkpoint ${earlier.size}: ${errorMessage(err)}`);
      }
    }
    this.checkpoints.push({ size, root });
  }

  // the end of the run

  final(): void {
    const last = this.checkpoints.at(-1);
    for (const w of this.writs) {
      const at = `at the end, writ ${w.claims.jti} (${w.node}, step ${w.step})`;
      const before = this.violations.length;
      this.checkEvidence(at, w, 'log');
      if (this.violations.length > before) continue;
      if (!last || last.size <= w.claims.led) {
        this.violation(3, `${at}: no signed checkpoint covers #${w.claims.led}`);
        continue;
      }
      try {
        verifyInclusion(w.claims.led, last.size, leafHash(w.leaf), proveRecord(last.size, w.claims.led, this.seq.store.reader), last.root);
      } catch (err) {
        this.violation(3, `${at}: leaf #${w.claims.led} is not provably in checkpoint ${last.size}: ${errorMessage(err)}`);
      }
    }
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

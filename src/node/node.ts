/**
 * The governed decision path (DESIGN §2) on one node:
 *   gate (bundle, revocations, lineage) → Cedar → evidence (durable leaf) → writ (allow-writ.ts).
 * Every failure ends in deny with a reason code; nothing here throws to the caller
 * except for programming errors, and even those become `internal_error` denials.
 * Storage (ledger, state) and identity are parameters: no I/O of its own.
 */
// Time-ordered ids (UUIDv7): decision ids and jtis are index keys of the ledger, and
// random keys would scatter every append across the index pages.
import { newId } from './ids.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { Evaluation, EvaluationRequest } from '../policy/engine.ts';
import { principalEntityFromRequest } from '../policy/principal-entity.ts';
import { uidText } from '../canonical/uid.ts';
import { DenyError, type DenyReason, type ReasonCode } from '../reasons.ts';
import { errorMessage } from '../util.ts';
import type { WritClaims } from '../writ/claims.ts';
import { signWrit } from '../writ/issue.ts';
import { verifyWrit, type VerifiedWrit } from '../writ/verify.ts';
import * as gate from './gate.ts';
import { readiness, type Readiness } from './readiness.ts';
import { childLineage, revocationOf, type Lineage } from './lineage-gate.ts';
import { policyRef, type ActiveBundle, type ActivePolicy, type PolicyRef } from './active-policy.ts';
import type { DecisionThreads } from './decision-threads.ts';
import { approvalBinding } from './digests.ts';
import { allowWithWrit, type WritIssuer } from './allow-writ.ts';
import { recordDecision, unrecordedDecision, type DecisionRecord } from './decision-record.ts';
import type { FreshnessCheck } from './freshness.ts';
import { approvalArgs, checkApproval } from './approval.ts';
import { buildContext } from './context.ts';
import type { ApprovalStore, ConsumedStore, RevocationReader } from './state.ts';
import { pause, systemClock, type Clock } from '../clock.ts';
import { stateSingleUse, type SingleUseStore } from './single-use.ts';
import { nodeVerifierOptions, type NodeVerifierOptions } from './verifier.ts';
import { writWindow } from './request.ts';
import { unavailableMeter, withUsage, type UsageMeter } from './usage.ts';
import { LedgerUsageMeter } from './usage-ledger.ts';

export { DEFAULT_LIMITS, type AuthorizeRequest, type Decision, type DecisionObserver, type NodeIdentity, type NodeLimits } from './types.ts';
import { DEFAULT_LIMITS, type AuthorizeRequest, type Decision, type DecisionObserver, type NodeIdentity, type NodeLimits } from './types.ts';

/**
 * What the decision path itself needs of the node's state (a NodeState has it all): approvals,
 * the revocations, and single use when no other single-use store is given. The bundles reach
 * it through ActivePolicy.
 */
export type DecisionState = ApprovalStore & RevocationReader & ConsumedStore;

export class GovernanceNode {
  readonly identity: NodeIdentity;
  readonly limits: NodeLimits;
  readonly policy: ActivePolicy;
  private readonly ledger: Ledger;
  private readonly state: DecisionState;
  /** the node's clock: its timers and deadlines, and `now` unless that is given apart */
  readonly clock: Clock;
  /** the node's clock: governance time (writ windows, expiry, approvals) */
  readonly now: () => Date;
  private readonly observers: DecisionObserver[] = [];

  /** fleet nodes: beacons prove the active policy is current; embedded nodes have none */
  private readonly freshness: FreshnessCheck | null;
  /** where writs are consumed: this node's state, or (fleet) a store every node shares */
  private readonly singleUse: SingleUseStore;
  /** threads for Cedar and signing when decisions overlap (decision-threads.ts); null: all on this thread */
  private readonly threads: DecisionThreads | null;
  /** counts what the bundle's usage counters count (budgets, rate limits) */
  private readonly usage: UsageMeter;
  /** decisions in progress on this node: alone, one runs on this thread (a hop would cost more than it saves) */
  private deciding = 0;
  /** what an allow's writ is issued with (allow-writ.ts): this node's records and signatures */
  private readonly issuer: WritIssuer;

  constructor(deps: {
    identity: NodeIdentity;
    limits?: Partial<NodeLimits>;
    policy: ActivePolicy;
    ledger: Ledger;
    state: DecisionState;
    /** timers and deadlines (default: the system clock) and, without `now`, governance time */
    clock?: Clock;
    /** governance time, if not the clock's (the simulation gives each node its skewed time) */
    now?: () => Date;
    freshness?: FreshnessCheck;
    singleUse?: SingleUseStore;
    /** worker threads for Cedar and signing, so concurrent decisions use every core */
    decisionThreads?: DecisionThreads;
    /** where usage counters are counted (usage.ts); default: this node's ledger where it is the whole log, else every counted request denies */
    usage?: UsageMeter;
  }) {
    this.usage = deps.usage ?? (deps.ledger.approvalUse ? new LedgerUsageMeter(deps.ledger) : unavailableMeter("this node's ledger is not the whole log, and no fleet-wide counter store was given"));
    this.threads = deps.decisionThreads ?? null;
    this.freshness = deps.freshness ?? null;
    this.singleUse = deps.singleUse ?? stateSingleUse(deps.state);
    this.identity = deps.identity;
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.policy = deps.policy;
    this.ledger = deps.ledger;
    this.state = deps.state;
    const clock = deps.clock ?? systemClock;
    this.clock = clock;
    this.now = deps.now ?? (() => new Date(clock.now()));
    this.issuer = { nodeId: this.identity.nodeId, limits: this.limits, record: (r, assigned) => this.record(r, assigned), sign: (c) => this.sign(c) };
  }

  /**
   * Writs of this node's domain are accepted; a writ of another domain only if this
   * domain's policy permits `Domain::"<theirs>"` to `Action::"accept-writ"` on `Domain::"<ours>"`.
   */
  acceptsDomain(domain: string): boolean {
    if (domain === this.identity.domain) return true;
    const engine = this.policy.active?.engine;
    if (!engine) return false;
    const r = engine.evaluate({ principal: { type: 'Domain', id: domain }, action: { type: 'Action', id: 'accept-writ' }, resource: { type: 'Domain', id: this.identity.domain }, context: {} });
    return r.decision === 'allow';
  }

  /** Whether this node can allow anything now, and why not (readiness.ts): /readyz, the console and status reports. */
  readiness(now = this.now()): Readiness {
    return readiness(this, now);
  }

  /** Why this node would deny everything right now (stale policy), or null. */
  staleness(now = this.now()): string | null {
    const a = this.policy.active;
    if (!a) return 'no active bundle';
    return this.freshness?.stale({ version: a.bundle.manifest.version, digest: a.bundle.digest }, now) ?? null;
  }

  onDecision(o: DecisionObserver): void {
    this.observers.push(o);
  }

  async authorize(req: AuthorizeRequest): Promise<Decision> {
    const started = performance.now();
    this.deciding++;
    let d: Decision;
    try {
      d = await this.decide(req);
    } finally {
      this.deciding--;
    }
    const seconds = (performance.now() - started) / 1000;
    for (const o of this.observers) o(d, seconds);
    return d;
  }

  private async decide(req: AuthorizeRequest): Promise<Decision> {
    const decisionId = newId();
    const now = this.now();
    let policy: PolicyRef | null = null;
    let parent: string | null = null;
    try {
      const { principal, action, resource } = gate.requestShape(req);
      // an in-process enforcement point's principal entity: checked and bounded before anything else (principal_entity_invalid)
      const principalEntity = req.principalEntity === undefined ? undefined : principalEntityFromRequest(req.principalEntity, principal);
      const active = await this.awaitPolicy(req.minVersion);
      policy = policyRef(active.bundle);
      gate.bundleInForce(active, policy, this.freshness, now);
      const principalText = uidText(principal);
      gate.notRevoked(this.state.revocations(), policy, this.identity.nodeId, principalText);
      const lineage = await childLineage(req.parent, principalText, {
        keys: this.identity.verifierKeys,
        now,
        maxLifetimeSeconds: this.limits.maxWritLifetimeSeconds,
        maxDepth: this.limits.maxLineageDepth,
        ledger: this.ledger,
        revocationOf: (c) => this.revocationOf(c),
      });
      parent = lineage.parent;
      // Everything that can deny is settled before Cedar runs, so a recorded evaluation
      // is exactly what replay re-evaluates.
      const window = writWindow(now, req.ttlSeconds, lineage, this.limits);
      const attestation = gate.attestation(req.attestation);
      const base: EvaluationRequest = {
        principal,
        action,
        resource,
        context: buildContext(req.context, req.args, {
          now,
          lineage: { depth: lineage.depth, rootPrincipal: lineage.rootPrincipal, parentAction: lineage.parentAction, parent: lineage.parent ?? '' },
          attestation: { binaryDigest: attestation.binaryDigest ?? '', domain: this.identity.domain, node: this.identity.nodeId },
        }),
        ...(principalEntity !== undefined && { principalEntity }),
      };
      // usage counters the bundle declares (usage.ts): counted, evaluated and recorded under one lease; none, and `base` is used as it is
      const d = { decisionId, now, policy, req, parent, lineage, window, principalText };
      return await withUsage(this.usage, active.engine.usage, base, req.args, now, (input) => this.evaluated(active, { ...d, input }));
    } catch (err) {
      return this.denyFor(err, { decisionId, now, policy, req, parent });
    }
  }

  /** Cedar on the settled input, then the decision it ends in: deny, an approval to ask for, or an allow with its writ. */
  private async evaluated(active: ActiveBundle, d: { decisionId: string; now: Date; policy: PolicyRef; input: EvaluationRequest; req: AuthorizeRequest; parent: string | null; lineage: Lineage; window: { iat: number; exp: number }; principalText: string }): Promise<Decision> {
    const { decisionId, now, policy, input, req, parent } = d;
    const result = await this.evaluate(active, input);
    if (result.decision === 'deny') {
      return await this.record({ decisionId, now, policy, input, req, parent, reasons: result.reasons, policies: result.policies, errors: result.errors });
    }
    let approval: string | null = null;
    if (result.requiresApproval) {
      const bound = { intent: approvalBinding(input, req), principal: d.principalText, action: uidText(input.action), resource: uidText(input.resource), policyDigest: policy.digest };
      if (req.approval === undefined) return await this.askApproval(decisionId, now, policy, input, req, parent, result.policies, bound);
      // rejects with a DenyError (recorded by decide, not replayed); single use is checked against the ledger and the single-use store, not only the state's flag
      await checkApproval({ state: this.state, ledger: this.ledger, singleUse: this.singleUse }, req.approval, bound, now);
      approval = req.approval;
    }
    return await allowWithWrit(this.issuer, { decisionId, now, policy, input, req, lineage: d.lineage, window: d.window, policies: result.policies, approval, maxRunSeconds: result.maxRunSeconds });
  }

  /**
   * The denial an error on the decision path ends in: a DenyError's own code, anything else
   * internal_error; recorded without input (a denial not decided by Cedar is not replayed),
   * or unrecorded if even that fails.
   */
  private denyFor(err: unknown, d: { decisionId: string; now: Date; policy: PolicyRef | null; req: AuthorizeRequest; parent: string | null; reevaluates?: string }): Promise<Decision> | Decision {
    const code = err instanceof DenyError ? err.code : 'internal_error';
    const message = err instanceof DenyError ? err.message : `internal error: ${errorMessage(err)}`;
    if (code === 'ledger_append_failed') return this.unrecorded(d.decisionId, d.policy, message, []);
    return this.record({ ...d, input: null, reasons: [code], policies: [], errors: [message] }).catch((e: unknown) =>
      this.unrecorded(d.decisionId, d.policy, `${message}; and the denial could not be recorded: ${errorMessage(e)}`, [code]),
    );
  }

  /** Records `approval_required` (replay re-derives it from the policy) and opens the approval request. */
  private async askApproval(
    decisionId: string,
    now: Date,
    policy: PolicyRef,
    input: EvaluationRequest,
    req: AuthorizeRequest,
    parent: string | null,
    policies: string[],
    bound: { intent: string; principal: string; action: string; resource: string; policyDigest: string },
  ): Promise<Decision> {
    const errors = [`human approval required: writ approve ${decisionId}`];
    const d = await this.record({ decisionId, now, policy, input, req, parent, reasons: ['approval_required'], policies, errors });
    if (d.ledgerIndex === null) return d;
    this.state.createApproval({ id: decisionId, ...bound, args: approvalArgs(req.args), expires: new Date(now.getTime() + this.limits.approvalTtlMs).toISOString() });
    return { ...d, approvalId: decisionId };
  }

  /** Records a denial decided by an enforcement point itself (e.g. a refused request shape). */
  async deny(req: AuthorizeRequest, code: DenyReason, message: string): Promise<Decision> {
    await this.policy.refresh().catch(() => undefined); // only to name the active bundle in the record
    const d = await this.record({ decisionId: newId(), now: this.now(), policy: this.policy.active ? policyRef(this.policy.active.bundle) : null, input: null, req, parent: null, reasons: [code], policies: [], errors: [message] }).catch(
      (e: unknown) => this.unrecorded(newId(), null, `${message}; and the denial could not be recorded: ${errorMessage(e)}`, [code]),
    );
    for (const o of this.observers) o(d, 0);
    return d;
  }

  private async awaitPolicy(minVersion: number | undefined) {
    const deadline = this.clock.now() + this.limits.minVersionWaitMs;
    for (let attempt = 0; ; attempt++) {
      await this.policy.refresh({ maxAgeMs: attempt === 0 ? 100 : 0 });
      const active = this.policy.active;
      if (!active) throw new DenyError('no_active_bundle', 'no policy bundle is active on this node');
      const current = minVersion === undefined || active.bundle.manifest.version >= minVersion;
      // synchronize-before-authorize: with minVersion, also wait (bounded) for the beacon naming it
      if (current && (minVersion === undefined || this.staleness() === null)) return active;
      if (current && this.clock.now() >= deadline) return active; // the gate then denies stale_policy
      if (this.clock.now() >= deadline) {
        throw new DenyError('behind_min_version', `active bundle version ${active.bundle.manifest.version} is behind the requested ${minVersion}`);
      }
      await pause(this.clock, 25);
    }
  }

  /** Cedar, here or (when other decisions are in progress) on a decision thread under the same bundle. */
  private evaluate(active: ActiveBundle, input: EvaluationRequest): Evaluation | Promise<Evaluation> {
    if (this.threads === null || this.deciding <= 1 || this.threads.saturated()) return active.engine.evaluate(input);
    return this.threads.evaluate(active.bundle, input);
  }

  /** The writ's signature, here or on a decision thread (the same key and encoding). */
  private sign(claims: WritClaims): Promise<string> {
    if (this.threads === null || this.deciding <= 1 || this.threads.saturated()) return signWrit(claims, this.identity.privateKey, this.identity.kid);
    return this.threads.sign(claims).catch(() => signWrit(claims, this.identity.privateKey, this.identity.kid));
  }

  /** Null if no revocation covers the writ (see lineage/gate.ts). */
  revocationOf(c: WritClaims): string | null {
    return revocationOf(c, this.state.revocations(), this.ledger, this.limits.maxLineageDepth);
  }

  /** Appends the decision leaf durably (decision-record.ts); for an allow, the writ is signed only after this resolves. */
  private record(r: DecisionRecord, assigned?: (index: number) => void): Promise<Decision> {
    return recordDecision({ nodeId: this.identity.nodeId, ledger: this.ledger }, r, assigned);
  }

  private unrecorded(decisionId: string, policy: PolicyRef | null, message: string, reasons: ReasonCode[]): Decision {
    return unrecordedDecision(decisionId, policy, message, reasons);
  }

  /**
   * Re-decides a running execution (issue 13): its original request — the recorded input,
   * at the current time — under the governance state now in force (bundle, revocations,
   * freshness), recorded as a decision linked to its writ (`request.parent` = its jti,
   * `reevaluates`). Issues no writ: an allow lets it go on, a deny ends it. Replay
   * re-evaluates it like any other decision. An approval the run was allowed with still
   * stands for it.
   */
  async reevaluate(run: { claims: WritClaims; request: AuthorizeRequest; input: EvaluationRequest; approval: string | null }): Promise<Decision> {
    const decisionId = newId();
    const now = this.now();
    let policy: PolicyRef | null = null;
    const req = run.request;
    const parent = run.claims.jti;
    try {
      const active = await this.awaitPolicy(undefined);
      policy = policyRef(active.bundle);
      gate.bundleInForce(active, policy, this.freshness, now);
      gate.notRevoked(this.state.revocations(), policy, this.identity.nodeId, run.claims.sub);
      const revoked = this.revocationOf(run.claims);
      if (revoked !== null) throw new DenyError('parent_revoked', `the running execution's writ: ${revoked}`);
      const input: EvaluationRequest = { ...run.input, context: { ...run.input.context, now: Math.floor(now.getTime() / 1000) } };
      const result = active.engine.evaluate(input);
      const approval = result.requiresApproval ? run.approval : null;
      if (result.decision === 'deny' || (result.requiresApproval && approval === null)) {
        const reasons: ReasonCode[] = result.decision === 'deny' ? result.reasons : ['approval_required'];
        return await this.record({ decisionId, now, policy, input, req, parent, reasons, policies: result.policies, errors: result.errors, reevaluates: parent });
      }
      return await this.record({ decisionId, now, policy, input, req, parent, reasons: ['policy_permit'], policies: result.policies, errors: [], reevaluates: parent, allowed: true, approval });
    } catch (err) {
      return this.denyFor(err, { decisionId, now, policy, req, parent, reevaluates: parent });
    }
  }

  /**
   * What a running execution's authorization depends on, as one comparable value: the
   * active bundle and the revocations known. A lease re-decides its execution when it changes.
   */
  async governanceState(): Promise<string> {
    // another process of the home (writ policy activate) may have activated a bundle
    await this.policy.refresh({ maxAgeMs: 100 }).catch(() => undefined);
    const added = this.state.revocationsSince(this.revocationSeq);
    if (added.length > 0) this.revocationSeq = added.at(-1)?.seq ?? this.revocationSeq;
    return `${this.policy.active?.bundle.digest ?? 'none'}|${this.revocationSeq}`;
  }

  /** the newest revocation sequence governanceState() has seen */
  private revocationSeq = 0;

  /**
   * Why this node cannot vouch for a writ right now, or null. A fleet node whose beacon
   * expired (cut off from NATS, say) may be missing a revocation made meanwhile, so it
   * verifies nothing until it is fresh again; an embedded node's revocations are its own.
   */
  async verifierStaleness(): Promise<string | null> {
    if (this.freshness === null) return null;
    await this.policy.refresh({ maxAgeMs: 100 }).catch(() => undefined); // an unloadable bundle leaves none active: stale below
    return this.staleness();
  }

  /**
   * The options every enforcement point backed by this node verifies with: pinned keys,
   * fail-closed freshness, single use (fleet-wide in a fleet), revocation, domains. For
   * `requireWrits` (an MCP server beside a node) and for `verify` below.
   */
  verifierOptions(): NodeVerifierOptions {
    return nodeVerifierOptions({
      keys: this.identity.verifierKeys,
      limits: this.limits,
      singleUse: this.singleUse,
      stale: () => this.verifierStaleness(),
      acceptDomain: (domain) => this.acceptsDomain(domain),
      isRevoked: (c) => this.revocationOf(c),
    });
  }

  /** Verification as every enforcement point does it: fresh state, pinned keys, single use, revocation. */
  verify(writ: unknown, o: { audience: string; args: unknown; consume: boolean; expect?: { action?: string; resource?: string } }): Promise<VerifiedWrit> {
    const v = this.verifierOptions();
    return verifyWrit(writ, {
      ...v,
      audience: o.audience,
      args: o.args,
      consume: o.consume ? v.consume : false,
      now: this.now(),
      ...(o.expect && { expect: o.expect }),
    });
  }
}

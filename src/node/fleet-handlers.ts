/**
 * The steps a fleet node takes on what arrives from the bus, one named function per
 * channel (fleet-member.ts watches the channels and calls them). Each step verifies
 * before it changes anything; one that throws changes nothing, and the watch logs it and
 * goes on. A step must be idempotent: a channel may deliver an entry again (a watch
 * restarted, a node restarted on its surviving state).
 */
import type { JWK } from 'jose';
import type { Ledger } from '../ledger/ledger.ts';
import { BundleError } from '../reasons.ts';
import { errorMessage } from '../util.ts';
import type { RevocationListHolder } from '../writ/revocation-poller.ts';
import { verifyApprovalDecision } from './approval-decision-message.ts';
import { decideApproval } from './approval.ts';
import type { BusEntry } from './fleet-bus.ts';
import type { FleetKeyring } from './fleet-keyring.ts';
import type { RevocationCursor } from './fleet-member.ts';
import type { BeaconTracker } from './freshness.ts';
import type { GovernanceNode } from './node.ts';
import { verifyRevocation } from './revocation-message.ts';
import type { NodeState } from './state.ts';

export interface FleetContext {
  node: GovernanceNode;
  state: NodeState;
  evidence: Ledger;
  beacons: BeaconTracker;
  cursor: RevocationCursor;
  authorityKeys: JWK[];
  keyring: FleetKeyring;
  revocationList: RevocationListHolder;
  /** revocations are applied strictly one after the other, in revision order */
  pendingRevocations: Promise<void>;
  /** a bundle whose activation could not be recorded, to try again (applyBundle) */
  retryBundle: BusEntry | null;
  log: (s: string) => void;
}

export type FleetStep = (ctx: FleetContext, e: BusEntry) => Promise<void>;

export interface FleetHandlers {
  applyBundle: FleetStep;
  offerBeacon: FleetStep;
  applyRevocation: FleetStep;
  applyApprovalDecision: FleetStep;
  offerCertificate: FleetStep;
  offerRevocationList: FleetStep;
}

const text = (e: BusEntry) => new TextDecoder().decode(e.value);

/**
 * `WRIT_TRACE_REVOCATIONS=1`: log when each revocation arrived and when it was applied, in
 * ms since the epoch with µs (performance.timeOrigin + now: comparable across processes of
 * one machine). bench/fleet.ts reads it to separate propagation from its own polling.
 */
const TRACE_REVOCATIONS = process.env.WRIT_TRACE_REVOCATIONS === '1';
const epochMs = () => (performance.timeOrigin + performance.now()).toFixed(3);

/**
 * A bundle: verified against the pinned authority keys, above the anti-rollback floor,
 * activated (ActivePolicy). An activation whose record could not be appended (the evidence
 * stream did not answer) changed nothing and is retried (`retryBundle`, fleet-member.ts):
 * the channel delivers each bundle once, and a node left on the previous one would stay
 * stale until the next push (found by the simulation, which runs this step).
 */
export const applyBundle: FleetStep = async (ctx, e) => {
  ctx.retryBundle = null; // a newer delivery (or this retry) supersedes it
  try {
    const { bundle } = await ctx.node.policy.activate(e.value);
    ctx.log(`activated bundle ${bundle.manifest.version} (${bundle.digest})`);
  } catch (err) {
    if (err instanceof BundleError && err.code === 'ledger_append_failed') ctx.retryBundle = e;
    throw err;
  }
};

/** A beacon: verified, kept if newer (BeaconTracker). */
export const offerBeacon: FleetStep = async (ctx, e) => {
  await ctx.beacons.offer(text(e));
};

/**
 * A revocation: verified, applied to the node's state, and only then counted as applied
 * (the cursor the beacon rule reads). Applied strictly in revision order, so the cursor
 * never claims one that is not; one that does not verify is logged and the chain goes on.
 * An isolated node's key leaves the keyring (its writs: writ_unknown_key).
 */
export const applyRevocation: FleetStep = (ctx, e) => {
  const received = TRACE_REVOCATIONS ? epochMs() : '';
  ctx.pendingRevocations = ctx.pendingRevocations
    .then(async () => {
      const r = await verifyRevocation(text(e), ctx.authorityKeys);
      // the bucket is the record: re-applied from it at every start before the cursor counts
      // it (the beacon rule keeps the node stale until then), so this copy need not wait for the disk
      ctx.state.revoke(r.kind, r.value, r.reason, { fsync: false });
      if (r.kind === 'node') ctx.keyring.isolate(r.value);
      ctx.cursor.applied = Math.max(ctx.cursor.applied, e.revision);
      if (TRACE_REVOCATIONS) ctx.log(`revocation ${e.revision} received at ${received} applied at ${epochMs()}`);
    })
    .catch((err: unknown) => ctx.log(`revocation ${e.revision} refused: ${errorMessage(err)}`));
  return ctx.pendingRevocations;
};

/** An approval decision signed at the authority's console, for a request this node holds, with the very intent shown. */
export const applyApprovalDecision: FleetStep = async (ctx, e) => {
  const d = await verifyApprovalDecision(text(e), ctx.authorityKeys);
  const self = ctx.node.identity.nodeId;
  if (d.node !== self) throw new Error(`the decision names node ${d.node}`);
  const a = ctx.state.approval(d.id);
  if (!a) throw new Error(`no approval request ${d.id}`);
  if (a.status !== 'pending') return; // decided already: a replay of the channel, or decided here first
  if (a.intent !== d.intent) throw new Error(`approval ${d.id}: the decision was made for another intent`);
  await decideApproval(ctx.evidence, ctx.state, d.id, d.decision, 'authority-console', ctx.node.now());
  ctx.log(`approval ${d.id} ${d.decision} at the authority's console`);
};

/** A node certificate: the keyring's rules (fleet-keyring.ts). */
export const offerCertificate: FleetStep = async (ctx, e) => {
  await ctx.keyring.offer(e.key, text(e));
};

/** The authority's signed revocation list: newest kept (never an older one), relayed at GET /v1/revocations. */
export const offerRevocationList: FleetStep = async (ctx, e) => {
  await ctx.revocationList.offer(text(e));
};

export const FLEET_HANDLERS: FleetHandlers = { applyBundle, offerBeacon, applyRevocation, applyApprovalDecision, offerCertificate, offerRevocationList };

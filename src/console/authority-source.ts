/**
 * The console of a fleet's authority (`writ authority`): every node's health from the
 * status bucket (version, beacon age, readiness, as each node reports it), the fleet's
 * decision rate, deny reasons and latency (the nodes' reports merged), the bundle each
 * domain's beacon names with its policies, the bundles the authority named over time,
 * every node's pending approvals, which the admin may decide here (signed by the authority,
 * applied by the node that holds the request) — and, with PostgreSQL, the fleet's ledger
 * and lineage as the sequencer wrote them.
 */
import { formatProofFile } from '../tlog/proof-file.ts';
import { logReads, type LogStore } from '../ledger/log-store.ts';
import type { CosignedNotes } from '../server/log-routes.ts';
import type { AuthorityHandle } from '../sync/authority.ts';
import { REPORT_STALE_MS, type FleetNodeView } from '../authority/fleet-view.ts';
import { bundleView, type Activation, type NodeHealth } from './data.ts';
import type { ConsoleLedger, ConsoleSource, PageName } from './source.ts';

const decoder = new TextDecoder();
/** how long a decision made here waits for its node to report it applied */
const APPROVAL_CONFIRM_MS = 5000;

/** A node as the health page shows it, judged on the authority's clock. */
export function fleetNodeHealth(n: FleetNodeView): NodeHealth {
  const r = n.report;
  const age = n.reportAgeMs;
  const silent = r === null || age === null || age > REPORT_STALE_MS;
  return {
    node: n.node,
    domain: r?.domain ?? n.certified?.domain ?? '',
    mode: 'fleet',
    software: r?.software ?? 'unknown',
    bundle: r && r.version !== null && r.digest !== null ? { version: r.version, digest: r.digest, expires: r.expires ?? '' } : null,
    beacon: r?.beacon && age !== null ? { ageMs: r.beacon.ageMs + age } : null,
    ready: !silent && r.ready && n.certified !== null && !n.isolated,
    reason: n.isolated ? 'node_revoked' : r === null ? 'never_reported' : silent ? 'not_reporting' : n.certified === null ? 'not_certified' : r.reason,
    startedAt: r?.startedAt ?? null,
    reportAgeMs: age,
    address: r?.address ?? null,
    certified: n.certified !== null,
  };
}

function storeLedger(plog: LogStore, cosigned?: CosignedNotes): ConsoleLedger {
  return {
    async entries(from, limit) {
      const [size, [cp]] = await Promise.all([plog.size(), plog.checkpoints(1)]);
      const start = from ?? Math.max(0, size - limit);
      const entries = (await plog.entries(start, limit)).map((e) => ({ index: e.index, type: e.type, leaf: decoder.decode(e.leaf) }));
      return { size, checkpoint: cp ? { size: cp.size, created: cp.created } : null, entries };
    },
    checkpoints: async () => (await plog.checkpoints(50)).map((c) => ({ size: c.size, created: c.created, note: c.note })),
    async proof(i) {
      const [cp, entry] = await Promise.all([plog.latestCheckpoint(), plog.entry(i)]);
      if (!entry) return { missing: `no entry ${i}` };
      if (!cp || cp.size <= i) return { missing: `no signed checkpoint covers entry ${i} yet` };
      // the proof file carries the cosignatures, so a verifier requiring witnesses can check it offline
      const checkpoint = cosigned ? await cosigned.cosignedNote(cp) : cp.note;
      return { index: i, proof: formatProofFile({ index: i, proof: (await logReads.inclusion(plog, i, cp.size)).proof, checkpoint }), entry: decoder.decode(entry) };
    },
  };
}

/** `cosigned`: the fleet checkpoint with the witnesses' stored cosignatures (witness/stored-cosignatures.ts), for the proof files */
export function authorityConsoleSource(a: AuthorityHandle, o: { software: string; ledger?: LogStore; lineage?: ConsoleSource['lineage']; cosigned?: CosignedNotes }): ConsoleSource {
  const pages: PageName[] = ['governance', 'health', ...(o.lineage ? (['lineage'] as const) : []), 'proof', ...(o.ledger ? (['ledger'] as const) : [])];
  const notes = [
    'Node health and approvals are as each node reports them in its signed status report',
    ...(o.ledger ? [] : ['The fleet’s ledger and lineage are shown when the authority runs with --pg (the sequencer’s PostgreSQL)']),
  ];
  return {
    about: { role: 'authority', id: 'authority', domain: a.config.domain, fleet: a.bus.name, software: o.software, pages, notes },
    async governance() {
      const bundles = [...a.bundles().values()].sort((x, y) => x.manifest.domain.localeCompare(y.manifest.domain));
      const byDigest = new Map(bundles.map((b) => [b.digest, b]));
      const activations: Activation[] = (await a.named()).map((n) => {
        const b = byDigest.get(n.digest);
        return { index: null, time: n.named, domain: n.domain, version: n.version, digest: n.digest, signers: b?.signers ?? [], expires: b?.manifest.expires ?? null };
      });
      const approvals = a.view.nodes().flatMap((n) => (n.report && n.reportAgeMs !== null && n.reportAgeMs <= REPORT_STALE_MS ? n.report.approvals.filter((ap) => Date.parse(ap.expires) > Date.now()).map((ap) => ({ ...ap, node: n.node, at: n.report?.address ?? null })) : []));
      return { node: { id: 'authority', domain: a.config.domain }, bundles: bundles.map((b) => bundleView(b)), activations, approvals, scope: 'fleet' };
    },
    // Signed here, applied (and recorded in the ledger) by the node that holds the request;
    // answered with what that node recorded, once a report of it arrives.
    async decideApproval(id, decision, target) {
      if (!target.node || !target.intent) return { status: 400, error: 'approval_target_required', message: 'name the node that holds the request and its intent, as shown' };
      const holder = a.view.nodes().find((n) => n.node === target.node && n.report && n.reportAgeMs !== null && n.reportAgeMs <= REPORT_STALE_MS);
      const pending = holder?.report?.approvals.find((x) => x.id === id && x.intent === target.intent);
      if (!holder || !pending) return { status: 404, error: 'unknown_approval', message: `${target.node} reports no pending approval ${id} for that intent` };
      const status = decision === 'approve' ? 'approved' : 'rejected';
      const sent = Date.now();
      await a.sendApprovalDecision({ node: holder.node, id, intent: pending.intent, decision: status });
      for (let waited = 0; waited < APPROVAL_CONFIRM_MS; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
        const n = a.view.nodes().find((x) => x.node === holder.node);
        const recorded = n?.reportAgeMs !== null && n?.reportAgeMs !== undefined && n.reportAgeMs < Date.now() - sent ? n.report?.decided.find((x) => x.id === id) : undefined;
        if (!recorded) continue;
        if (recorded.status !== status) return { status: 409, error: 'approval_not_pending', message: `${holder.node} recorded approval ${id} as ${recorded.status} (by ${recorded.decidedBy ?? 'someone else'}) before this decision` };
        return { approval: { ...pending, status: recorded.status, decidedBy: recorded.decidedBy, used: false } };
      }
      return { status: 504, error: 'approval_not_confirmed', message: `the decision was sent to ${holder.node}, which has not reported it recorded within ${APPROVAL_CONFIRM_MS / 1000} s` };
    },
    async health(seconds) {
      return { now: new Date().toISOString(), nodes: a.view.nodes().map(fleetNodeHealth), stats: a.view.stats.snapshot(seconds) };
    },
    ...(o.ledger && { ledger: storeLedger(o.ledger, o.cosigned) }),
    ...(o.lineage && { lineage: o.lineage }),
  };
}

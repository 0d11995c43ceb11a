/**
 * Explaining one recorded decision (`writ explain`, GET /console/api/explain;
 * docs/explain.md): the request as received and as evaluated, the bundle it was decided
 * under, the determining policies with their source, and for `no_permit` each permit whose
 * scope matched and the condition that did not hold. Read from the leaf bytes (which the
 * tree protects), never from the index columns, which only find the leaf; re-decided with
 * the *recorded* bundle, never the active one.
 */
import type { Ledger, LedgerEntry } from '../ledger/ledger.ts';
import { leafObject } from '../ledger/leaf.ts';
import { loadRecordedBundle, type ActiveBundle } from '../node/active-policy.ts';
import { recordedInput } from '../node/replay.ts';
import type { BundleStore } from '../node/state.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import type { AuthorityTrust } from '../policy/verify-bundle.ts';
import { errorMessage, isRecord } from '../util.ts';
import { WritError } from '../writ/errors.ts';
import { permitChecks, type PermitCheck } from './explain-permits.ts';

export type ExplainErrorCode = 'explain_not_found' | 'explain_not_a_decision' | 'explain_query_invalid';

/** A query that names no decision: unknown id, jti or index, or an entry that concerns no decision. */
export class ExplainError extends WritError {
  override name = 'ExplainError';
  declare readonly code: ExplainErrorCode;
  constructor(code: ExplainErrorCode, message: string) {
    super(code, message);
  }
}

export interface ExplainDeps {
  ledger: Pick<Ledger, 'entry' | 'size' | 'findByDecisionId' | 'findByJti' | 'writ'>;
  bundles: Pick<BundleStore, 'bundle'>;
  /** the pinned authority keys a stored bundle is verified against; null: only `active` can be used */
  trust: AuthorityTrust | null;
  /** the bundle the node has loaded (already verified), used when it is the recorded one */
  active?: () => ActiveBundle | null;
}

export interface PolicyView {
  id: string;
  effect: 'permit' | 'forbid' | null;
  file: string | null;
  /** null when the recorded bundle could not be loaded, or does not hold the policy */
  text: string | null;
}

export interface RecordedResult {
  decision: string;
  reasons: string[];
  policies: string[];
  errors: string[];
}

export interface Explanation {
  query: string;
  /** how the query was read, and the entry it named when that was not the decision itself (an outcome, say) */
  lookedUpAs: 'index' | 'decision_id' | 'jti';
  via: { index: number; type: string } | null;
  index: number;
  decisionId: string;
  time: string | null;
  node: string | null;
  /** the request as received (not normalized) */
  request: { principal: unknown; action: unknown; resource: unknown; args: unknown; parent: unknown };
  /** the canonical Cedar request that was evaluated (principal, action, resource, the full context); null: Cedar did not run */
  evaluated: EvaluationRequest | null;
  inputDigest: string | null;
  bundle: { domain: string; version: number; digest: string } | null;
  result: RecordedResult;
  writ: { jti: string; exp: number | null } | null;
  reevaluates: string | null;
  approval: string | null;
  /** denied before Cedar ran: the check that refused */
  gate: { reasons: string[]; message: string } | null;
  /** the recorded bundle loaded (always the recorded one), or why it could not be */
  bundleLoaded: { ok: true } | { ok: false; why: string };
  determining: PolicyView[];
  /** for `no_permit`: every permit whose scope matched, and why it did not apply; null otherwise */
  permits: PermitCheck[] | null;
  /** the recorded input decided again under the recorded bundle; null without input or bundle */
  redecided: (RecordedResult & { same: boolean }) | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

interface Found {
  entry: LedgerEntry;
  leaf: Record<string, unknown>;
  lookedUpAs: Explanation['lookedUpAs'];
  via: Explanation['via'];
}

function decisionOfWrit(ledger: ExplainDeps['ledger'], jti: string): LedgerEntry | null {
  const row = ledger.writ(jti);
  if (row) return ledger.entry(row.decisionIndex);
  // a writ the lineage index does not hold: the first decision that names it (a re-decision names the writ it runs under)
  return ledger.findByJti(jti, 'decision')[0] ?? null;
}

/** The decision leaf a query names: an entry index, a decision id, or a writ's jti. */
export function findDecision(ledger: ExplainDeps['ledger'], query: string): Found {
  const q = query.trim();
  if (/^\d{1,16}$/.test(q)) {
    const index = Number(q);
    const entry = ledger.entry(index);
    if (!entry) throw new ExplainError('explain_not_found', `no entry ${index} (the ledger has ${ledger.size()})`);
    const leaf = leafObject(entry.leaf);
    if (leaf.type === 'decision') return { entry, leaf, lookedUpAs: 'index', via: null };
    const type = String(leaf.type ?? entry.type);
    // an approval names the decision that asked for it
    const asked = leaf.type === 'approval' && typeof leaf.id === 'string' ? ledger.findByDecisionId(leaf.id) : null;
    if (asked) return { entry: asked, leaf: leafObject(asked.leaf), lookedUpAs: 'index', via: { index, type } };
    const jti = str(leaf.jti) ?? (leaf.kind === 'writ' ? str(leaf.value) : null);
    if (jti === null) throw new ExplainError('explain_not_a_decision', `entry ${index} is a ${type} entry, not a decision, and names no writ`);
    const d = decisionOfWrit(ledger, jti);
    if (!d) throw new ExplainError('explain_not_found', `entry ${index} is a ${type} entry for writ ${jti}, whose decision is not in this ledger`);
    return { entry: d, leaf: leafObject(d.leaf), lookedUpAs: 'index', via: { index, type } };
  }
  if (!UUID.test(q)) throw new ExplainError('explain_query_invalid', `${JSON.stringify(query)} is neither a decision id, a writ id (jti) nor a ledger index`);
  const byId = ledger.findByDecisionId(q);
  if (byId) {
    const leaf = leafObject(byId.leaf);
    // the index column found it; the leaf bytes must say so too
    if (leaf.id === q) return { entry: byId, leaf, lookedUpAs: 'decision_id', via: null };
  }
  const byJti = decisionOfWrit(ledger, q);
  if (byJti) {
    const leaf = leafObject(byJti.leaf);
    const w = leaf.writ;
    if (leaf.type === 'decision' && ((isRecord(w) && w.jti === q) || leaf.reevaluates === q)) return { entry: byJti, leaf, lookedUpAs: 'jti', via: null };
  }
  throw new ExplainError('explain_not_found', `no decision and no writ ${q} in this ledger`);
}

async function load(deps: ExplainDeps, digest: string): Promise<{ bundle: ActiveBundle; owned: boolean } | { why: string }> {
  const active = deps.active?.();
  if (active && active.bundle.digest === digest) return { bundle: active, owned: false };
  if (!deps.bundles.bundle(digest)) return { why: `the recorded bundle ${digest} is not in this home's state: nothing is re-decided (the active bundle is never used instead)` };
  if (deps.trust === null) return { why: `the recorded bundle ${digest} is not the active one, and this server verifies only the active bundle: run \`writ explain\` on the home` };
  try {
    return { bundle: await loadRecordedBundle(deps.bundles, digest, deps.trust), owned: true };
  } catch (err) {
    return { why: `the recorded bundle ${digest} does not load: ${errorMessage(err)}` };
  }
}

function resultOf(v: unknown): RecordedResult {
  const r = isRecord(v) ? v : {};
  return { decision: String(r.decision ?? '?'), reasons: strings(r.reasons), policies: strings(r.policies), errors: strings(r.errors) };
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

export async function explain(deps: ExplainDeps, query: string): Promise<Explanation> {
  const { entry, leaf, lookedUpAs, via } = findDecision(deps.ledger, query);
  const request = isRecord(leaf.request) ? leaf.request : {};
  const policy = isRecord(leaf.policy) ? leaf.policy : null;
  const result = resultOf(leaf.result);
  const writ = isRecord(leaf.writ) ? { jti: String(leaf.writ.jti), exp: typeof leaf.writ.exp === 'number' ? leaf.writ.exp : null } : null;
  const ranCedar = isRecord(leaf.input) && policy !== null;
  const out: Explanation = {
    query,
    lookedUpAs,
    via,
    index: entry.index,
    decisionId: String(leaf.id),
    time: str(leaf.time),
    node: str(leaf.node),
    request: { principal: request.principal, action: request.action, resource: request.resource, args: request.args, parent: request.parent ?? null },
    evaluated: null,
    inputDigest: str(leaf.inputDigest),
    bundle: policy ? { domain: String(policy.domain), version: Number(policy.version), digest: String(policy.digest) } : null,
    result,
    writ,
    reevaluates: str(leaf.reevaluates),
    approval: str(leaf.approval),
    gate: ranCedar ? null : { reasons: result.reasons, message: result.errors.join('; ') },
    bundleLoaded: { ok: false, why: policy ? 'Cedar did not run: the decision was made before evaluation' : 'the deciding process had no bundle loaded' },
    determining: result.policies.map((id) => ({ id, effect: null, file: null, text: null })),
    permits: null,
    redecided: null,
  };
  if (!ranCedar || out.bundle === null) return out;
  let input: EvaluationRequest;
  try {
    input = recordedInput({ v: leaf.v, input: leaf.input });
  } catch (err) {
    out.bundleLoaded = { ok: false, why: `the recorded input does not read: ${errorMessage(err)}` };
    return out;
  }
  out.evaluated = input;
  const loaded = await load(deps, out.bundle.digest);
  if ('why' in loaded) {
    out.bundleLoaded = { ok: false, why: loaded.why };
    return out;
  }
  try {
    const { engine } = loaded.bundle;
    out.bundleLoaded = { ok: true };
    const byId = new Map(engine.policies.map((p) => [p.id, p]));
    out.determining = result.policies.map((id) => {
      const p = byId.get(id);
      return { id, effect: p?.json.effect ?? null, file: p?.file ?? null, text: p?.text ?? null };
    });
    if (result.reasons.includes('no_permit')) out.permits = permitChecks(engine.source, input);
    const e = engine.evaluate(input);
    // as replay: an allow that needs approval was recorded as approval_required until approved
    const r = e.requiresApproval && out.approval === null ? { ...e, decision: 'deny' as const, reasons: ['approval_required' as const] } : e;
    out.redecided = { decision: r.decision, reasons: r.reasons, policies: r.policies, errors: r.errors, same: r.decision === result.decision && sameSet(r.reasons, result.reasons) && sameSet(r.policies, result.policies) };
  } finally {
    if (loaded.owned) loaded.bundle.engine.dispose();
  }
  return out;
}

/**
 * Audit export, format `ocsf` (docs/audit-export.md): each ledger entry as one OCSF event.
 * Decisions and approvals are IAM "Authorize Session" (3003: privileges assigned to, or
 * refused, a principal); outcomes are Application "API Activity" (6003: the call that ran
 * under a writ); revocations, bundle activations and key changes are IAM "Entity Management"
 * (3004). Writ's own fields, above all the ledger `index` and `leafHash` that make a record
 * provable, are in `unmapped`; `raw_data` is the exact leaf text. Pure: no I/O, no clock.
 */
import type { LedgerEntry } from './ledger.ts';
import { leafHashBase64, parseLeaf } from './export.ts';

/** The OCSF schema version the events follow (metadata.version). */
export const OCSF_VERSION = '1.3.0';

export interface OcsfOptions {
  /** metadata.product.version: the exporting Writ's version */
  productVersion: string;
  /** metadata.log_name: the log's origin (`writ.local/<domain>/<node>`) */
  logName: string;
  /** the decision leaf at an index, so an outcome can name its principal, action and resource */
  decisionAt?: (index: number) => Record<string, unknown> | null;
}

export type OcsfEvent = Record<string, unknown>;

type Leaf = Record<string, unknown>;

const CATEGORY = { 0: 'Uncategorized', 3: 'Identity & Access Management', 6: 'Application Activity' } as const;
type CategoryUid = keyof typeof CATEGORY;

interface EventClass {
  uid: number;
  name: string;
  category: CategoryUid;
}
const AUTHORIZE_SESSION: EventClass = { uid: 3003, name: 'Authorize Session', category: 3 };
const ENTITY_MANAGEMENT: EventClass = { uid: 3004, name: 'Entity Management', category: 3 };
const API_ACTIVITY: EventClass = { uid: 6003, name: 'API Activity', category: 6 };
const BASE_EVENT: EventClass = { uid: 0, name: 'Base Event', category: 0 };

const SEVERITY = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High' } as const;
type SeverityId = keyof typeof SEVERITY;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Leaf | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Leaf) : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The type of a Cedar UID text (`Agent::"a1"` → `Agent`), for OCSF's `type` members. */
function uidType(uid: string | null): string | null {
  if (uid === null) return null;
  const i = uid.lastIndexOf('::"');
  return i > 0 ? uid.slice(0, i) : null;
}

/** A principal as an OCSF user: its UID text is both name and uid (what it is known by). */
function user(uid: string | null): Leaf {
  return { name: uid ?? 'unknown', uid: uid ?? 'unknown', ...(uidType(uid) !== null && { type: uidType(uid), type_id: 99 }) };
}

/** The parts every class shares (the OCSF base event) plus the class and activity. */
interface Classified {
  cls: EventClass;
  activityId: number;
  activityName: string;
  severityId: SeverityId;
  success: boolean;
  statusCode: string | null;
  statusDetail: string | null;
  message: string;
  correlationUid: string | null;
  /** the class's own attributes */
  body: Leaf;
  /** Writ's fields beyond the index and leaf hash */
  unmapped: Leaf;
}

function decision(l: Leaf): Classified {
  const request = obj(l.request) ?? {};
  const result = obj(l.result) ?? {};
  const policy = obj(l.policy);
  const writ = obj(l.writ);
  const allow = result.decision === 'allow';
  const verdict = allow ? 'allow' : 'deny';
  const reasons = strings(result.reasons);
  const policies = strings(result.policies);
  const principal = str(request.principal);
  const action = str(request.action);
  const resource = str(request.resource);
  const version = num(policy?.version);
  const exp = num(writ?.exp);
  const jti = str(writ?.jti);
  return {
    cls: AUTHORIZE_SESSION,
    activityId: 1,
    activityName: 'Assign Privileges',
    severityId: allow ? 1 : 2,
    success: allow,
    statusCode: reasons[0] ?? null,
    statusDetail: reasons.join(' ') || null,
    message: `${verdict} ${principal ?? '?'} ${action ?? '?'} ${resource ?? '?'}${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`,
    correlationUid: jti ?? str(l.reevaluates),
    body: {
      user: user(principal),
      privileges: action === null ? [] : [action],
      ...(jti !== null && { session: { uid: jti, ...(exp !== null && { expiration_time: exp * 1000 }) } }),
      actor: {
        app_name: 'writ',
        ...(str(l.node) !== null && { app_uid: str(l.node) }),
        authorizations: (policies.length > 0 ? policies : [null]).map((id) => ({
          decision: verdict,
          ...(id !== null && { policy: { uid: id, name: id, ...(version !== null && { version: String(version) }) } }),
        })),
      },
    },
    unmapped: {
      decisionId: str(l.id),
      resource,
      reasons,
      policies,
      errors: strings(result.errors),
      bundle: policy,
      inputDigest: str(l.inputDigest),
      parent: str(request.parent),
      ...(str(l.approval) !== null && { approval: str(l.approval) }),
      ...(str(l.reevaluates) !== null && { reevaluates: str(l.reevaluates) }),
    },
  };
}

function approval(l: Leaf): Classified {
  const status = str(l.status);
  const approved = status === 'approved';
  const principal = str(l.principal);
  const action = str(l.action);
  const by = str(l.by);
  return {
    cls: AUTHORIZE_SESSION,
    activityId: 1,
    activityName: 'Assign Privileges',
    severityId: approved ? 1 : 2,
    success: approved,
    statusCode: status,
    statusDetail: status,
    message: `approval ${str(l.id) ?? '?'} ${status ?? '?'} by ${by ?? '?'}: ${principal ?? '?'} ${action ?? '?'} ${str(l.resource) ?? '?'}`,
    correlationUid: str(l.id),
    body: { user: user(principal), privileges: action === null ? [] : [action], actor: { app_name: 'writ', user: { name: by ?? 'unknown' } } },
    unmapped: { approvalId: str(l.id), resource: str(l.resource), intent: str(l.intent), policyDigest: str(l.policyDigest), expires: str(l.expires) },
  };
}

function outcome(l: Leaf, o: OcsfOptions): Classified {
  const decisionIndex = num(l.decisionIndex);
  const d = decisionIndex === null ? null : o.decisionAt?.(decisionIndex) ?? null;
  const request = obj(d?.request) ?? {};
  const principal = str(request.principal);
  const action = str(request.action);
  const resource = str(request.resource);
  const status = str(l.status);
  const jti = str(l.jti);
  const ok = status === 'ok';
  const reason = str(l.reason);
  return {
    cls: API_ACTIVITY,
    activityId: 99,
    activityName: 'Execute',
    severityId: ok ? 1 : 2,
    success: ok,
    statusCode: status,
    statusDetail: reason ?? status,
    message: `outcome ${status ?? '?'}${reason !== null ? ` (${reason})` : ''} of writ ${jti ?? '?'}${action !== null ? `: ${principal ?? '?'} ${action} ${resource ?? '?'}` : ''}`,
    correlationUid: jti,
    body: {
      actor: { ...(principal !== null && { user: user(principal) }), ...(jti !== null && { session: { uid: jti } }), app_name: 'writ' },
      api: { operation: action ?? 'execute', service: { name: 'writ' } },
      ...(resource !== null && { resources: [{ uid: resource, name: resource, ...(uidType(resource) !== null && { type: uidType(resource) }) }] }),
      src_endpoint: { name: str(l.node) ?? 'unknown' },
      ...(num(l.durationMs) !== null && { duration: num(l.durationMs) }),
    },
    unmapped: {
      decisionIndex,
      exitCode: num(l.exitCode),
      signal: str(l.signal),
      isError: typeof l.isError === 'boolean' ? l.isError : null,
      resultDigest: str(l.resultDigest),
      ...(str(l.reportedBy) !== null && { reportedBy: str(l.reportedBy) }),
      ...(obj(l.endedBy) !== null && { endedBy: obj(l.endedBy) }),
    },
  };
}

/** Entity Management: something the governance itself changed (what may act, under which policy, with which keys). */
function managed(activityId: number, activityName: string, entity: Leaf, message: string, severityId: SeverityId, extra: { comment?: string | null; by?: string | null; correlationUid?: string | null; unmapped?: Leaf } = {}): Classified {
  return {
    cls: ENTITY_MANAGEMENT,
    activityId,
    activityName,
    severityId,
    success: true,
    statusCode: null,
    statusDetail: null,
    message,
    correlationUid: extra.correlationUid ?? null,
    body: { entity, ...(extra.comment != null && { comment: extra.comment }), actor: { app_name: extra.by != null ? `writ ${extra.by}` : 'writ' } },
    unmapped: extra.unmapped ?? {},
  };
}

function revocation(l: Leaf): Classified {
  const kind = str(l.kind);
  const value = str(l.value);
  const quarantine = kind === 'quarantine';
  return managed(quarantine ? 12 : 9, quarantine ? 'Suspend' : 'Disable', { uid: value ?? 'unknown', name: value ?? 'unknown', type: kind ?? 'unknown' }, `${quarantine ? 'quarantined' : `revoked ${kind ?? '?'}`} ${value ?? '?'}: ${str(l.reason) ?? ''}`, 3, {
    comment: str(l.reason),
    by: str(l.by),
    correlationUid: kind === 'writ' ? value : null,
  });
}

function bundleActivation(l: Leaf): Classified {
  const p = obj(l.policy) ?? {};
  const version = num(p.version);
  return managed(
    10,
    'Activate',
    { uid: str(p.digest) ?? 'unknown', name: str(p.domain) ?? 'unknown', type: 'policy_bundle', ...(version !== null && { version: String(version) }) },
    `activated policy bundle ${str(p.domain) ?? '?'} version ${version ?? '?'} (${str(p.digest) ?? '?'})`,
    1,
    { unmapped: { bundle: obj(l.policy), signers: strings(l.signers), expires: str(l.expires) } },
  );
}

function keyChange(l: Leaf): Classified {
  const role = str(l.role);
  const uid = str(l.kid) ?? str(l.origin) ?? 'unknown';
  return managed(1, 'Create', { uid, name: role === 'node' ? (str(l.node) ?? uid) : role === 'log' ? (str(l.origin) ?? uid) : uid, type: `${role ?? 'unknown'}_key` }, `trusted ${role ?? '?'} key ${uid}`, 1, {
    unmapped: { role, ...(str(l.verifierKey) !== null && { verifierKey: str(l.verifierKey) }), ...(num(l.threshold) !== null && { threshold: num(l.threshold) }) },
  });
}

function unknown(type: string): Classified {
  return { cls: BASE_EVENT, activityId: 99, activityName: 'Other', severityId: 1, success: true, statusCode: null, statusDetail: null, message: `ledger entry of type ${type}`, correlationUid: null, body: {}, unmapped: {} };
}

function classify(type: string, l: Leaf | null, o: OcsfOptions): Classified {
  if (l === null) return unknown(type);
  switch (type) {
    case 'decision':
      return decision(l);
    case 'approval':
      return approval(l);
    case 'outcome':
      return outcome(l, o);
    case 'revocation':
      return revocation(l);
    case 'bundle_activation':
      return bundleActivation(l);
    case 'key_change':
      return keyChange(l);
    default:
      return unknown(type);
  }
}

/** One ledger entry as one OCSF event (docs/audit-export.md#ocsf). */
export function toOcsf(e: LedgerEntry, o: OcsfOptions): OcsfEvent {
  const leaf = parseLeaf(e.leaf);
  const hash = leafHashBase64(e.leaf);
  const c = classify(e.type, leaf, o);
  const leafTime = str(leaf?.time);
  const parsed = leafTime === null ? NaN : Date.parse(leafTime);
  const time = Number.isFinite(parsed) ? parsed : 0;
  return {
    class_uid: c.cls.uid,
    class_name: c.cls.name,
    category_uid: c.cls.category,
    category_name: CATEGORY[c.cls.category],
    activity_id: c.activityId,
    activity_name: c.activityName,
    type_uid: c.cls.uid * 100 + c.activityId,
    type_name: `${c.cls.name}: ${c.activityName}`,
    time,
    timezone_offset: 0,
    severity_id: c.severityId,
    severity: SEVERITY[c.severityId],
    status_id: c.success ? 1 : 2,
    status: c.success ? 'Success' : 'Failure',
    ...(c.statusCode !== null && { status_code: c.statusCode }),
    ...(c.statusDetail !== null && { status_detail: c.statusDetail }),
    message: c.message,
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'Writ', vendor_name: 'Writ', version: o.productVersion },
      uid: hash,
      ...(c.correlationUid !== null && { correlation_uid: c.correlationUid }),
      event_code: e.type,
      log_name: o.logName,
      log_provider: 'writ',
      sequence: e.index,
      ...(leafTime !== null && { original_time: leafTime }),
    },
    ...c.body,
    raw_data: new TextDecoder().decode(e.leaf),
    unmapped: { index: e.index, leafHash: hash, type: e.type, v: num(leaf?.v), ...c.unmapped },
  };
}

/** The event as one line of JSON Lines. */
export function ocsfLine(e: LedgerEntry, o: OcsfOptions): string {
  return JSON.stringify(toOcsf(e, o)) + '\n';
}

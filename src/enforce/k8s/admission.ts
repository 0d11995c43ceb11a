/**
 * Kubernetes admission as a Writ decision, protocol-neutral (no HTTP here; the server is
 * src/server/admission-app.ts): an `AdmissionReview` (admission.k8s.io/v1) is parsed
 * strictly and mapped to an AuthorizeRequest; a Decision is mapped back to the
 * `AdmissionReview` response the API server expects. docs/kubernetes.md has the tables.
 *
 *   principal  K8sUser::"<userInfo.username>", supplied as the request's principal entity
 *              (AuthorizeRequest.principalEntity): parents K8sGroup::"<group>" for each of
 *              userInfo.groups, attributes uid and extra (a record of sets of strings)
 *   action     Action::"k8s:<operation>"                  (CREATE, UPDATE, DELETE, CONNECT)
 *   resource   K8sObject::"<group>/<kind>/<namespace>/<name>"   (request.kind; core group "")
 *   args       the projection (projection.ts): what the writ's intent binds
 *   context    k8s: uid, operation, namespace, name, kind, resource, subResource, dryRun,
 *              user { username, uid, groups }
 *
 * So `principal in K8sGroup::"system:masters"` holds for a user the API server says is in that
 * group (and for anything the bundle places above the group); `context.k8s.user.groups` still
 * has them as a set. A bundle that defines the K8sUser itself gets principal_entity_conflict.
 */
import type { AuthorizeRequest, Decision } from '../../node/node.ts';
import { isRecord } from '../../util.ts';
import { WritError } from '../../writ/errors.ts';
import { projectReview, type K8sProjection } from './projection.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
export type Operation = (typeof OPERATIONS)[number];
/** the object annotation a mutating answer adds: the writ, for an in-cluster executor to verify */
export const WRIT_ANNOTATION = 'writ.local/writ';
export const MAX_GROUPS = 256;
/** Kubernetes names are at most 253 characters; groups and usernames are not bounded by Kubernetes, so by us */
const MAX_NAME = 253;
const MAX_IDENTITY = 1024;

/** A review that is not a well-formed AdmissionReview v1. Code: request_invalid. */
export class AdmissionReviewError extends WritError {
  constructor(message: string) {
    super('request_invalid', message);
    this.name = 'AdmissionReviewError';
  }
}

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** The parts of `request` a decision uses, validated. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource: string;
  name: string;
  namespace: string;
  operation: Operation;
  userInfo: { username: string; uid: string; groups: string[]; extra: Record<string, string[]> };
  object: unknown;
  oldObject: unknown;
  dryRun: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patch?: string;
  patchType?: 'JSONPatch';
  auditAnnotations?: Record<string, string>;
  warnings?: string[];
}
export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

const bad = (message: string) => new AdmissionReviewError(message);

function field(o: Record<string, unknown>, key: string, at: string, o2: { optional?: boolean; max?: number; noSlash?: boolean } = {}): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (o2.optional) return '';
    throw bad(`${at}.${key}: missing`);
  }
  if (typeof v !== 'string') throw bad(`${at}.${key}: expected a string`);
  if (v.length > (o2.max ?? MAX_NAME)) throw bad(`${at}.${key}: longer than ${o2.max ?? MAX_NAME} characters`);
  // the parts of a K8sObject id are joined with "/": one holding it would make the id ambiguous
  if (o2.noSlash && v.includes('/')) throw bad(`${at}.${key}: contains "/"`);
  return v;
}

function record(v: unknown, at: string): Record<string, unknown> {
  if (!isRecord(v)) throw bad(`${at}: ${v === undefined ? 'missing' : 'expected an object'}`);
  return v;
}

function gvk(v: unknown, at: string): GroupVersionKind {
  const o = record(v, at);
  const kind = field(o, 'kind', at, { noSlash: true });
  if (kind === '') throw bad(`${at}.kind: empty`);
  return { group: field(o, 'group', at, { noSlash: true }), version: field(o, 'version', at), kind };
}

function gvr(v: unknown, at: string): GroupVersionResource {
  const o = record(v, at);
  return { group: field(o, 'group', at), version: field(o, 'version', at), resource: field(o, 'resource', at) };
}

/** `userInfo.extra` (map[string][]string): its shape is checked here, its size by the node (principal_entity_invalid). */
function extraOf(v: unknown): Record<string, string[]> {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw bad('request.userInfo.extra: expected a map of lists of strings');
  const out: Record<string, string[]> = {};
  for (const [k, list] of Object.entries(v)) {
    if (k === '__proto__') throw bad('request.userInfo.extra.__proto__: refused');
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw bad(`request.userInfo.extra[${JSON.stringify(k).slice(0, 80)}]: expected a list of strings`);
    out[k] = list;
  }
  return out;
}

export const groupOf = (group: string): string => `K8sGroup::${JSON.stringify(group)}`;

/** The uid of a review, if one can be read: to echo it even in the answer to a malformed review. */
export function reviewUid(body: unknown): string {
  if (!isRecord(body) || !isRecord(body.request)) return '';
  const uid = body.request.uid;
  return typeof uid === 'string' && uid.length <= MAX_NAME ? uid : '';
}

/** Parses an AdmissionReview v1 request body (already JSON-decoded), strictly. */
export function parseReview(body: unknown): AdmissionRequest {
  const review = record(body, 'the review');
  if (review.apiVersion !== ADMISSION_API_VERSION) throw bad(`apiVersion: expected ${ADMISSION_API_VERSION}, got ${JSON.stringify(review.apiVersion)?.slice(0, 64)}`);
  if (review.kind !== 'AdmissionReview') throw bad(`kind: expected AdmissionReview, got ${JSON.stringify(review.kind)?.slice(0, 64)}`);
  const r = record(review.request, 'request');
  const uid = field(r, 'uid', 'request');
  if (uid === '') throw bad('request.uid: empty');
  const operation = r.operation;
  if (typeof operation !== 'string' || !(OPERATIONS as readonly string[]).includes(operation)) throw bad(`request.operation: expected one of ${OPERATIONS.join(', ')}`);
  const u = record(r.userInfo, 'request.userInfo');
  const username = field(u, 'username', 'request.userInfo', { max: MAX_IDENTITY });
  if (username === '') throw bad('request.userInfo.username: empty');
  const groupsRaw = u.groups ?? [];
  if (!Array.isArray(groupsRaw)) throw bad('request.userInfo.groups: expected a list');
  if (groupsRaw.length > MAX_GROUPS) throw bad(`request.userInfo.groups: more than ${MAX_GROUPS}`);
  const groups = groupsRaw.map((g, i) => {
    if (typeof g !== 'string' || g.length > MAX_IDENTITY) throw bad(`request.userInfo.groups[${i}]: expected a string of at most ${MAX_IDENTITY} characters`);
    return g;
  });
  const extra = extraOf(u.extra);
  if (r.dryRun !== undefined && r.dryRun !== null && typeof r.dryRun !== 'boolean') throw bad('request.dryRun: expected a boolean');
  for (const k of ['object', 'oldObject', 'options'] as const) {
    if (r[k] !== undefined && r[k] !== null && !isRecord(r[k])) throw bad(`request.${k}: expected an object or null`);
  }
  return {
    uid,
    kind: gvk(r.kind, 'request.kind'),
    resource: gvr(r.resource, 'request.resource'),
    subResource: field(r, 'subResource', 'request', { optional: true }),
    name: field(r, 'name', 'request', { optional: true, noSlash: true }),
    namespace: field(r, 'namespace', 'request', { optional: true, noSlash: true }),
    operation: operation as Operation,
    userInfo: { username, uid: field(u, 'uid', 'request.userInfo', { optional: true, max: MAX_IDENTITY }), groups: [...new Set(groups)], extra },
    object: r.object ?? null,
    oldObject: r.oldObject ?? null,
    dryRun: r.dryRun === true,
  };
}

/** The Cedar entity id of the object: `<group>/<kind>/<namespace>/<name>`. */
export function objectId(r: Pick<AdmissionRequest, 'kind' | 'namespace' | 'name'>): string {
  return `${r.kind.group}/${r.kind.kind}/${r.namespace}/${r.name}`;
}

export const principalOf = (username: string): string => `K8sUser::${JSON.stringify(username)}`;
export const actionOf = (operation: string): string => `Action::${JSON.stringify(`k8s:${operation}`)}`;
export const resourceOf = (id: string): string => `K8sObject::${JSON.stringify(id)}`;

export interface Mapped {
  request: AuthorizeRequest;
  projection: K8sProjection;
}

/** The decision request for a parsed review; throws a ProjectionError for a malformed or oversized object. */
export function toAuthorizeRequest(r: AdmissionRequest, o: { ttlSeconds?: number } = {}): Mapped {
  const projection = projectReview(r);
  const context = {
    k8s: {
      uid: r.uid,
      operation: r.operation,
      namespace: r.namespace,
      name: r.name,
      kind: { ...r.kind },
      resource: { ...r.resource },
      subResource: r.subResource,
      dryRun: r.dryRun,
      user: { username: r.userInfo.username, uid: r.userInfo.uid, groups: r.userInfo.groups },
    },
  };
  const request: AuthorizeRequest = {
    principal: principalOf(r.userInfo.username),
    action: actionOf(r.operation),
    resource: resourceOf(objectId(r)),
    args: projection,
    context,
    principalEntity: { attrs: { uid: r.userInfo.uid, extra: r.userInfo.extra }, parents: r.userInfo.groups.map(groupOf) },
    ...(o.ttlSeconds !== undefined && { ttlSeconds: o.ttlSeconds }),
  };
  return { request, projection };
}

/**
 * What a review that could not be parsed is recorded as: whatever identity could be read
 * (strings only, bounded), so the denial is attributed as far as it can be.
 */
export function bestEffortRequest(body: unknown): AuthorizeRequest {
  const r = isRecord(body) && isRecord(body.request) ? body.request : {};
  const s = (v: unknown) => (typeof v === 'string' ? v.slice(0, MAX_NAME) : '');
  const u = isRecord(r.userInfo) ? r.userInfo : {};
  const k = isRecord(r.kind) ? r.kind : {};
  return {
    principal: principalOf(s(u.username)),
    action: actionOf(s(r.operation)),
    resource: resourceOf(`${s(k.group)}/${s(k.kind)}/${s(r.namespace)}/${s(r.name)}`),
    args: {},
  };
}

/** The HTTP-like status code an answer carries: 403 for a policy denial, others by cause. */
export function statusCodeOf(d: Pick<Decision, 'decision' | 'reasons'>): number {
  if (d.decision === 'allow') return 200;
  if (d.reasons.includes('ledger_append_failed')) return 503;
  if (d.reasons.includes('internal_error')) return 500;
  if (d.reasons.includes('request_invalid')) return 400;
  return 403;
}

/** A JSON Pointer token (RFC 6901): `~` and `/` escaped. */
const pointerToken = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The JSONPatch that puts the writ into the object's annotations: `add` on the key when
 * the object has annotations (replacing an older writ), else `add` of the whole map.
 */
export function writAnnotationPatch(object: unknown, writ: string): object[] {
  const meta = isRecord(object) ? object.metadata : undefined;
  if (!isRecord(meta)) return [{ op: 'add', path: '/metadata', value: { annotations: { [WRIT_ANNOTATION]: writ } } }];
  if (isRecord(meta.annotations)) return [{ op: 'add', path: `/metadata/annotations/${pointerToken(WRIT_ANNOTATION)}`, value: writ }];
  return [{ op: 'add', path: '/metadata/annotations', value: { [WRIT_ANNOTATION]: writ } }];
}

/** The audit annotations of every answer (the API server prefixes each key with the webhook's name). */
export function auditAnnotationsOf(d: Decision, dryRun: boolean): Record<string, string> {
  return {
    decision: d.decision,
    'decision-id': d.decisionId,
    ...(d.ledgerIndex !== null && { 'ledger-index': String(d.ledgerIndex) }),
    reasons: d.reasons.join(','),
    ...(d.claims && { 'writ-jti': d.claims.jti }),
    ...(dryRun && { 'dry-run': 'true' }),
  };
}

/**
 * The answer to a review. Allow: `allowed: true`, plus the writ annotation patch when
 * `patchObject` is given (mutating mode, CREATE/UPDATE). Deny: `allowed: false` with
 * `status.code` (statusCodeOf) and a message naming the reasons and the decision.
 */
export function toReviewResponse(uid: string, d: Decision, o: { dryRun?: boolean; patchObject?: unknown } = {}): AdmissionReviewResponse {
  const response: AdmissionResponse = { uid, allowed: d.decision === 'allow', auditAnnotations: auditAnnotationsOf(d, o.dryRun === true) };
  if (d.decision === 'allow') {
    if (o.patchObject !== undefined && d.writ !== undefined) {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(writAnnotationPatch(o.patchObject, d.writ))).toString('base64');
    }
  } else {
    const code = statusCodeOf(d);
    const reason = code === 403 ? 'Forbidden' : code === 400 ? 'BadRequest' : code === 503 ? 'ServiceUnavailable' : 'InternalError';
    response.status = { code, reason, message: `writ: denied (${d.reasons.join(', ')}): ${d.message} [decision ${d.decisionId}]` };
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

/** An answer with no decision behind it (the node could not be asked at all): allowed false, never true. */
export function failedResponse(uid: string, code: number, message: string): AdmissionReviewResponse {
  const reason = code === 413 ? 'RequestEntityTooLarge' : code === 400 ? 'BadRequest' : 'InternalError';
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: { uid, allowed: false, status: { code, reason, message: `writ: ${message}` } } };
}

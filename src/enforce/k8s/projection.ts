/**
 * What a Cedar policy sees of a Kubernetes object (docs/kubernetes.md, "The projection"):
 * not the object itself — unbounded, and Cedar cannot quantify over its lists (there is no
 * "every container" in Cedar) — but a bounded record of the facts admission policies are
 * about, with the aggregates already computed: whether every image is pinned by digest,
 * whether any container is privileged, which host paths are mounted, host namespaces, the
 * service account, whether everything runs as non-root.
 *
 * Strict: a field of the wrong type (`privileged: "true"`), too many containers or
 * volumes, or an over-long string is a ProjectionError (recorded as a request_invalid
 * denial), never coerced and never silently dropped — a fact a policy would forbid on must
 * not disappear because it was spelled unusually.
 *
 * The projection is the decision's `args`: the writ's intent digest binds it, so an
 * in-cluster executor re-projects the object it received and verifies the writ against it.
 */
import { WritError } from '../../writ/errors.ts';
import { isRecord } from '../../util.ts';

/** containers of one pod spec, init and ephemeral ones included */
export const MAX_CONTAINERS = 64;
export const MAX_VOLUMES = 256;
/** an image reference, a host path, a name: longer ones are refused, not truncated */
export const MAX_STRING = 1024;

/** A digest-pinned image reference ends in `@sha256:` and 64 lowercase hex digits. */
const DIGEST = /@(sha256:[0-9a-f]{64})$/;

export interface ContainerFacts {
  name: string;
  image: string;
  /** `sha256:<64 hex>` when the reference is pinned by digest, else "" */
  digest: string;
  pinned: boolean;
  /** `securityContext.privileged` is true */
  privileged: boolean;
  /** effective: the container's `securityContext.runAsNonRoot`, else the pod's, else false */
  runAsNonRoot: boolean;
  /** `containers`, `initContainers` or `ephemeralContainers` */
  role: 'container' | 'init' | 'ephemeral';
}

export interface PodFacts {
  /** where the pod spec is in the object: `spec`, `spec.template.spec`, `template.spec` or `spec.jobTemplate.spec.template.spec` */
  path: string;
  /** as written ("" when unset: the API server then uses `default`) */
  serviceAccountName: string;
  hostNetwork: boolean;
  hostPID: boolean;
  hostIPC: boolean;
  /** some container is privileged */
  privileged: boolean;
  /** every image is pinned by digest (true for a pod without containers) */
  allImagesPinned: boolean;
  /** every container runs as non-root (effective value, see ContainerFacts) */
  runAsNonRoot: boolean;
  /** every image reference (a set to Cedar) */
  images: string[];
  /** the image references not pinned by digest */
  unpinnedImages: string[];
  /** `hostPath.path` of every hostPath volume */
  hostPaths: string[];
  containers: ContainerFacts[];
}

export interface K8sProjection {
  /** the GroupVersionKind of the request (`request.kind`) */
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  /** which object was projected: `object` (CREATE, UPDATE, CONNECT), `oldObject` (DELETE), or none */
  source: 'object' | 'oldObject' | 'none';
  /** present for Pods and for the objects that carry a pod template */
  pod?: PodFacts;
}

/** The projection could not be made: a malformed or oversized object. Code: request_invalid. */
export class ProjectionError extends WritError {
  constructor(message: string) {
    super('request_invalid', message);
    this.name = 'ProjectionError';
  }
}

/** Where each kind keeps its pod spec, by `<group>/<kind>` (core group ""). */
const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  '/Pod': ['spec'],
  '/PodTemplate': ['template', 'spec'],
  '/ReplicationController': ['spec', 'template', 'spec'],
  'apps/Deployment': ['spec', 'template', 'spec'],
  'apps/StatefulSet': ['spec', 'template', 'spec'],
  'apps/DaemonSet': ['spec', 'template', 'spec'],
  'apps/ReplicaSet': ['spec', 'template', 'spec'],
  'batch/Job': ['spec', 'template', 'spec'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** The kinds whose objects get `pod` facts. */
export const POD_BEARING_KINDS: readonly string[] = Object.keys(POD_SPEC_PATHS);

function str(v: unknown, at: string, max = MAX_STRING): string {
  if (typeof v !== 'string') throw new ProjectionError(`${at}: expected a string`);
  if (v.length > max) throw new ProjectionError(`${at}: longer than ${max} characters`);
  return v;
}

function optStr(v: unknown, at: string): string {
  return v === undefined || v === null ? '' : str(v, at);
}

function optBool(v: unknown, at: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ProjectionError(`${at}: expected a boolean`);
  return v;
}

function optRecord(v: unknown, at: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw new ProjectionError(`${at}: expected an object`);
  return v;
}

function optList(v: unknown, at: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ProjectionError(`${at}: expected a list`);
  return v;
}

function container(c: unknown, at: string, role: ContainerFacts['role'], podNonRoot: boolean | undefined): ContainerFacts {
  if (!isRecord(c)) throw new ProjectionError(`${at}: expected an object`);
  // a container without an image is invalid to the API server too; here it must not pass as pinned
  const image = str(c.image, `${at}.image`);
  if (image === '') throw new ProjectionError(`${at}.image: empty`);
  const sc = optRecord(c.securityContext, `${at}.securityContext`);
  const digest = DIGEST.exec(image)?.[1] ?? '';
  return {
    name: optStr(c.name, `${at}.name`),
    image,
    digest,
    pinned: digest !== '',
    privileged: optBool(sc.privileged, `${at}.securityContext.privileged`) ?? false,
    runAsNonRoot: optBool(sc.runAsNonRoot, `${at}.securityContext.runAsNonRoot`) ?? podNonRoot ?? false,
    role,
  };
}

/** The facts of one pod spec (`at` names it in error messages). */
export function podFacts(spec: unknown, at: string): PodFacts {
  if (!isRecord(spec)) throw new ProjectionError(`${at}: expected an object`);
  const podSc = optRecord(spec.securityContext, `${at}.securityContext`);
  const podNonRoot = optBool(podSc.runAsNonRoot, `${at}.securityContext.runAsNonRoot`);
  const lists = [
    ['containers', 'container'],
    ['initContainers', 'init'],
    ['ephemeralContainers', 'ephemeral'],
  ] as const;
  const containers: ContainerFacts[] = [];
  for (const [field, role] of lists) {
    const list = optList(spec[field], `${at}.${field}`);
    if (containers.length + list.length > MAX_CONTAINERS) throw new ProjectionError(`${at}: more than ${MAX_CONTAINERS} containers`);
    list.forEach((c, i) => containers.push(container(c, `${at}.${field}[${i}]`, role, podNonRoot)));
  }
  const volumes = optList(spec.volumes, `${at}.volumes`);
  if (volumes.length > MAX_VOLUMES) throw new ProjectionError(`${at}: more than ${MAX_VOLUMES} volumes`);
  const hostPaths: string[] = [];
  volumes.forEach((v, i) => {
    if (!isRecord(v)) throw new ProjectionError(`${at}.volumes[${i}]: expected an object`);
    if (v.hostPath === undefined || v.hostPath === null) return;
    const hp = optRecord(v.hostPath, `${at}.volumes[${i}].hostPath`);
    hostPaths.push(str(hp.path, `${at}.volumes[${i}].hostPath.path`));
  });
  const images = containers.map((c) => c.image);
  return {
    path: at,
    serviceAccountName: optStr(spec.serviceAccountName, `${at}.serviceAccountName`),
    hostNetwork: optBool(spec.hostNetwork, `${at}.hostNetwork`) ?? false,
    hostPID: optBool(spec.hostPID, `${at}.hostPID`) ?? false,
    hostIPC: optBool(spec.hostIPC, `${at}.hostIPC`) ?? false,
    privileged: containers.some((c) => c.privileged),
    allImagesPinned: containers.every((c) => c.pinned),
    runAsNonRoot: containers.every((c) => c.runAsNonRoot),
    images: [...new Set(images)],
    unpinnedImages: [...new Set(containers.filter((c) => !c.pinned).map((c) => c.image))],
    hostPaths: [...new Set(hostPaths)],
    containers,
  };
}

export interface ProjectionInput {
  kind: { group: string; version: string; kind: string };
  namespace: string;
  name: string;
  operation: string;
  object: unknown;
  oldObject: unknown;
}

/**
 * The projection of a review's object: `object` for CREATE, UPDATE and CONNECT, `oldObject`
 * for DELETE (what is about to go: the API server sends no `object` then). The kind is the
 * request's (`request.kind`), which the API server has resolved; a Pod-bearing kind whose
 * object lacks its pod spec is malformed, not "no pod".
 */
export function projectReview(r: ProjectionInput): K8sProjection {
  const useOld = r.operation === 'DELETE';
  const obj = useOld ? r.oldObject : r.object;
  const base = { group: r.kind.group, version: r.kind.version, kind: r.kind.kind, namespace: r.namespace, name: r.name };
  if (obj === undefined || obj === null) return { ...base, source: 'none' };
  if (!isRecord(obj)) throw new ProjectionError(`request.${useOld ? 'oldObject' : 'object'}: expected an object`);
  const source = useOld ? 'oldObject' : 'object';
  const path = POD_SPEC_PATHS[`${r.kind.group}/${r.kind.kind}`];
  if (path === undefined) return { ...base, source };
  let spec: unknown = obj;
  for (const step of path) spec = isRecord(spec) ? spec[step] : undefined;
  return { ...base, source, pod: podFacts(spec, `${source}.${path.join('.')}`) };
}

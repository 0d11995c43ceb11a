/** The shapes of the decision path: a node's identity and limits, a request, a decision. */
import type { CryptoKey, JSONWebKeySet } from 'jose';
import type { PrincipalEntityRequest } from '../policy/principal-entity.ts';
import type { ReasonCode } from '../reasons.ts';
import type { WritClaims, WritIdentityToken } from '../writ/claims.ts';
import type { EvaluationRequest } from '../policy/engine.ts';
import type { PolicyRef } from './active-policy.ts';
import { DEFAULT_APPROVAL_TTL_MS } from './approval.ts';

export interface NodeIdentity {
  nodeId: string;
  domain: string;
  kid: string;
  privateKey: CryptoKey;
  /** public keys of every certified, trusted node (including this one) */
  verifierKeys: JSONWebKeySet;
  /** SHA-256 of the running node binary, reported as attestation */
  binaryDigest?: string;
}

export interface NodeLimits {
  writLifetimeSeconds: number;
  maxWritLifetimeSeconds: number;
  clockSkewSeconds: number;
  maxLineageDepth: number;
  /** how long a request waits for a bundle at least `minVersion` before denying */
  minVersionWaitMs: number;
  /** how long an approval request stays open */
  approvalTtlMs: number;
  /** the cap on a writ's `cons.maxRunSeconds` (a policy's @maxRunSeconds above it is lowered to it) */
  maxRunSeconds: number;
  /** how long a running execution goes on after this node lost freshness (a fleet node's beacon expired) before it is terminated */
  freshnessGraceMs: number;
}

export const DEFAULT_LIMITS: NodeLimits = {
  writLifetimeSeconds: 60,
  maxWritLifetimeSeconds: 300,
  clockSkewSeconds: 5,
  maxLineageDepth: 16,
  minVersionWaitMs: 500,
  approvalTtlMs: DEFAULT_APPROVAL_TTL_MS,
  maxRunSeconds: 86_400,
  // the authority's default beacon TTL: a node that lost its beacon has been stale about this long already
  freshnessGraceMs: 5000,
};

export interface AuthorizeRequest {
  principal: string;
  action: string;
  resource: string;
  args?: unknown;
  context?: Record<string, unknown>;
  /** parent writ (compact JWS) this request is made on behalf of */
  parent?: string;
  /** who will verify the writ; default: the resource */
  audience?: string;
  ttlSeconds?: number;
  minVersion?: number;
  /** facts measured by the enforcement point (e.g. the binary about to run) */
  attestation?: { binaryDigest?: string };
  /** an approval id (from an earlier `approval_required` decision) that was approved */
  approval?: string;
  /**
   * The principal's attributes and parents, for an **in-process enforcement point** only (the
   * HTTP gate's verified JWT claims, Kubernetes admission's groups): never taken from an HTTP
   * API caller (the /v1/authorize schema refuses it). Checked and bounded
   * (`principal_entity_invalid`), refused when the bundle defines the principal
   * (`principal_entity_conflict`), recorded in the leaf's `input.principalEntity` and replayed.
   */
  principalEntity?: PrincipalEntityRequest;
  /**
   * The trace span that decides this request (W3C hex ids), set by the server from the
   * request's `traceparent` when tracing is on (docs/telemetry.md): never taken from an HTTP
   * API caller's body (the /v1/authorize schema refuses it). Recorded in the leaf's `trace`.
   */
  trace?: TraceRef;
  /**
   * The verified bearer JWT that named the principal (its iss and sub), from an **in-process
   * enforcement point** that verified it (the HTTP gate, `writ mcp --listen`): the writ carries
   * it as `idt` (docs/writ.md). Never taken from an HTTP API caller's body (the /v1/authorize
   * schema refuses it); a malformed one is request_invalid.
   */
  identityToken?: WritIdentityToken;
}

/** A span's W3C trace context as data: 32 and 16 lowercase hex digits. */
export interface TraceRef {
  traceId: string;
  spanId: string;
}

export interface Decision {
  decision: 'allow' | 'deny';
  decisionId: string;
  reasons: ReasonCode[];
  policies: string[];
  errors: string[];
  message: string;
  policy: PolicyRef | null;
  ledgerIndex: number | null;
  writ?: string;
  claims?: WritClaims;
  /** with `approval_required`: the approval request to approve (`writ approve <id>`) */
  approvalId?: string;
  /** the canonical input Cedar evaluated, as recorded (absent for gate denials); in process only, never serialized */
  input?: EvaluationRequest;
  /** the approval this allow used, if any */
  approval?: string | null;
}

export type DecisionObserver = (d: Decision, seconds: number) => void;

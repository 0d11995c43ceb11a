/** JSON Schemas of the HTTP API bodies; they also produce the served OpenAPI document. */
const uid = { type: 'string', minLength: 1, maxLength: 1024, description: 'Cedar entity UID, e.g. Agent::"a1"' } as const;
const writ = { type: 'string', minLength: 1, maxLength: 16384, description: 'compact JWS writ' } as const;
const error = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

export const authorizeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['principal', 'action', 'resource'],
  properties: {
    principal: uid,
    action: uid,
    resource: uid,
    args: { type: 'object', description: 'the exact arguments of the call; bound into the writ by the intent digest' },
    context: { type: 'object', description: 'extra Cedar context (args, now, lineage, attestation are reserved for the node)' },
    parent: writ,
    audience: { type: 'string', minLength: 1, maxLength: 1024 },
    ttlSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
    minVersion: { type: 'integer', minimum: 1 },
    approval: { type: 'string', minLength: 1, maxLength: 128, description: 'the id of an approved approval request (the decisionId of an earlier approval_required denial)' },
    attestation: {
      type: 'object',
      additionalProperties: false,
      properties: { binaryDigest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } },
    },
  },
} as const;

const decisionFields = {
  decision: { type: 'string', enum: ['allow', 'deny'] },
  decisionId: { type: 'string' },
  reasons: { type: 'array', items: { type: 'string' } },
  policies: { type: 'array', items: { type: 'string' } },
  errors: { type: 'array', items: { type: 'string' } },
  message: { type: 'string' },
  ledgerIndex: { type: ['integer', 'null'] },
  evaluated: {
    type: ['object', 'null'],
    description: 'the principal, action and resource Cedar evaluated (normalized UIDs); null when the request was refused before evaluation',
    properties: { principal: { type: 'string' }, action: { type: 'string' }, resource: { type: 'string' } },
  },
  writ: { type: 'string' },
  claims: { type: 'object', additionalProperties: true },
} as const;

export const authorizeResponses = {
  200: { description: 'allow: the writ', type: 'object', properties: decisionFields },
  403: { description: 'deny, with reason codes', type: 'object', properties: decisionFields },
  401: { description: 'deny: no valid caller token (caller_unauthenticated), recorded', type: 'object', properties: decisionFields },
  400: { description: 'malformed request', ...error },
  503: { description: 'deny: evidence could not be recorded', type: 'object', properties: decisionFields },
} as const;

export const verifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['writ', 'audience'],
  properties: {
    writ,
    args: { type: 'object', description: 'the arguments about to be used; default {}' },
    audience: { type: 'string', minLength: 1, maxLength: 1024, description: "the calling enforcement point's audience (the writ's aud must equal it)" },
    consume: { type: 'boolean', default: true, description: 'mark the jti used (default true: single use)' },
    expect: {
      type: 'object',
      additionalProperties: false,
      properties: { action: uid, resource: uid },
    },
  },
} as const;

export const outcomeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['writ', 'status', 'durationMs'],
  properties: {
    writ: { ...writ, description: 'the writ the execution ran under (proves the caller held it)' },
    outcomeToken: { type: 'string', minLength: 1, maxLength: 128, description: 'returned by POST /v1/verify (consume: true) to the enforcement point that used the writ; omitted by an executor that verified the writ itself (its caller needs --audiences covering the writ\'s audience)' },
    status: { type: 'string', enum: ['ok', 'failed', 'terminated', 'not_started'] },
    exitCode: { type: ['integer', 'null'] },
    signal: { type: ['string', 'null'], maxLength: 32 },
    durationMs: { type: 'number', minimum: 0 },
    reason: { type: ['string', 'null'], maxLength: 128 },
    isError: { type: 'boolean' },
    resultDigest: { type: ['string', 'null'], maxLength: 128 },
  },
} as const;

export const revokeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: {
    kind: { type: 'string', enum: ['writ', 'principal', 'node', 'bundle', 'quarantine'], default: 'writ' },
    value: { type: 'string', minLength: 1, maxLength: 1024 },
    reason: { type: 'string', maxLength: 1024, default: 'revoked by operator' },
  },
} as const;

export const errorResponse = error;

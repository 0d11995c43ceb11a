/**
 * `writ/http-guard`: the upstream's own check of the writ a gateway passed on (issue 12). The
 * gateway's forward-auth call got the writ for one exact request (writ/http-request.ts); the
 * upstream verifies it against the request it actually received — method, path, query, body
 * digest, audience — and consumes it, before its handler runs. A request that went around the
 * gateway has no valid writ and is refused: that is what makes the gateway bypass-proof.
 *
 * Framework-neutral core: `guardRequest` takes the request facts and the header map and
 * resolves to the verified claims or throws a WritVerificationError. Adapters: node:http and
 * connect/Express (http-guard-node.ts), Fastify (enforce/http-guard-fastify.ts).
 *
 * The body (docs/http-gateway.md, "The upstream: writ/http-guard"): nginx auth_request never
 * forwards the body, so a writ obtained through it is bound to `bodyDigest: null`. Such a writ
 * authorizes a request *without* a body only, unless the guard is configured `bindBody: false`:
 * otherwise anyone holding a writ for `POST /orders` with no body seen could attach any body.
 *
 * Standalone like the rest of writ/: jose and WebCrypto, no Node module.
 */
import type { JSONWebKeySet } from 'jose';
import type { WritClaims } from './claims.ts';
import { bodyDigest, httpAction, httpArgs, WRIT_HEADER, type HttpArgs } from './http-request.ts';
import { WritVerificationError } from './reasons.ts';
import { verifyWrit, type ConsumeJti, type VerifyWritOptions } from './verify.ts';

export { WRIT_HEADER } from './http-request.ts';
export { WritVerificationError } from './reasons.ts';
export { RevocationListHolder, RevocationListPoller } from './revocation-poller.ts';
export type { WritClaims } from './claims.ts';

/** What the upstream received. Path and query exactly as on the wire (parseRequestTarget), not decoded. */
export interface HttpGuardRequest {
  method: string;
  /** the request path without the query, as received; "" reads as "/" */
  path: string;
  /** the raw query without "?", "" when there is none */
  query: string;
  /** the exact body bytes; null or empty: no body */
  body: Uint8Array | null;
  /** the request headers, names in any case; a repeated header as an array (node's headersDistinct) */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** Pinned keys, or a function that returns the current ones (e.g. a cached JWKS fetch). */
export type KeySource = JSONWebKeySet | (() => JSONWebKeySet | Promise<JSONWebKeySet>);

export interface HttpGuardOptions extends Pick<VerifyWritOptions, 'isRevoked' | 'stale' | 'acceptDomain' | 'clockToleranceSeconds' | 'maxLifetimeSeconds' | 'revocationList'> {
  /** the node's (or fleet's) writ keys: `GET /.well-known/jwks.json` */
  keys: KeySource;
  /** this upstream's service name: the audience the forward-auth route table gives it */
  audience: string;
  /**
   * single-use store; default one in memory for the whole process (boundedJtiStore): single
   * use within this process. Several replicas of one service need a shared store.
   */
  consume?: ConsumeJti;
  /** when given, the writ's resource (the route entity) must be exactly this */
  resource?: string | ((r: HttpGuardRequest) => string | undefined);
  /**
   * default true: a request with a non-empty body needs a writ bound to that body's digest.
   * false: a writ bound to `bodyDigest: null` (nginx auth_request) also authorizes a request
   * with a body — the body is then not governed; only for routes whose body carries no authority.
   */
  bindBody?: boolean;
  /** current time (default: now) */
  now?: () => Date;
}

export interface GuardedRequest {
  claims: WritClaims;
  kid: string;
  /** the writ's compact JWS, as received (e.g. to report the outcome with reportOutcome) */
  writ: string;
  /** the args the writ was verified against */
  args: HttpArgs;
  /** false when the request's body was not bound (bindBody: false and a writ for `bodyDigest: null`) */
  bodyBound: boolean;
}

/**
 * A process-local single-use store bounded two ways: a jti is kept until its writ's exp plus
 * `graceSeconds` (past that the writ fails its time window first), and never more than
 * `maxEntries`. Full of writs still valid, it refuses new ones (single_use_unavailable) rather
 * than forget one that could then be replayed.
 */
export function boundedJtiStore(o: { maxEntries?: number; graceSeconds?: number; now?: () => Date } = {}): ConsumeJti {
  const max = o.maxEntries ?? 100_000;
  const grace = o.graceSeconds ?? 60;
  const seen = new Map<string, number>();
  let prunedAt = -1;
  const prune = (nowSec: number) => {
    // at most once a second: under a flood of valid writs each request would otherwise scan the map
    if (prunedAt === nowSec) return;
    prunedAt = nowSec;
    for (const [jti, exp] of seen) if (exp + grace < nowSec) seen.delete(jti);
  };
  return (jti, exp) => {
    // eslint-disable-next-line no-restricted-syntax -- writ/ is the standalone library: `now` defaults to the current time, as jose's currentDate does
    const nowSec = Math.floor((o.now?.() ?? new Date()).getTime() / 1000);
    if (seen.has(jti)) return false;
    if (seen.size >= max) prune(nowSec);
    if (seen.size >= max) {
      throw new WritVerificationError('single_use_unavailable', `the guard's single-use store holds ${max} unexpired writs: no room to record another`);
    }
    seen.set(jti, exp);
    return true;
  };
}

/**
 * The default single-use store: one for the whole process, not one per options object, so
 * that a guard built per request (`guardRequest(r, { ...options })`) still refuses a replay.
 * Sharing costs nothing: jtis are unique whatever the audience.
 */
let processStore: ConsumeJti | null = null;

function storeFor(o: HttpGuardOptions): ConsumeJti {
  if (o.consume) return o.consume;
  processStore ??= boundedJtiStore();
  return processStore;
}

/** The one writ header's value; none, or more than one, is refused (two writs could be checked against each other's request). */
export function writHeader(headers: HttpGuardRequest['headers']): string {
  const values: string[] = [];
  for (const [name, v] of Object.entries(headers)) {
    if (name.toLowerCase() !== WRIT_HEADER || v === undefined) continue;
    if (typeof v === 'string') values.push(v);
    else values.push(...v);
  }
  if (values.length === 0) throw new WritVerificationError('writ_malformed', `no ${WRIT_HEADER} header: this service runs only requests the gateway authorized`);
  if (values.length > 1) throw new WritVerificationError('writ_malformed', `the ${WRIT_HEADER} header is given ${values.length} times`);
  const value = values[0] as string;
  // node joins repeated unknown headers with ", "; a JWS never holds a comma
  if (value.includes(',')) throw new WritVerificationError('writ_malformed', `the ${WRIT_HEADER} header holds more than one value`);
  return value.trim();
}

/** bodyDigest of zero bytes, a constant: hashing it again on every bodyless request was a WebCrypto job each (test/http-guard-adapters checks the value). */
export const EMPTY_BODY_DIGEST = 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:';

/**
 * The body digests a writ for this request may be bound to, the first the exact one: a
 * request without a body matches `null` (nothing seen) or the digest of zero bytes (a gateway
 * that forwarded the empty body); one with a body matches its digest, and `null` only when
 * bodies are not bound.
 */
async function bodyCandidates(body: Uint8Array | null, bindBody: boolean): Promise<Array<string | null>> {
  if (body === null || body.length === 0) return [null, EMPTY_BODY_DIGEST];
  const exact = await bodyDigest(body);
  return bindBody ? [exact] : [exact, null];
}

/**
 * Verifies the request's writ and consumes it. Resolves to the verified writ; throws a
 * WritVerificationError (the handler must not run) otherwise.
 */
export async function guardRequest(r: HttpGuardRequest, o: HttpGuardOptions): Promise<GuardedRequest> {
  const writ = writHeader(r.headers);
  const keys = typeof o.keys === 'function' ? await o.keys() : o.keys;
  const resource = typeof o.resource === 'function' ? o.resource(r) : o.resource;
  const consume = storeFor(o);
  const candidates = await bodyCandidates(r.body, o.bindBody ?? true);
  const base: Omit<VerifyWritOptions, 'args'> = {
    keys,
    audience: o.audience,
    consume,
    expect: { action: httpAction(r.method), ...(resource !== undefined && { resource }) },
    ...(o.isRevoked && { isRevoked: o.isRevoked }),
    ...(o.stale && { stale: o.stale }),
    ...(o.acceptDomain && { acceptDomain: o.acceptDomain }),
    ...(o.revocationList !== undefined && { revocationList: o.revocationList }),
    ...(o.clockToleranceSeconds !== undefined && { clockToleranceSeconds: o.clockToleranceSeconds }),
    ...(o.maxLifetimeSeconds !== undefined && { maxLifetimeSeconds: o.maxLifetimeSeconds }),
    ...(o.now && { now: o.now() }),
  };
  let last: unknown = null;
  for (const digest of candidates) {
    const args = httpArgs({ method: r.method, host: '', path: r.path, query: r.query, bodyDigest: digest });
    try {
      // verifyWrit consumes only after every other check passed: a candidate that does not
      // match leaves the writ unspent for the next one
      const v = await verifyWrit(writ, { ...base, args });
      return { claims: v.claims, kid: v.kid, writ, args, bodyBound: !(digest === null && r.body !== null && r.body.length > 0) };
    } catch (err) {
      last = err;
      if (!(err instanceof WritVerificationError) || err.code !== 'writ_intent_mismatch') throw err;
    }
  }
  const why = last instanceof Error ? last.message : 'the writ does not authorize this request';
  if (r.body !== null && r.body.length > 0 && (o.bindBody ?? true)) {
    // the likeliest cause behind nginx: say it, since the writ itself looks right
    throw new WritVerificationError('writ_intent_mismatch', `${why} (method, path, query or body); a writ obtained without the body (nginx auth_request) authorizes only a request without one, unless the guard is configured bindBody: false`);
  }
  throw last instanceof Error ? last : new WritVerificationError('writ_intent_mismatch', why);
}

/** `guardRequest` with its options fixed. */
export function httpGuard(o: HttpGuardOptions): (r: HttpGuardRequest) => Promise<GuardedRequest> {
  return (r) => guardRequest(r, o);
}

/**
 * What every adapter answers a refused request: 403 `{error: {code, message}}` for a writ that
 * does not verify; 503 `writ_unverifiable` when the check itself failed (a key fetch that threw):
 * refused either way, never passed to the handler.
 */
export function guardRefusal(err: unknown): { status: 403 | 503; body: { error: { code: string; message: string } } } {
  if (err instanceof WritVerificationError) return { status: 403, body: { error: { code: err.code, message: err.message } } };
  return { status: 503, body: { error: { code: 'writ_unverifiable', message: err instanceof Error ? err.message : String(err) } } };
}

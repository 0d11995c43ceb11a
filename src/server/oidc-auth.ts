/**
 * Bearer JWTs from a configured OIDC issuer as caller credentials (issue 10, point 1;
 * docs/http-api.md, "Callers and credentials"). A request whose `Authorization: Bearer`
 * value is a compact JWS (three dot-separated parts, not a `writ_` token) is this kind; it
 * authenticates when
 *  - its (unverified) `iss` names a live configuration exactly (src/node/caller-issuers.ts),
 *  - its signature verifies with one of that issuer's keys, under an algorithm on the
 *    issuer's allow-list (asymmetric only: never HS*, never none),
 *  - `iss` and `aud` are the configured ones, `exp` and `sub` are present, and `exp`/`nbf`
 *    hold within a 30 s clock tolerance,
 *  - `sub` is a non-empty id without `*` (a `*` would read as a principal-pattern wildcard),
 *  - with `requireAccessToken` (the HTTP gate's `accessTokenType`, `writ mcp --require-at-jwt`),
 *    its header `typ` is `at+jwt` (RFC 9068 §4).
 * The caller is then `oidc:<issuer name>:<sub>`, with the issuer's roles, and may assert
 * exactly `<principal type>::"<sub>"`; its writs carry the token's iss and sub as `idt`. Anything else about such a token is an 'invalid'
 * credential (401): an unknown issuer, unreachable keys, a failed check. Never an allow.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { CallerIssuer, IssuerStore } from '../node/caller-issuers.ts';
import { parseFetchUrl } from '../node/caller-issuers.ts';
import { uidText } from '../canonical/uid.ts';
import { errorMessage, isRecord } from '../util.ts';
import type { CallerAuthenticator, Credential } from './caller-auth.ts';

const JWT_BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*) *$/;
const MAX_SUB = 256;

export interface OidcOptions {
  /** for fetching the discovery document and the JWKS (default 5 s) */
  fetchTimeoutMs?: number;
  /** seconds of clock skew tolerated on exp and nbf (default 30) */
  clockToleranceS?: number;
  now?: () => Date;
}

/** `<issuer>/.well-known/openid-configuration` → its `jwks_uri`, after checking it is this issuer's document. */
async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<string> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  // no redirects: the document must come from the issuer itself
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  const doc: unknown = await res.json();
  if (!isRecord(doc) || doc.issuer !== issuer) throw new Error(`${url} is not the configuration of ${issuer} (its "issuer" differs)`);
  if (typeof doc.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`);
  return parseFetchUrl(doc.jwks_uri, 'jwks_uri');
}

/** RFC 9068 §2.1: an access token's header `typ` (jose also accepts `application/at+jwt`, §4 step 1). */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/**
 * What verifying a JWT needs of an issuer's configuration (a caller issuer, or an HTTP gate's).
 * `requireAccessToken`: only RFC 9068 access tokens (`typ: at+jwt`); an ID token or another
 * JWT of the same issuer (same keys, perhaps the same aud) is then refused.
 */
export type JwtIssuer = Pick<CallerIssuer, 'id' | 'name' | 'issuer' | 'audience' | 'jwksUri' | 'jwks' | 'algorithms'> & { requireAccessToken?: boolean };

async function issuerKeys(i: JwtIssuer, timeoutMs: number): Promise<JWTVerifyGetKey> {
  if (i.jwks !== null) return createLocalJWKSet(i.jwks as unknown as JSONWebKeySet);
  const uri = i.jwksUri ?? (await discoverJwksUri(i.issuer, timeoutMs));
  // jose caches the set, refetches on an unknown kid (at most every 30 s) and after 10 min
  return createRemoteJWKSet(new URL(uri), { timeoutDuration: timeoutMs });
}

/** Each issuer's keys, fetched (or discovered) once and shared; a failed fetch is tried again later. */
export function issuerKeyCache(timeoutMs = 5000): (i: JwtIssuer) => Promise<JWTVerifyGetKey> {
  // keyed by configuration id: a removed and re-added issuer never reuses the old keys
  const keys = new Map<number, Promise<JWTVerifyGetKey>>();
  return (i) => {
    const cached = keys.get(i.id);
    if (cached) return cached;
    const p = issuerKeys(i, timeoutMs);
    keys.set(i.id, p);
    // a failed discovery is tried again at a later request, not remembered
    p.catch(() => {
      if (keys.get(i.id) === p) keys.delete(i.id);
    });
    return p;
  };
}

/** The compact JWS of an `Authorization: Bearer <jwt>` header, or null (no such header, or not three parts). */
export function bearerJwt(header: string | undefined): string | null {
  return JWT_BEARER.exec(header ?? '')?.[1] ?? null;
}

/** The token's unverified `iss`: only to pick the configuration it is then verified against. */
export function unverifiedIssuer(token: string): { iss: string } | { error: 'not_jwt' | 'no_iss' } {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    return { error: 'not_jwt' };
  }
  return typeof iss === 'string' ? { iss } : { error: 'no_iss' };
}

/** The header's typ, for the message only (the signature was verified when jose compares it). */
function unverifiedTyp(token: string): unknown {
  try {
    return decodeProtectedHeader(token).typ ?? null;
  } catch {
    return null;
  }
}

export type JwtCheck = { ok: true; sub: string; payload: JWTPayload } | { ok: false; message: string };

/**
 * The one JWT check (the caller credentials here, the HTTP gate's bearer tokens): signature by
 * one of the issuer's keys under its allow-listed algorithms, iss, aud, exp required and in
 * force (nbf too) within the tolerance, and a sub usable as a Cedar entity id.
 */
export async function verifyIssuerJwt(token: string, issuer: JwtIssuer, keysFor: (i: JwtIssuer) => Promise<JWTVerifyGetKey>, o: Pick<OidcOptions, 'clockToleranceS' | 'now'> = {}): Promise<JwtCheck> {
  let getKey: JWTVerifyGetKey;
  try {
    getKey = await keysFor(issuer);
  } catch (err) {
    return { ok: false, message: `the keys of issuer ${issuer.name} are unavailable: ${errorMessage(err)}` };
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: issuer.algorithms,
      clockTolerance: o.clockToleranceS ?? 30,
      requiredClaims: ['sub', 'exp'],
      ...(issuer.requireAccessToken === true && { typ: ACCESS_TOKEN_TYP }),
      ...(o.now && { currentDate: o.now() }),
    }));
  } catch (err) {
    if (isRecord(err) && err.claim === 'typ') return { ok: false, message: `the JWT is not an RFC 9068 access token: its header typ is ${JSON.stringify(unverifiedTyp(token))}, issuer ${issuer.name} requires ${ACCESS_TOKEN_TYP}` };
    const code = isRecord(err) && typeof err.code === 'string' ? `${err.code}: ` : '';
    return { ok: false, message: `the JWT is not valid for issuer ${issuer.name}: ${code}${errorMessage(err)}` };
  }
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUB) return { ok: false, message: `the JWT's sub is not a 1-${MAX_SUB} character id` };
  if (sub.includes('*')) return { ok: false, message: "the JWT's sub contains *, which would read as a principal wildcard" };
  return { ok: true, sub, payload };
}

const invalid = (message: string): Credential => ({ kind: 'invalid', message });

export function oidcAuthenticator(store: IssuerStore, o: OidcOptions = {}): CallerAuthenticator {
  const keysFor = issuerKeyCache(o.fetchTimeoutMs ?? 5000);
  return {
    scheme: 'Bearer',
    async authenticate(req) {
      const token = bearerJwt(req.headers.authorization);
      if (token === null || token.startsWith('writ_')) return { kind: 'none' };
      const iss = unverifiedIssuer(token);
      if ('error' in iss) return invalid(iss.error === 'not_jwt' ? 'the bearer token is neither a writ_ caller token nor a JWT' : 'the JWT has no iss');
      // read per request: an issuer removed by `writ caller issuer remove` is refused at once
      const issuer = store.forIssuer(iss.iss);
      if (issuer === null) return invalid(`the JWT's issuer ${JSON.stringify(iss.iss)} is not configured (writ caller issuer add)`);
      const checked = await verifyIssuerJwt(token, issuer, keysFor, o);
      if (!checked.ok) return invalid(checked.message);
      const sub = checked.sub;
      return {
        kind: 'caller',
        caller: {
          name: `oidc:${issuer.name}:${sub}`,
          roles: issuer.roles,
          principals: [uidText({ type: issuer.principalType, id: sub })],
          audiences: [],
          created: issuer.created,
          revoked: null,
          // the writs it is allowed carry them as idt (it may assert only <principalType>::"<sub>")
          token: { iss: issuer.issuer, sub },
        },
      };
    },
  };
}

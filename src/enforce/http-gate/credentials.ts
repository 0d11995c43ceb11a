/**
 * Who is making an HTTP request that reaches the gate: the principal comes from a credential
 * the gate verifies itself, never from a header that merely names someone (X-User,
 * X-Forwarded-User, ... are ignored: anyone can send them). Two kinds:
 *  - `Authorization: Bearer <JWT>` from a configured issuer, checked by the same function as
 *    the node's OIDC callers (server/oidc-auth.ts, verifyIssuerJwt): principal
 *    `<principalType>::"<sub>"`, the verified claims as its attributes (`principal.email`) and,
 *    as before, in context.credential.claims;
 *  - an API key in the configured header (default `x-api-key`), looked up by its SHA-256 in the
 *    configured map: principal and its attributes as configured.
 * A credential that is present but not valid is `invalid` (401), never a fall-through to
 * another kind; so is a request carrying both kinds (which one would count is a question an
 * attacker should not get to ask).
 *
 * A JWT that verified is remembered, by its exact compact form (signature included), for
 * VERIFIED_JWT_TTL_MS and never past its own exp: a client sends the same token on every
 * request, and jose's WebCrypto signature check was half of a decision's CPU under load (a
 * thread-pool job per request; docs/performance.md, "Through nginx auth_request"). What a
 * remembered token skips is only what cannot change for the same bytes (signature, iss, aud,
 * typ, sub); exp and nbf are checked again at each use. A key leaving the issuer's JWKS is
 * noticed as late as before plus the TTL (jose itself keeps a fetched JWKS for 10 min).
 */
import { createHash } from 'node:crypto';
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { JWTPayload } from 'jose';
import { uidText } from '../../canonical/uid.ts';
import { argsToCedar } from '../../node/context.ts';
import { bearerJwt, issuerKeyCache, unverifiedIssuer, verifyIssuerJwt, type JwtIssuer } from '../../server/oidc-auth.ts';
import type { WritIdentityToken } from '../../writ/claims.ts';
import type { GateApiKey, GateConfig, GateJwtIssuer } from './config.ts';

export type HttpCredential =
  | { kind: 'none' }
  | { kind: 'invalid'; scheme: 'Bearer' | 'ApiKey'; message: string }
  /** `attrs`: the principal entity's attributes (a JWT's verified claims; an API key's configured attributes) */
  /** `token`: a JWT's verified iss and sub (the writ's idt); none for an API key */
  | { kind: 'principal'; principal: string; credential: Record<string, CedarValueJson>; attrs: Record<string, CedarValueJson>; token?: WritIdentityToken };

/** Reads one request header (lower-case name); undefined when absent. */
export type HeaderLookup = (name: string) => string | undefined;

/** Claims as Cedar values; a claim Cedar cannot hold (a reserved key inside it, say) is left out, not guessed at. */
export function claimsToCedar(payload: JWTPayload): Record<string, CedarValueJson> {
  const out: Record<string, CedarValueJson> = {};
  for (const [k, v] of Object.entries(payload)) {
    if (k === '__proto__' || k.startsWith('__')) continue;
    try {
      const c = argsToCedar(v, `claims.${k}`);
      if (c !== undefined) out[k] = c;
    } catch {
      // not representable: absent, so a policy's `has` sees that it is not there
    }
  }
  return out;
}

/** How long a verified JWT is remembered (never past its exp). */
export const VERIFIED_JWT_TTL_MS = 30_000;
/** At most this many remembered tokens (the oldest go first): only tokens that verified are kept. */
export const VERIFIED_JWT_MAX = 4096;

interface VerifiedJwt {
  issuer: GateJwtIssuer;
  sub: string;
  payload: JWTPayload;
  /** epoch ms after which the token must be verified again */
  until: number;
}

export interface CredentialOptions {
  fetchTimeoutMs?: number;
  clockToleranceS?: number;
  now?: () => Date;
}

export class GateCredentials {
  private readonly config: GateConfig;
  private readonly keysFor: ReturnType<typeof issuerKeyCache>;
  private readonly byHash: Map<string, GateApiKey>;
  private readonly o: CredentialOptions;
  private readonly verified = new Map<string, VerifiedJwt>();

  constructor(config: GateConfig, o: CredentialOptions = {}) {
    this.config = config;
    this.o = o;
    this.keysFor = issuerKeyCache(o.fetchTimeoutMs ?? 5000);
    this.byHash = new Map(config.apiKeys.keys.map((k) => [k.sha256, k]));
  }

  /** The WWW-Authenticate value of a 401: one challenge per configured kind (RFC 9110 §11.6.1). */
  challenge(invalid?: { scheme: 'Bearer' | 'ApiKey'; message: string }): string {
    const realm = `realm="${this.config.realm}"`;
    const parts: string[] = [];
    if (this.config.jwt.length > 0) {
      // RFC 6750 §3: error="invalid_token" tells the client its token, not its request, is the problem
      const err = invalid?.scheme === 'Bearer' ? `, error="invalid_token", error_description="${quoted(invalid.message)}"` : '';
      parts.push(`Bearer ${realm}${err}`);
    }
    if (this.config.apiKeys.keys.length > 0) parts.push(`ApiKey ${realm}, header="${this.config.apiKeys.header}"`);
    return parts.join(', ');
  }

  async identify(header: HeaderLookup): Promise<HttpCredential> {
    const authorization = header('authorization');
    const apiKey = header(this.config.apiKeys.header);
    if (authorization !== undefined && apiKey !== undefined) return { kind: 'invalid', scheme: 'Bearer', message: `the request carries both an Authorization header and ${this.config.apiKeys.header}: one credential per request` };
    if (authorization !== undefined) return this.jwt(authorization);
    if (apiKey !== undefined) return this.key(apiKey);
    return { kind: 'none' };
  }

  private async jwt(authorization: string): Promise<HttpCredential> {
    const invalid = (message: string): HttpCredential => ({ kind: 'invalid', scheme: 'Bearer', message });
    const token = bearerJwt(authorization);
    if (token === null) return invalid('the Authorization header is not "Bearer <JWT>"');
    if (this.config.jwt.length === 0) return invalid('no JWT issuer is configured for this gate');
    const iss = unverifiedIssuer(token);
    if ('error' in iss) return invalid(iss.error === 'not_jwt' ? 'the bearer token is not a JWT' : 'the JWT has no iss');
    const issuer: GateJwtIssuer | undefined = this.config.jwt.find((j) => j.issuer === iss.iss);
    if (issuer === undefined) return invalid(`the JWT's issuer ${JSON.stringify(iss.iss)} is not configured for this gate`);
    const checked = this.remembered(token, issuer) ?? (await verifyIssuerJwt(token, issuer satisfies JwtIssuer, this.keysFor, this.o));
    if (!checked.ok) return invalid(checked.message);
    this.remember(token, issuer, checked);
    const claims = claimsToCedar(checked.payload);
    return {
      kind: 'principal',
      principal: uidText({ type: issuer.principalType, id: checked.sub }),
      credential: { kind: 'jwt', issuer: issuer.name, claims },
      attrs: claims,
      // iss is the configured issuer the token was verified against (jwtVerify compared it exactly)
      token: { iss: issuer.issuer, sub: checked.sub },
    };
  }

  /** A token that verified against this issuer and whose exp and nbf still hold now; undefined: verify it. */
  private remembered(token: string, issuer: GateJwtIssuer): { ok: true; sub: string; payload: JWTPayload } | undefined {
    const v = this.verified.get(token);
    if (v === undefined) return undefined;
    const now = (this.o.now?.() ?? new Date()).getTime();
    const tolerance = this.o.clockToleranceS ?? 30;
    // jose's own rules: exp is passed once now - tolerance >= exp; nbf not yet once nbf > now + tolerance
    const nbf = v.payload.nbf;
    if (v.issuer !== issuer || now >= v.until || (typeof nbf === 'number' && nbf > Math.floor(now / 1000) + tolerance)) {
      this.verified.delete(token);
      return undefined;
    }
    return { ok: true, sub: v.sub, payload: v.payload };
  }

  private remember(token: string, issuer: GateJwtIssuer, checked: { sub: string; payload: JWTPayload }): void {
    if (this.verified.has(token)) return;
    const exp = checked.payload.exp;
    if (typeof exp !== 'number') return; // required by verifyIssuerJwt; without it, nothing bounds the memory
    const now = (this.o.now?.() ?? new Date()).getTime();
    const until = Math.min(now + VERIFIED_JWT_TTL_MS, (exp + (this.o.clockToleranceS ?? 30)) * 1000);
    if (until <= now) return;
    if (this.verified.size >= VERIFIED_JWT_MAX) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, { issuer, sub: checked.sub, payload: checked.payload, until });
  }

  private key(value: string): HttpCredential {
    const digest = createHash('sha256').update(value, 'utf8').digest('hex');
    const k = this.byHash.get(digest);
    if (k === undefined) return { kind: 'invalid', scheme: 'ApiKey', message: `the ${this.config.apiKeys.header} key is not configured for this gate` };
    return { kind: 'principal', principal: k.principal, credential: { kind: 'api_key', name: k.name }, attrs: k.attributes };
  }
}

/** A quoted-string's content (RFC 9110 §5.6.4): no quotes, backslashes or line breaks, bounded. */
function quoted(s: string): string {
  return s.replace(/["\\\r\n]/g, ' ').slice(0, 200);
}

/**
 * Bearer JWTs as identities for `writ mcp --listen` (issue 17, point 3; docs/mcp.md,
 * "Identity over HTTP"). One configured issuer (`--oidc-issuer`, `--oidc-audience`, keys from
 * `--jwks-file`, `--jwks-uri` or discovery). A token is checked by the same function as the
 * node's OIDC callers and the HTTP gate (server/oidc-auth.ts, verifyIssuerJwt): signature under
 * an asymmetric allow-listed algorithm (never none, never HS*), iss, aud, exp required, exp/nbf
 * in force. RFC 9068 access tokens (`typ: at+jwt`) are accepted like plain JWTs; with
 * `--require-at-jwt` only they are (RFC 9068 §4: an ID token of the same issuer is refused).
 *
 * The mapping is the HTTP gate's: principal `<principalType>::"<sub>"`, the verified claims as
 * the principal entity's attributes (so `iss` and `sub` are in every decision leaf's
 * `input.principalEntity`, and replay sees them), and the token's iss and sub as every writ's
 * `idt` claim. Nothing else about the request names anyone.
 */
import { readFileSync } from 'node:fs';
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { uidText } from '../../canonical/uid.ts';
import type { GovernanceNode } from '../../node/node.ts';
import type { AuthorizeRequest } from '../../node/types.ts';
import { DEFAULT_ALGORITHMS, parseFetchUrl, parseJwks } from '../../node/caller-issuers.ts';
import { issuerKeyCache, verifyIssuerJwt, type JwtIssuer } from '../../server/oidc-auth.ts';
import { errorMessage } from '../../util.ts';
import type { WritIdentityToken } from '../../writ/claims.ts';
import { claimsToCedar } from '../http-gate/credentials.ts';

export interface McpJwtConfig {
  issuer: string;
  audience: string;
  jwksFile?: string;
  jwksUri?: string;
  /** the principal is `<principalType>::"<sub>"` (default Agent) */
  principalType?: string;
  /** `--require-at-jwt`: only RFC 9068 access tokens (header typ at+jwt) */
  requireAccessToken?: boolean;
}

/** `token`: the verified iss and sub, which the session's writs carry as `idt` (docs/writ.md) */
export type JwtIdentity = { ok: true; principal: string; attrs: Record<string, CedarValueJson>; token: WritIdentityToken } | { ok: false; message: string };

const CEDAR_TYPE = /^(?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*$/;

/** The issuer as verifyIssuerJwt takes it; throws (a usage error for the CLI) on a bad configuration. */
export function mcpJwtIssuer(c: McpJwtConfig): JwtIssuer & { principalType: string } {
  if (c.jwksFile !== undefined && c.jwksUri !== undefined) throw new Error('--jwks-file or --jwks-uri, not both');
  if (c.audience.trim() === '') throw new Error('--oidc-audience must not be empty');
  const principalType = c.principalType ?? 'Agent';
  if (!CEDAR_TYPE.test(principalType)) throw new Error(`--oidc-principal-type ${JSON.stringify(principalType)} is not a Cedar entity type`);
  let jwks = null;
  if (c.jwksFile !== undefined) {
    try {
      jwks = parseJwks(JSON.parse(readFileSync(c.jwksFile, 'utf8')));
    } catch (err) {
      throw new Error(`--jwks-file ${c.jwksFile}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return {
    id: 1,
    name: 'mcp',
    issuer: parseFetchUrl(c.issuer, '--oidc-issuer'),
    audience: c.audience,
    jwksUri: c.jwksUri === undefined ? null : parseFetchUrl(c.jwksUri, '--jwks-uri'),
    jwks,
    algorithms: [...DEFAULT_ALGORITHMS],
    principalType,
    ...(c.requireAccessToken === true && { requireAccessToken: true }),
  };
}

/** A verifier of bearer tokens for one issuer; its keys are fetched once and shared (jose refetches on an unknown kid). */
export function jwtIdentifier(issuer: JwtIssuer & { principalType: string }, o: { fetchTimeoutMs?: number; now?: () => Date } = {}): (token: string) => Promise<JwtIdentity> {
  const keysFor = issuerKeyCache(o.fetchTimeoutMs ?? 5000);
  return async (token) => {
    const checked = await verifyIssuerJwt(token, issuer, keysFor, o.now ? { now: o.now } : {});
    if (!checked.ok) return checked;
    return { ok: true, principal: uidText({ type: issuer.principalType, id: checked.sub }), attrs: claimsToCedar(checked.payload), token: { iss: issuer.issuer, sub: checked.sub } };
  };
}

/**
 * The node as a session's governor sees it: every request it authorizes (or denies) carries the
 * session's current principal entity, and the verified token's iss and sub (the writ's idt). A wrapper, so the governor and governed-call need no
 * identity option; the lease re-decides from the recorded input, which holds the entity already.
 */
export function withPrincipalEntity(node: GovernanceNode, current: () => { attrs: Record<string, CedarValueJson>; token: WritIdentityToken | null }): GovernanceNode {
  const entity = (req: AuthorizeRequest): AuthorizeRequest => {
    const { attrs, token } = current();
    return { ...req, principalEntity: { attrs, parents: [] }, ...(token !== null && { identityToken: token }) };
  };
  return new Proxy(node, {
    get(target, prop) {
      if (prop === 'authorize') return (req: AuthorizeRequest) => target.authorize(entity(req));
      if (prop === 'deny') return (req: AuthorizeRequest, ...rest: Parameters<GovernanceNode['deny']> extends [unknown, ...infer R] ? R : never) => target.deny(entity(req), ...rest);
      const v: unknown = Reflect.get(target, prop, target);
      // every other method runs on the node itself (its private state is the node's)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * Who is calling the decision routes (POST /v1/authorize, /v1/verify, /v1/outcome), and
 * whether it may (docs/http-api.md, "Callers and credentials"). A refusal is a recorded
 * denial: `caller_unauthenticated` (401: no valid caller credential) or `caller_not_permitted`
 * (403: a valid credential without the role, or naming a principal it may not assert).
 *
 * A credential is one of several kinds, each read by a CallerAuthenticator: a `writ_` bearer
 * token (always, from the home's caller store), and optionally a bearer JWT from a configured
 * OIDC issuer or a TLS client certificate. The first authenticator that finds its kind of
 * credential in the request decides: a credential that is present but not valid is a 401,
 * never a fall-through to the next kind.
 */
import type { FastifyRequest } from 'fastify';
import { hasRole, mayAssert, type Caller, type CallerRole, type CallerStore } from '../node/callers.ts';
import type { DenyReason } from '../reasons.ts';

/** What one authenticator found: not its kind of credential, a caller, or a credential of its kind that is not valid. */
export type Credential = { kind: 'none' } | { kind: 'caller'; caller: Caller } | { kind: 'invalid'; message: string };

export interface CallerAuthenticator {
  /** for messages and the `www-authenticate` challenge, e.g. `Bearer` */
  readonly scheme: string;
  authenticate(req: FastifyRequest): Credential | Promise<Credential>;
}

export interface CallerAccess {
  store: CallerStore;
  /** further kinds of credential, tried after the `writ_` token, in order */
  authenticators?: readonly CallerAuthenticator[];
  /**
   * `writ up --demo` only: a request with no credential at all may name these principals
   * (the demo policy's sandbox agents) in POST /v1/authorize. Never verify or outcome,
   * never another principal; a request that presents a credential is checked as usual.
   */
  openDemoPrincipals?: readonly string[];
}

export type CallerCheck = { ok: true; caller: Caller | null } | { ok: false; status: 401 | 403; code: DenyReason; message: string; caller: string };

const anonymous = 'Caller::"anonymous"';

/** The `writ_` bearer tokens of the home's caller store. */
export function tokenAuthenticator(store: CallerStore): CallerAuthenticator {
  return {
    scheme: 'Bearer',
    authenticate(req) {
      const header = req.headers.authorization;
      if (header === undefined || !/^Bearer +writ_/.test(header)) return { kind: 'none' };
      const caller = store.authenticate(header);
      return caller ? { kind: 'caller', caller } : { kind: 'invalid', message: 'the caller token is unknown, altered or removed' };
    },
  };
}

async function identify(access: CallerAccess, req: FastifyRequest): Promise<Credential> {
  for (const a of [tokenAuthenticator(access.store), ...(access.authenticators ?? [])]) {
    let found: Credential;
    try {
      found = await a.authenticate(req);
    } catch (err) {
      // an authenticator that cannot decide (an issuer's keys unreachable, say) refuses
      found = { kind: 'invalid', message: `${a.scheme} credential could not be checked: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (found.kind !== 'none') return found;
  }
  return { kind: 'none' };
}

/**
 * Checks the caller of a decision route: `authorize` with the principal it names, or
 * `verify` (verify, consume, report an outcome). Without an access configuration
 * nothing is allowed: fail closed.
 */
export async function checkCaller(access: CallerAccess | null, req: FastifyRequest, role: CallerRole, principal?: string): Promise<CallerCheck> {
  if (access === null) return { ok: false, status: 401, code: 'caller_unauthenticated', message: 'this node has no caller credentials configured', caller: anonymous };
  const found = await identify(access, req);
  if (found.kind === 'none' && req.headers.authorization === undefined && role === 'authorize' && principal !== undefined && access.openDemoPrincipals?.includes(principal)) {
    req.log.warn({ principal }, 'open demo: unauthenticated authorize for a sandbox principal');
    return { ok: true, caller: null };
  }
  if (found.kind === 'none') {
    return { ok: false, status: 401, code: 'caller_unauthenticated', message: 'a caller credential is required: Authorization: Bearer writ_… (writ caller add)', caller: anonymous };
  }
  if (found.kind === 'invalid') return { ok: false, status: 401, code: 'caller_unauthenticated', message: found.message, caller: anonymous };
  const caller = found.caller;
  const name = `Caller::${JSON.stringify(caller.name)}`;
  if (!hasRole(caller, role)) {
    return { ok: false, status: 403, code: 'caller_not_permitted', message: `caller ${caller.name} does not have the ${role} role`, caller: name };
  }
  if (role === 'authorize' && (principal === undefined || !mayAssert(caller, principal))) {
    return { ok: false, status: 403, code: 'caller_not_permitted', message: `caller ${caller.name} may not assert principal ${principal ?? '(none)'}`, caller: name };
  }
  return { ok: true, caller };
}

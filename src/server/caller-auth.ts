/**
 * Who is calling the decision routes (POST /v1/authorize, /v1/verify, /v1/outcome), and
 * whether it may (docs/http-api.md, "Callers and credentials"). A refusal is a recorded
 * denial: `caller_unauthenticated` (401: no valid caller token) or `caller_not_permitted`
 * (403: a valid token without the role, or naming a principal it may not assert).
 */
import type { FastifyRequest } from 'fastify';
import { hasRole, mayAssert, type Caller, type CallerRole, type CallerStore } from '../node/callers.ts';
import type { DenyReason } from '../reasons.ts';

export interface CallerAccess {
  store: CallerStore;
  /**
   * `writ up --demo` only: a request with no Authorization header at all may name these
   * principals (the demo policy's sandbox agents) in POST /v1/authorize. Never verify or
   * outcome, never another principal; a request that presents a token is checked as usual.
   */
  openDemoPrincipals?: readonly string[];
}

export type CallerCheck = { ok: true; caller: Caller | null } | { ok: false; status: 401 | 403; code: DenyReason; message: string; caller: string };

const anonymous = 'Caller::"anonymous"';

/**
 * Checks the caller of a decision route: `authorize` with the principal it names, or
 * `verify` (verify, consume, report an outcome). Without an access configuration
 * nothing is allowed: fail closed.
 */
export function checkCaller(access: CallerAccess | null, req: FastifyRequest, role: CallerRole, principal?: string): CallerCheck {
  const header = req.headers.authorization;
  if (access === null) return { ok: false, status: 401, code: 'caller_unauthenticated', message: 'this node has no caller credentials configured', caller: anonymous };
  if (header === undefined && role === 'authorize' && principal !== undefined && access.openDemoPrincipals?.includes(principal)) {
    req.log.warn({ principal }, 'open demo: unauthenticated authorize for a sandbox principal');
    return { ok: true, caller: null };
  }
  const caller = access.store.authenticate(header);
  if (caller === null) {
    return { ok: false, status: 401, code: 'caller_unauthenticated', message: 'a caller token is required: Authorization: Bearer writ_… (writ caller add)', caller: anonymous };
  }
  const name = `Caller::${JSON.stringify(caller.name)}`;
  if (!hasRole(caller, role)) {
    return { ok: false, status: 403, code: 'caller_not_permitted', message: `caller ${caller.name} does not have the ${role} role`, caller: name };
  }
  if (role === 'authorize' && (principal === undefined || !mayAssert(caller, principal))) {
    return { ok: false, status: 403, code: 'caller_not_permitted', message: `caller ${caller.name} may not assert principal ${principal ?? '(none)'}`, caller: name };
  }
  return { ok: true, caller };
}

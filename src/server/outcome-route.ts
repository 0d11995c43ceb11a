/**
 * POST /v1/outcome: what became of an execution (docs/http-api.md). Two ways to report:
 *  - with the `outcomeToken` POST /v1/verify (consume: true) returned to the enforcement point
 *    that used the writ at this node: holding the writ is not enough (the agent holds it too);
 *  - without it, by an executor that verified the writ itself (writ/verify, offline): its caller
 *    has the verify role and `--audiences` covering the writ's audience. The writ is then marked
 *    used here (fleet-wide on a fleet node), so it cannot also be used online, and the outcome
 *    leaf names the caller in `reportedBy`.
 */
import type { Span, Tracer } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JSONWebKeySet } from 'jose';
import type { Ledger } from '../ledger/ledger.ts';
import { mayReportFor } from '../node/callers.ts';
import { DuplicateOutcomeError, recordOutcome, UnknownWritError, type Outcome } from '../node/evidence.ts';
import type { Decision, GovernanceNode } from '../node/node.ts';
import type { OutcomeTokenStore } from '../node/state.ts';
import { errorMessage, isRecord } from '../util.ts';
import { verifyWritAuthenticity, WritVerificationError } from '../writ/verify.ts';
import { checkCaller, type CallerAccess, type CallerCheck } from './caller-auth.ts';
import { outcomeBody } from './schemas.ts';
import { OUTCOME_SPAN, tracedRoute } from '../telemetry/spans.ts';

interface OutcomeBody {
  writ: string;
  outcomeToken?: string;
  status: Outcome['status'];
  exitCode?: number | null;
  signal?: string | null;
  durationMs: number;
  reason?: string | null;
  isError?: boolean;
  resultDigest?: string | null;
}

export function registerOutcomeRoute(
  app: FastifyInstance,
  deps: {
    node: GovernanceNode;
    ledger: Ledger;
    state: OutcomeTokenStore;
    jwks: JSONWebKeySet;
    callers: CallerAccess | null;
    refuseCaller: (reply: FastifyReply, who: Extract<CallerCheck, { ok: false }>, asked: { principal: string; action: string; resource: string }) => Promise<Decision>;
    /** a writ.outcome span per report (docs/telemetry.md); none when tracing is off */
    tracer?: Tracer;
  },
): void {
  const { node, ledger, state, tracer } = deps;
  const handler = async (req: FastifyRequest, reply: FastifyReply, span?: Span) => {
    const b = req.body as OutcomeBody;
    span?.setAttribute('writ.outcome.status', b.status);
    const who = await checkCaller(deps.callers, req, 'verify');
    if (!who.ok) {
      await deps.refuseCaller(reply, who, { principal: who.caller, action: 'Action::"writ/outcome"', resource: 'Writ::"outcome"' });
      return reply.code(who.status).send({ error: who.code, message: who.message });
    }
    let claims;
    try {
      // the writ proves the execution ran under it; its time window may have closed since
      ({ claims } = await verifyWritAuthenticity(b.writ, { keys: deps.jwks, now: new Date(decodeIat(b.writ) * 1000), maxLifetimeSeconds: node.limits.maxWritLifetimeSeconds }));
      span?.setAttributes({ 'writ.jti': claims.jti, 'writ.decision_index': claims.led });
    } catch (err) {
      return reply.code(403).send({ error: err instanceof WritVerificationError ? err.code : 'writ_malformed', message: errorMessage(err) });
    }
    let reportedBy: string | undefined;
    if (b.outcomeToken !== undefined) {
      if (!state.outcomeTokenMatches(claims.jti, b.outcomeToken)) {
        return reply.code(403).send({ error: 'outcome_token_invalid', message: 'an outcome is reported with the outcomeToken that POST /v1/verify (consume: true) returned to the enforcement point that used the writ' });
      }
    } else {
      if (who.caller === null || !mayReportFor(who.caller, claims.aud)) {
        return reply.code(403).send({ error: 'outcome_token_required', message: `without an outcomeToken, only a caller whose --audiences cover the writ's audience ${claims.aud} may report (an executor that verified the writ itself)` });
      }
      if (!ledger.writ(claims.jti)) return reply.code(404).send({ error: 'unknown_writ', message: `no writ ${claims.jti} was issued by this ledger` });
      // the executor used it: nobody may use it again, here or (fleet) at any node
      let fresh: boolean;
      try {
        const { consume } = node.verifierOptions(); // a node's verifier always consumes
        fresh = consume !== false && (await consume(claims.jti, claims.exp));
      } catch (err) {
        return reply.code(503).send({ error: err instanceof WritVerificationError ? err.code : 'single_use_unavailable', message: errorMessage(err) });
      }
      if (!fresh) {
        return reply.code(409).send({ error: 'writ_already_used', message: `writ ${claims.jti} was already used through POST /v1/verify (or reported before): its outcome is reported with the outcomeToken that call returned` });
      }
      reportedBy = who.caller.name;
    }
    try {
      const ledgerIndex = await recordOutcome(ledger, {
        jti: claims.jti,
        node: node.identity.nodeId,
        status: b.status,
        exitCode: b.exitCode ?? null,
        signal: b.signal ?? null,
        durationMs: b.durationMs,
        reason: b.reason ?? null,
        ...(b.isError !== undefined && { isError: b.isError }),
        resultDigest: b.resultDigest ?? null,
        ...(reportedBy !== undefined && { reportedBy }),
      }, node.now());
      span?.setAttribute('writ.ledger_index', ledgerIndex);
      return reply.code(201).send({ recorded: true, jti: claims.jti, ledgerIndex, ...(reportedBy !== undefined && { reportedBy }) });
    } catch (err) {
      if (err instanceof UnknownWritError) return reply.code(404).send({ error: 'unknown_writ', message: err.message });
      if (err instanceof DuplicateOutcomeError) return reply.code(409).send({ error: 'outcome_already_recorded', message: err.message });
      throw err;
    }
  };
  app.post('/v1/outcome', { schema: { body: outcomeBody, tags: ['evidence'] } }, tracer ? (req, reply) => tracedRoute(tracer, OUTCOME_SPAN, req, reply, (span) => handler(req, reply, span)) : handler);
}

function decodeIat(writ: string): number {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(writ.split('.')[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    throw new WritVerificationError('writ_malformed', 'writ payload is not base64url JSON');
  }
  if (!isRecord(payload) || typeof payload.iat !== 'number') throw new WritVerificationError('writ_malformed', 'writ has no iat');
  return payload.iat;
}

/**
 * The HTTP gate: one HTTP request's facts → one recorded decision, the same for every
 * protocol that asks (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy
 * ext_authz over HTTP or gRPC; the adapters are server/forward-auth.ts and
 * server/ext-authz-grpc.ts). The Cedar request (docs/http-gateway.md, "The mapping"):
 *
 *   principal  from the verified credential (credentials.ts), never from a header that names one;
 *              its attributes the verified JWT claims (or an API key's configured attributes),
 *              supplied as the request's principal entity (AuthorizeRequest.principalEntity)
 *   action     Action::"http:<METHOD>"
 *   resource   the matched route's entity (config.ts; default Route::"<name>")
 *   args       httpArgs(facts): method, path, query, body digest — what the writ binds
 *   context    http: { method, host, path, query, route, headers, bodyDigest? }, credential: {...}
 *   audience   the route's upstream service, which verifies and consumes the writ
 *
 * The writ is not verified or consumed here (`begin` with verify 'carried'): it travels on to
 * the upstream (writ/http-guard), which checks it against the request it actually receives.
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { Ledger } from '../../ledger/ledger.ts';
import type { Decision, GovernanceNode } from '../../node/node.ts';
import type { TraceRef } from '../../node/types.ts';
import type { PolicyRef } from '../../node/active-policy.ts';
import type { DenyReason } from '../../reasons.ts';
import { httpAction, httpArgs, type HttpFacts } from '../../writ/http-request.ts';
import { begin } from '../governed-call.ts';
import type { GateConfig } from './config.ts';
import { GateCredentials, type CredentialOptions, type HeaderLookup } from './credentials.ts';
import { matchRoute, pathProblem } from './routes.ts';

/** Recorded as the principal of a request no credential verified for. */
export const ANONYMOUS = 'Caller::"anonymous"';
/** Recorded as the resource of a request no route covers (route names cannot contain `*`). */
export const UNMATCHED = 'Route::"*unmatched*"';

/** What the adapters answer: the status and headers each protocol maps to its own form. */
export interface GateAnswer {
  /** 200 allow; 400 unreadable request facts; 401 no or bad credential; 403 deny; 500/503 internal */
  status: 200 | 400 | 401 | 403 | 500 | 503;
  /** with 200: the writ for the upstream */
  writ: string | null;
  decisionId: string;
  ledgerIndex: number | null;
  reasons: readonly string[];
  message: string;
  /** with 401: the WWW-Authenticate value */
  challenge: string | null;
  /** the bundle the decision was made under (for its span: docs/telemetry.md), null if none was active */
  policy: PolicyRef | null;
}

/** The request as the gateway described it; `problem` when its description could not be read. */
export type GateRequest = { facts: HttpFacts; header: HeaderLookup } | { problem: string; header: HeaderLookup; method?: string };

export interface HttpGateOptions extends CredentialOptions {
  node: GovernanceNode;
  ledger: Ledger;
  config: GateConfig;
}

function statusOf(d: Pick<Decision, 'decision' | 'reasons'>): GateAnswer['status'] {
  if (d.decision === 'allow') return 200;
  // the gateways treat any status but 2xx/401/403 as an error and deny: a failure of ours is no policy answer
  if (d.reasons.includes('ledger_append_failed')) return 503;
  if (d.reasons.includes('internal_error')) return 500;
  if (d.reasons.includes('http_credential_missing') || d.reasons.includes('http_credential_invalid')) return 401;
  return 403;
}

export class HttpGate {
  readonly config: GateConfig;
  private readonly node: GovernanceNode;
  private readonly ledger: Ledger;
  private readonly credentials: GateCredentials;

  constructor(o: HttpGateOptions) {
    this.node = o.node;
    this.ledger = o.ledger;
    this.config = o.config;
    this.credentials = new GateCredentials(o.config, o);
  }

  /** `trace`: the span deciding this check (tracing on, docs/telemetry.md), recorded in the decision leaf */
  async decide(req: GateRequest, trace?: TraceRef): Promise<GateAnswer> {
    const t = trace && { trace };
    if ('problem' in req) {
      const d = await this.node.deny({ principal: ANONYMOUS, action: httpAction(req.method ?? ''), resource: UNMATCHED, ...t }, 'request_invalid', req.problem);
      return this.answer(d, d.decision === 'deny' && !d.reasons.includes('ledger_append_failed') ? 400 : undefined);
    }
    const { facts } = req;
    const action = httpAction(facts.method);
    const args = httpArgs(facts);
    const route = matchRoute(this.config.routes, facts);
    const resource = route?.resource ?? UNMATCHED;

    const who = await this.credentials.identify(req.header);
    if (who.kind !== 'principal') {
      const code: DenyReason = who.kind === 'none' ? 'http_credential_missing' : 'http_credential_invalid';
      const message = who.kind === 'none' ? `no credential: ${this.credentials.challenge()}` : who.message;
      const d = await this.node.deny({ principal: ANONYMOUS, action, resource, args, ...t }, code, message);
      return { ...this.answer(d), challenge: this.credentials.challenge(who.kind === 'invalid' ? who : undefined) };
    }
    const problem = pathProblem(facts.path);
    if (problem !== null) return this.answer(await this.node.deny({ principal: who.principal, action, resource: UNMATCHED, args, ...t }, 'http_path_ambiguous', `${problem}: ${JSON.stringify(facts.path)}`));
    if (route === null) {
      return this.answer(await this.node.deny({ principal: who.principal, action, resource, args, ...t }, 'http_route_unknown', `no route covers ${facts.method} ${facts.host}${facts.path}`));
    }

    const headers: Record<string, CedarValueJson> = {};
    for (const name of this.config.headers) {
      const v = req.header(name);
      if (v !== undefined) headers[name] = v;
    }
    const http: Record<string, CedarValueJson> = { method: facts.method, host: facts.host, path: facts.path, query: facts.query, route: route.name, headers };
    // Cedar has no null: a body the gate did not see is an absent attribute (`context.http has bodyDigest`)
    if (facts.bodyDigest !== null) http.bodyDigest = facts.bodyDigest;
    const b = await begin({
      node: this.node,
      ledger: this.ledger,
      verify: 'carried',
      request: {
        principal: who.principal,
        action,
        resource,
        audience: route.audience,
        args,
        context: { http, credential: who.credential },
        principalEntity: { attrs: who.attrs, parents: [] },
        ...(who.token && { identityToken: who.token }),
        ...(this.config.ttlSeconds !== null && { ttlSeconds: this.config.ttlSeconds }),
        ...t,
      },
    });
    if ('denied' in b) return this.answer(b.denied.decision);
    // the execution happens upstream, which reports its own outcome: nothing for this lease to watch
    b.call.abandon();
    return this.answer(b.call.decision);
  }

  private answer(d: Decision, status?: GateAnswer['status']): GateAnswer {
    return {
      status: status ?? statusOf(d),
      writ: d.decision === 'allow' ? (d.writ ?? null) : null,
      decisionId: d.decisionId,
      ledgerIndex: d.ledgerIndex,
      reasons: d.reasons,
      message: d.message,
      challenge: null,
      policy: d.policy,
    };
  }
}

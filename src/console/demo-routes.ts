/**
 * The Runtime Governance Demo's routes (`writ up --demo` only; wire shapes in
 * src/demo/contract.ts, docs/demo.md). Open to anonymous visitors, within limits:
 *   - the scripted steps act only as the demo's agent on the sandbox;
 *   - "try your own" lets an anonymous visitor name only the sandbox principals, actions
 *     and resources (src/demo/scope.ts); anything else needs the admin bearer token
 *     (401 without one, 403 with a wrong one);
 *   - only the demo's own waiting approval can be decided here (the console's approvals
 *     route, admin only, decides the others);
 *   - every POST is rate-limited per client address (bounded LRU of addresses: 429 with
 *     Retry-After), and one step runs at a time (409).
 * Errors are `{ error: { code, message } }`.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DemoRunner } from '../demo/runner.ts';
import { DemoRefusal, tryRequest } from '../demo/runner.ts';
import { outsideSandbox } from '../demo/scope.ts';
import { errorMessage } from '../util.ts';
import { isAdminBearer } from './routes.ts';

export interface DemoRouteOptions {
  runner: DemoRunner;
  adminTokenSha256: string;
  /** POSTs per client address per minute (default 30) */
  perMinute?: number;
  /** client addresses tracked at once (default 5000; the least recent are forgotten) */
  trackedClients?: number;
}

const hide = { hide: true } as const;

function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message } });
}

/** A refusal of the demo's (400/403/404/409) as its status; anything else is the server's fault. */
function failWith(reply: FastifyReply, err: unknown) {
  if (err instanceof DemoRefusal) return fail(reply, err.status, err.code, err.message);
  return fail(reply, 500, 'internal_error', errorMessage(err));
}

export async function registerDemoRoutes(app: FastifyInstance, o: DemoRouteOptions): Promise<void> {
  const { runner } = o;
  await app.register(async (scope) => {
    await scope.register(rateLimit, {
      global: false,
      cache: o.trackedClients ?? 5000,
      errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: { code: 'rate_limited', message: `at most ${ctx.max} demo requests per minute from one address; retry in ${ctx.after}` } }),
    });
    const limited = { rateLimit: { max: o.perMinute ?? 30, timeWindow: 60_000 } };

    scope.get('/console/api/demo', { schema: hide }, async () => runner.overview());

    scope.post(
      '/console/api/demo/steps/:id/run',
      { config: limited, schema: { ...hide, params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } } } },
      async (req, reply) => {
        try {
          return await runner.run((req.params as { id: string }).id);
        } catch (err) {
          return failWith(reply, err);
        }
      },
    );

    scope.post(
      '/console/api/demo/approvals/:approvalId',
      {
        config: limited,
        schema: {
          ...hide,
          params: { type: 'object', properties: { approvalId: { type: 'string', maxLength: 128 } } },
          body: { type: 'object', required: ['approve'], additionalProperties: false, properties: { approve: { type: 'boolean' } } },
        },
      },
      async (req, reply) => {
        try {
          return await runner.decide((req.params as { approvalId: string }).approvalId, (req.body as { approve: boolean }).approve);
        } catch (err) {
          return failWith(reply, err);
        }
      },
    );

    scope.post('/console/api/demo/try', { config: limited, schema: hide }, async (req: FastifyRequest, reply) => {
      let r;
      try {
        r = tryRequest(req.body);
      } catch (err) {
        return failWith(reply, err);
      }
      // a credential sent must be the admin's, also for a sandbox request: a wrong one is never ignored
      const header = req.headers.authorization;
      if (header !== undefined && !isAdminBearer(header, o.adminTokenSha256)) return fail(reply, 403, 'forbidden', 'the credential given is not the admin credential');
      const outside = outsideSandbox(runner.scope, r);
      if (outside !== null && header === undefined) {
          reply.header('www-authenticate', 'Bearer');
        return fail(reply, 401, 'unauthorized', `${outside}: an anonymous visitor may try only the sandbox; give the admin credential (Authorization: Bearer …) for anything else`);
      }
      try {
        return await runner.try(r);
      } catch (err) {
        return failWith(reply, err);
      }
    });
  });
}

/**
 * GET /console/api/explain?q=<decision id | jti | ledger index>: one recorded decision
 * explained (src/audit/explain.ts, docs/explain.md), for the console's Ledger page. A read
 * like the console's others: public, no secret (what the ledger entry itself shows, and
 * the recorded bundle's policy text), under the same security headers.
 *
 * The server holds no pinned authority keys of its own here, so it re-decides only under
 * the bundle its node has loaded (verified at activation) when that is the recorded one;
 * for any other it says so, and `writ explain` on the home verifies and uses it.
 */
import type { FastifyInstance } from 'fastify';
import { ExplainError, explain, type ExplainDeps } from '../audit/explain.ts';
import { CONSOLE_CSP } from './routes.ts';

export type ExplainRouteDeps = Omit<ExplainDeps, 'trust'> & { trust?: ExplainDeps['trust'] };

const STATUS: Record<ExplainError['code'], number> = { explain_not_found: 404, explain_not_a_decision: 404, explain_query_invalid: 400 };

export async function registerExplainRoutes(app: FastifyInstance, deps: ExplainRouteDeps): Promise<void> {
  const d: ExplainDeps = { ...deps, trust: deps.trust ?? null };
  await app.register(
    async (scope) => {
      scope.addHook('onSend', async (_req, reply, payload) => {
        reply.header('content-security-policy', CONSOLE_CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
        return payload;
      });
      scope.get(
        '/console/api/explain',
        {
          schema: {
            hide: true,
            querystring: { type: 'object', required: ['q'], additionalProperties: false, properties: { q: { type: 'string', minLength: 1, maxLength: 128 } } },
          },
        },
        async (req, reply) => {
          try {
            return await explain(d, (req.query as { q: string }).q);
          } catch (err) {
            if (err instanceof ExplainError) return reply.code(STATUS[err.code]).send({ error: err.code, message: err.message });
            throw err;
          }
        },
      );
    },
    { logLevel: 'warn' },
  );
}

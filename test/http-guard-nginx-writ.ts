/**
 * The Writ side of the nginx test: a home with a policy for the upstream `orders`, and the
 * forward-auth endpoint nginx's auth_request calls.
 *
 * STAND-IN until src/server/forward-auth.ts lands: a node:http endpoint over the home's node
 * (node.authorize with httpAction / httpArgs, as the contract in writ/http-request.ts says).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';
import { httpAction, httpArgs, parseRequestTarget, WRIT_HEADER } from '../src/writ/http-request.ts';
import { fixture, policyFolder } from './helpers.ts';

export const AUDIENCE = 'orders';

export const POLICY = `
@id("alice-reads-orders")
permit (principal == User::"alice", action == Action::"http:GET", resource == Route::"orders");
@id("alice-posts-orders")
permit (principal == User::"alice", action == Action::"http:POST", resource == Route::"orders");
`;

export interface WritSide {
  port: number;
  authPath: string;
  jwks: JSONWebKeySet;
  /** the request headers that authenticate `who` to the forward-auth endpoint */
  credential(who: string): Record<string, string>;
  stop(): Promise<void>;
}

export async function startWrit(_dir: string): Promise<WritSide> {
  const f = await fixture({ policyDir: policyFolder({ 'p.cedar': POLICY }) });
  const server = createServer((req, res) => {
    void (async () => {
      const auth = req.headers.authorization ?? '';
      const m = /^Bearer (\w+)$/.exec(auth);
      if (!m) {
        res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
        return;
      }
      const method = String(req.headers['x-original-method'] ?? '');
      const { path, query } = parseRequestTarget(String(req.headers['x-original-uri'] ?? '/'));
      const d = await f.node.authorize({
        principal: `User::${JSON.stringify(m[1])}`,
        action: httpAction(method),
        resource: 'Route::"orders"',
        args: httpArgs({ method, host: String(req.headers.host ?? ''), path, query, bodyDigest: null }),
        audience: AUDIENCE,
      });
      if (d.decision === 'allow' && d.writ) res.writeHead(200, { [WRIT_HEADER]: d.writ }).end();
      else res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: d.reasons[0], decisionId: d.decisionId }));
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let stopped = false;
  return {
    port: (server.address() as AddressInfo).port,
    authPath: '/v1/forward-auth',
    jwks: f.jwks,
    credential: (who) => ({ authorization: `Bearer ${who}` }),
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      f.cleanup();
    },
  };
}

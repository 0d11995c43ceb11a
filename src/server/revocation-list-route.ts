/**
 * GET /v1/revocations: the signed revocation list (docs/revocation-list.md) for executors that
 * verify writs on their own. The body is the compact JWS (`application/jwt`); the ETag is the
 * one embedded in the list, so `If-None-Match` with the held list's ETag is answered 304 until
 * a revocation is added or the list is re-signed. A node that cannot vouch for its revocations
 * (a stale fleet node, no list from the authority yet) answers 503 stale_policy: an executor
 * keeps its list until it expires, then refuses.
 *
 * Unauthenticated, like the log: it names jtis, principals, nodes and bundle versions, which
 * the public log holds already.
 */
import type { FastifyInstance } from 'fastify';
import type { GovernanceNode } from '../node/node.ts';
import { RevocationListSigner, type SignedRevocationList } from '../node/revocation-list.ts';
import type { RevocationReader } from '../node/state.ts';
import { errorMessage } from '../util.ts';

/** An embedded node signs its own list with its writ key (a distinct typ: a list never passes as a writ). */
export function embeddedRevocationList(node: GovernanceNode, state: Pick<RevocationReader, 'revocationsSince'>, ttlSeconds?: number): () => Promise<SignedRevocationList> {
  const signer = new RevocationListSigner({
    issuer: node.identity.nodeId,
    key: { kid: node.identity.kid, key: node.identity.privateKey },
    since: (s) => state.revocationsSince(s),
    stale: () => node.staleness(),
    now: () => node.now(),
    ...(ttlSeconds !== undefined && { ttlSeconds }),
  });
  return () => signer.current();
}

export function registerRevocationListRoute(app: FastifyInstance, source: () => Promise<SignedRevocationList>): void {
  app.get('/v1/revocations', { schema: { tags: ['keys'], description: 'the signed revocation list (docs/revocation-list.md); If-None-Match with its embedded ETag' } }, async (req, reply) => {
    let list: SignedRevocationList;
    try {
      list = await source();
    } catch (err) {
      return reply.code(503).header('cache-control', 'no-store').send({ error: 'stale_policy', message: errorMessage(err) });
    }
    void reply.header('etag', list.etag).header('cache-control', 'no-cache');
    const inm = req.headers['if-none-match'];
    // RFC 9110 §13.1.2: weak comparison, and `*` matches any current list
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === list.etag)) return reply.code(304).send();
    return reply.type('application/jwt').send(list.jws);
  });
}

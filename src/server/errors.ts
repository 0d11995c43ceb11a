/** JSON errors with stable codes for every server Writ runs; an internal error never leaks its message. */
import type { FastifyInstance } from 'fastify';

export function installJsonErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'internal error');
    const code = err.validation ? 'invalid_request' : status === 413 ? 'body_too_large' : status === 415 ? 'unsupported_media_type' : status === 500 ? 'internal_error' : 'bad_request';
    void reply.code(status).send({ error: code, message: status === 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((req, reply) => void reply.code(404).send({ error: 'not_found', message: `${req.method} ${req.url} does not exist` }));
}

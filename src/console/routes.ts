/**
 * The web console, served by `writ up`, `writ node` and `writ authority`:
 * the built single-page app under /console/ (Vite output in dist/console, built by
 * `npm run build:console`, which `npm ci` runs through `prepare`) and the JSON reads
 * its pages need under /console/api/.
 *
 * Security: every read is public and carries no secret (no key, no token, no private
 * material); the two mutating actions, deciding an approval and terminating a running
 * execution (revoking its writ), need the admin bearer credential, checked before the
 * body is read, exactly as the admin API does. Every response in this scope carries a
 * strict Content-Security-Policy (same-origin scripts, styles and connections only, no
 * inline script, no framing), so the pages can load nothing from any other host.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sha256Hex } from '../util.ts';
import type { ConsoleSource } from './source.ts';

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export const DEFAULT_ASSETS_DIR = resolve(import.meta.dirname, '..', '..', 'dist', 'console');


export interface ConsoleDeps {
  source: ConsoleSource;
  adminTokenSha256: string;
  /** where the built console is (default dist/console) */
  consoleAssets?: string;
}

const index = { type: 'string', pattern: '^[0-9]{1,16}$' } as const;
const hide = { hide: true } as const;

/** Whether an Authorization header carries the admin credential (compared as SHA-256 digests, in constant time). */
export function isAdminBearer(header: string | undefined, expectedSha256: string): boolean {
  const h = header ?? '';
  const token = h.startsWith('Bearer ') ? h.slice(7).trim() : '';
  const given = Buffer.from(sha256Hex(token), 'hex');
  const expected = Buffer.from(expectedSha256, 'hex');
  return token !== '' && given.length === expected.length && timingSafeEqual(given, expected);
}

function adminCheck(expectedSha256: string) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (!isAdminBearer(req.headers.authorization, expectedSha256)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'admin credential required' });
    }
  };
}

async function sendAsset(reply: FastifyReply, dir: string, rel: string) {
  const root = resolve(dir);
  const file = resolve(root, rel);
  const type = CONTENT_TYPES[extname(file)];
  if (!type || !/^[A-Za-z0-9._/-]+$/.test(rel) || rel.split('/').includes('..') || !file.startsWith(root + sep)) {
    return reply.code(404).send({ error: 'not_found', message: `no console asset ${rel}` });
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    if (rel === 'index.html') {
      return reply.code(503).send({ error: 'console_not_built', message: 'the console is not built: run `npm run build:console` (npm ci does it)' });
    }
    return reply.code(404).send({ error: 'not_found', message: `no console asset ${rel}` });
  }
  // hashed file names never change; the page itself is always fetched fresh
  const immutable = rel.startsWith('assets/');
  return reply.type(type).header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-store').send(body);
}

function notAvailable(reply: FastifyReply, source: ConsoleSource, what: string) {
  return reply.code(404).send({ error: 'not_available', message: [`this console has no ${what}`, ...source.about.notes].join('. ') });
}

export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const { source } = deps;
  const dir = deps.consoleAssets ?? DEFAULT_ASSETS_DIR;

  // The pages poll every second or so: keep their reads out of the request log (the approval POST stays in it).
  await app.register(async (scope) => {
    scope.addHook('onSend', async (_req, reply, payload) => {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });

    scope.get('/', { schema: hide }, async (_req, reply) => reply.redirect('/console/'));
    scope.get('/console', { schema: hide }, async (_req, reply) => reply.redirect('/console/'));
    scope.get('/console/', { schema: hide }, async (_req, reply) => sendAsset(reply, dir, 'index.html'));
    scope.get('/console/*', { schema: hide }, async (req, reply) => {
      const rel = (req.params as { '*': string })['*'];
      if (rel.startsWith('api/')) return reply.code(404).send({ error: 'not_found', message: `GET /console/${rel} does not exist` });
      return sendAsset(reply, dir, rel);
    });

    scope.get('/console/api/about', { schema: hide }, async () => source.about);
    scope.get('/console/api/governance', { schema: hide }, async () => source.governance());

    scope.get(
      '/console/api/health',
      { schema: { ...hide, querystring: { type: 'object', additionalProperties: false, properties: { seconds: { type: 'string', pattern: '^[0-9]{1,3}$' } } } } },
      async (req) => source.health(Number((req.query as { seconds?: string }).seconds ?? 120)),
    );

    scope.get(
      '/console/api/entries',
      { schema: { ...hide, querystring: { type: 'object', additionalProperties: false, properties: { from: index, limit: { type: 'string', pattern: '^[0-9]{1,3}$' } } } } },
      async (req, reply) => {
        if (!source.ledger) return notAvailable(reply, source, 'ledger');
        const q = req.query as { from?: string; limit?: string };
        const limit = Math.min(Math.max(Number(q.limit ?? 25), 1), 100);
        return source.ledger.entries(q.from === undefined ? undefined : Number(q.from), limit);
      },
    );

    scope.get('/console/api/checkpoints', { schema: hide }, async (_req, reply) => {
      if (!source.ledger) return notAvailable(reply, source, 'ledger');
      return { checkpoints: await source.ledger.checkpoints() };
    });

    scope.get(
      '/console/api/lineage',
      {
        schema: {
          ...hide,
          querystring: {
            type: 'object',
            required: ['q'],
            additionalProperties: false,
            properties: { q: { type: 'string', minLength: 1, maxLength: 1024 }, kind: { type: 'string', enum: ['auto', 'writ', 'principal', 'session'] } },
          },
        },
      },
      async (req, reply) => {
        if (!source.lineage) return notAvailable(reply, source, 'lineage index');
        const q = req.query as { q: string; kind?: 'auto' | 'writ' | 'principal' | 'session' };
        return source.lineage(q.q, q.kind ?? 'auto');
      },
    );

    // A proof file and the exact entry bytes, for the proof viewer to check against the
    // key the user pinned: untrusted input like any other, never a verdict.
    scope.get('/console/api/proof', { schema: { ...hide, querystring: { type: 'object', required: ['index'], additionalProperties: false, properties: { index } } } }, async (req, reply) => {
      if (!source.ledger) return notAvailable(reply, source, 'ledger');
      const p = await source.ledger.proof(Number((req.query as { index: string }).index));
      return 'missing' in p ? reply.code(404).send({ error: 'not_found', message: p.missing }) : p;
    });

    scope.post(
      '/console/api/approvals/:id',
      {
        logLevel: 'info',
        onRequest: adminCheck(deps.adminTokenSha256),
        schema: {
          ...hide,
          params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 128 } } },
          body: {
            type: 'object',
            required: ['decision'],
            additionalProperties: false,
            properties: { decision: { type: 'string', enum: ['approve', 'reject'] }, node: { type: 'string', minLength: 1, maxLength: 128 }, intent: { type: 'string', minLength: 1, maxLength: 128 } },
          },
        },
      },
      async (req, reply) => {
        if (!source.decideApproval) return notAvailable(reply, source, 'approvals to decide: each is decided at the node that holds it');
        const body = req.body as { decision: 'approve' | 'reject'; node?: string; intent?: string };
        const r = await source.decideApproval((req.params as { id: string }).id, body.decision, { ...(body.node && { node: body.node }), ...(body.intent && { intent: body.intent }) });
        return 'approval' in r ? r : reply.code(r.status).send({ error: r.error, message: r.message });
      },
    );

    // Running executions (issue 13): a read like the others (no writ, no arguments), and
    // terminating one — revoking its writ, recorded — needs the admin credential.
    scope.get('/console/api/running', { schema: hide }, async (_req, reply) => {
      if (!source.running) return notAvailable(reply, source, 'running executions: each node lists its own');
      return source.running();
    });

    scope.post(
      '/console/api/running/:jti/terminate',
      {
        logLevel: 'info',
        onRequest: adminCheck(deps.adminTokenSha256),
        schema: {
          ...hide,
          params: { type: 'object', properties: { jti: { type: 'string', minLength: 1, maxLength: 128 } } },
          body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 1024 } } },
        },
      },
      async (req, reply) => {
        if (!source.terminate) return notAvailable(reply, source, "terminations: a fleet node's revocations are signed by the fleet's authority (writ ps --terminate <jti> --home <authority home>)");
        const r = await source.terminate((req.params as { jti: string }).jti, (req.body as { reason?: string } | undefined)?.reason);
        return 'terminated' in r ? r : reply.code(r.status).send({ error: r.error, message: r.message });
      },
    );
  }, { logLevel: 'warn' });
}

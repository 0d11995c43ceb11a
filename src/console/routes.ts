/**
 * The web console, served by `writ up` (and by every server built with buildApp):
 * the built single-page app under /console/ (Vite output in dist/console, built by
 * `npm run build:console`, which `npm ci` runs through `prepare`) and the JSON reads
 * its pages need under /console/api/.
 *
 * Security: every read is public and carries no secret (no key, no token, no private
 * material); the one mutating action, deciding an approval, needs the admin bearer
 * credential, checked before the body is read, exactly as the admin API does. Every
 * response in this scope carries a strict Content-Security-Policy (same-origin
 * scripts, styles and connections only, no inline script, no framing), so the pages
 * can load nothing from any other host.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Ledger } from '../ledger/ledger.ts';
import type { TransparencyLog } from '../ledger/log.ts';
import { formatProofFile } from '../ledger/proof-file.ts';
import { ApprovalStateError, decideApproval } from '../node/approval.ts';
import type { GovernanceNode } from '../node/node.ts';
import type { NodeState } from '../node/state.ts';
import { sha256Hex } from '../util.ts';
import { ActivationHistory, activeBundles, nodeHealth, searchLineage } from './data.ts';
import { DecisionStats } from './stats.ts';

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

const SOFTWARE_VERSION = (() => {
  try {
    return String((JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
})();

export interface ConsoleDeps {
  node: GovernanceNode;
  ledger: Ledger;
  state: NodeState;
  log: TransparencyLog;
  adminTokenSha256: string;
  /** where the built console is (default dist/console) */
  consoleAssets?: string;
  /** a fleet node's status report (beacon age, readiness); embedded nodes have none */
  nodeStatus?: () => Record<string, unknown>;
}

const index = { type: 'string', pattern: '^[0-9]{1,16}$' } as const;
const hide = { hide: true } as const;

function adminCheck(expectedSha256: string) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const given = Buffer.from(sha256Hex(token), 'hex');
    const expected = Buffer.from(expectedSha256, 'hex');
    if (token === '' || given.length !== expected.length || !timingSafeEqual(given, expected)) {
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

export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const { node, ledger, state, log } = deps;
  const dir = deps.consoleAssets ?? DEFAULT_ASSETS_DIR;
  const stats = DecisionStats.observe(node);
  const history = new ActivationHistory();
  const startedAt = new Date().toISOString();

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

    scope.get('/console/api/governance', { schema: hide }, async () => {
      await node.policy.refresh().catch(() => undefined);
      return {
        node: { id: node.identity.nodeId, domain: node.identity.domain },
        bundles: activeBundles(node),
        activations: await history.list(ledger),
        approvals: state.pendingApprovals(),
      };
    });

    scope.get(
      '/console/api/health',
      { schema: { ...hide, querystring: { type: 'object', additionalProperties: false, properties: { seconds: { type: 'string', pattern: '^[0-9]{1,3}$' } } } } },
      async (req) => {
        const seconds = Number((req.query as { seconds?: string }).seconds ?? 120);
        return {
          now: new Date().toISOString(),
          nodes: [nodeHealth(node, { software: SOFTWARE_VERSION, startedAt, ...(deps.nodeStatus && { status: deps.nodeStatus }) })],
          stats: stats.snapshot(seconds),
        };
      },
    );

    scope.get(
      '/console/api/entries',
      { schema: { ...hide, querystring: { type: 'object', additionalProperties: false, properties: { from: index, limit: { type: 'string', pattern: '^[0-9]{1,3}$' } } } } },
      async (req) => {
        const q = req.query as { from?: string; limit?: string };
        const size = ledger.size();
        const limit = Math.min(Math.max(Number(q.limit ?? 25), 1), 100);
        const from = q.from === undefined ? Math.max(0, size - limit) : Number(q.from);
        const cp = log.latestCheckpoint();
        const entries = ledger.entries(from, limit).map((e) => ({ index: e.index, type: e.type, leaf: new TextDecoder().decode(e.leaf) }));
        return { size, checkpoint: cp ? { size: cp.size, created: cp.created } : null, entries };
      },
    );

    scope.get('/console/api/checkpoints', { schema: hide }, async () => {
      const all = log.checkpoints();
      return { checkpoints: all.slice(-50).reverse().map((c) => ({ size: c.size, created: c.created, note: c.note })) };
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
      async (req) => {
        const q = req.query as { q: string; kind?: 'auto' | 'writ' | 'principal' | 'session' };
        return searchLineage(ledger, q.q, q.kind ?? 'auto');
      },
    );

    // A proof file and the exact entry bytes, for the proof viewer to check against the
    // key the user pinned: untrusted input like any other, never a verdict.
    scope.get('/console/api/proof', { schema: { ...hide, querystring: { type: 'object', required: ['index'], additionalProperties: false, properties: { index } } } }, async (req, reply) => {
      const i = Number((req.query as { index: string }).index);
      const cp = log.latestCheckpoint();
      const entry = log.entry(i);
      if (!entry) return reply.code(404).send({ error: 'not_found', message: `no entry ${i}` });
      if (!cp || cp.size <= i) return reply.code(404).send({ error: 'not_found', message: `no signed checkpoint covers entry ${i} yet` });
      return { index: i, proof: formatProofFile({ index: i, proof: log.inclusionProof(i, cp.size), checkpoint: cp.note }), entry: new TextDecoder().decode(entry) };
    });

    scope.post(
      '/console/api/approvals/:id',
      {
        logLevel: 'info',
        onRequest: adminCheck(deps.adminTokenSha256),
        schema: {
          ...hide,
          params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 128 } } },
          body: { type: 'object', required: ['decision'], additionalProperties: false, properties: { decision: { type: 'string', enum: ['approve', 'reject'] } } },
        },
      },
      async (req, reply) => {
        const id = (req.params as { id: string }).id;
        const decision = (req.body as { decision: 'approve' | 'reject' }).decision;
        try {
          const a = await decideApproval(ledger, state, id, decision === 'approve' ? 'approved' : 'rejected', 'console-admin');
          return { approval: a };
        } catch (err) {
          if (!(err instanceof ApprovalStateError)) throw err;
          const missing = state.approval(id) === null;
          return reply.code(missing ? 404 : 409).send({ error: missing ? 'unknown_approval' : 'approval_not_pending', message: err.message });
        }
      },
    );
  }, { logLevel: 'warn' });
}

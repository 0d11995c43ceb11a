/**
 * Time and size limits of every HTTP server Writ runs (the node API, the authority's
 * server, `writ mcp --listen`), so that a client cannot hold a connection, a parser or
 * a buffer for long by sending slowly or never finishing (docs/bounds.md).
 *
 * Node's own defaults are not enough: Fastify sets `requestTimeout` to 0 (none), and
 * Node checks the request and header timeouts only every 30 s.
 */
import type { ServerOptions } from 'node:http';

/** the whole request line and headers must arrive within this */
export const MAX_HEADERS_MS = 5_000;
/**
 * the whole request, headers and body, must arrive within this; bodies are at most
 * 64 KiB (16 MiB for an admin's bundle upload, which then needs ≥ 1.6 MB/s)
 */
export const MAX_REQUEST_MS = 10_000;
/** how often Node checks the two timeouts above (its default, 30 s, would add up to 30 s to each) */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/**
 * an idle keep-alive connection is closed after this: Fastify's default, above the 60 s
 * idle timeout of common proxies and load balancers, so that the proxy closes first
 * and never sends a request on a connection being closed
 */
export const MAX_KEEP_ALIVE_MS = 72_000;
/** a socket with no traffic at all (e.g. a client that stopped reading its response) is destroyed after this */
export const MAX_IDLE_SOCKET_MS = 80_000;
/** request line plus headers (Node's default, stated so it does not drift) */
export const MAX_HEADER_BYTES = 16 * 1024;
/** a URL path parameter (the longest, a jti, is at most 128 characters by its schema) */
export const MAX_PARAM_LENGTH = 128;

/** the options of `http.createServer` that carry the limits above */
export const HTTP_SERVER_LIMITS: ServerOptions = {
  headersTimeout: MAX_HEADERS_MS,
  requestTimeout: MAX_REQUEST_MS,
  connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  keepAliveTimeout: MAX_KEEP_ALIVE_MS,
  maxHeaderSize: MAX_HEADER_BYTES,
};

/**
 * The same limits as Fastify constructor options. Fastify applies its own
 * `requestTimeout`, `keepAliveTimeout` and `connectionTimeout` to the server after
 * creating it with `http`, so they are given both ways and agree.
 */
export const FASTIFY_LIMITS = {
  requestTimeout: MAX_REQUEST_MS,
  keepAliveTimeout: MAX_KEEP_ALIVE_MS,
  connectionTimeout: MAX_IDLE_SOCKET_MS,
  routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  http: HTTP_SERVER_LIMITS,
} as const;

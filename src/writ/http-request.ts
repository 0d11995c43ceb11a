/**
 * The HTTP request a writ is bound to: the one contract between the forward-auth enforcement
 * point (server/forward-auth.ts, server/ext-authz-grpc.ts), which asks for the writ on the
 * gateway's behalf, and the upstream middleware (writ/http-guard), which verifies it against the
 * request it actually received. Both sides build the writ's args with `httpArgs`, so a writ for
 * one request never verifies for another.
 *
 * Standalone like the rest of writ/: node:crypto or WebCrypto (sync-crypto.ts), so it runs in executors and browsers.
 *
 * What is bound (docs/http-gateway.md):
 * - method, upper-case;
 * - path, the URL path exactly as received (not decoded, not normalised: `/a/../b` and
 *   `/a%2Fb` are different paths, so the gateway and the upstream must see the same bytes);
 *   an empty path is "/";
 * - query, the raw query string without "?" ("" if none), not reordered or decoded;
 * - bodyDigest, `sha-256=:<base64>:` (RFC 9530 Content-Digest) of the exact body bytes, or
 *   null when the authorizer did not see the body (nginx auth_request never forwards it).
 * The host is not bound: the upstream often sees a rewritten Host. It is a request fact only
 * (context.http.host), for policies to read. The audience (the route's upstream service) is.
 */
import { sha256 } from './sync-crypto.ts';

/** The response header carrying the writ from the forward-auth endpoint; the gateway copies it upstream. */
export const WRIT_HEADER = 'x-writ';

export interface HttpFacts {
  /** Upper-case, e.g. `GET`. */
  method: string;
  /** The Host (or :authority) the gateway received; not bound in the writ. */
  host: string;
  /** The URL path without the query, exactly as received; "/" when empty. */
  path: string;
  /** The raw query string without "?"; "" when there is none. */
  query: string;
  /** RFC 9530 `sha-256=:<base64>:` of the exact body bytes; null when the body is unknown. */
  bodyDigest: string | null;
}

/** The writ's args for an HTTP request: what the upstream checks against what it received. */
export interface HttpArgs {
  http: { method: string; path: string; query: string; bodyDigest: string | null };
}

/** `Action::"http:<METHOD>"`, the method upper-cased. */
export function httpAction(method: string): string {
  return `Action::${JSON.stringify(`http:${method.toUpperCase()}`)}`;
}

/** The args both sides bind: method, path, query and body digest; never the host. */
export function httpArgs(f: HttpFacts): HttpArgs {
  return { http: { method: f.method.toUpperCase(), path: f.path === '' ? '/' : f.path, query: f.query, bodyDigest: f.bodyDigest } };
}

/** RFC 9530 Content-Digest value (`sha-256=:<base64>:`) of the exact bytes. */
export async function bodyDigest(bytes: Uint8Array): Promise<string> {
  const digest = await sha256(bytes);
  let bin = '';
  for (const b of digest) bin += String.fromCharCode(b);
  return `sha-256=:${btoa(bin)}:`;
}

/**
 * Splits a request target (`/p/a?x=1#f`, or an absolute-form `https://h/p?x`) into the raw
 * path and query, without decoding either. A fragment is dropped (never sent on the wire, but
 * some gateways pass it through in X-Forwarded-Uri). An empty path is "/".
 */
export function parseRequestTarget(target: string): { path: string; query: string } {
  let t = target;
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  // absolute-form (RFC 9112 §3.2.2): drop scheme://authority, keep the rest as is
  const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(t);
  if (abs) t = t.slice(abs[0].length);
  const q = t.indexOf('?');
  const path = q >= 0 ? t.slice(0, q) : t;
  const query = q >= 0 ? t.slice(q + 1) : '';
  return { path: path === '' ? '/' : path, query };
}

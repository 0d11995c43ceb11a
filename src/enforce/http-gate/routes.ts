/**
 * The route table: which configured route an HTTP request is (its Cedar resource and the
 * writ's audience), and the path check that comes before it. Matching is on the raw path, as
 * the writ binds it; a path whose meaning an upstream could read differently from its bytes
 * (dot segments, an encoded slash or backslash) is refused rather than matched, so that
 * `/public/../admin` can never be decided as a `/public/` route and then run as `/admin`.
 */
import type { HttpFacts } from '../../writ/http-request.ts';
import type { GateRoute } from './config.ts';

/** Why the path cannot be matched as it reads, or null if it can. */
export function pathProblem(path: string): string | null {
  if (!path.startsWith('/')) return 'the path does not start with "/"';
  // control characters and raw spaces never belong in a request target (RFC 9112 §3.2)
  for (const ch of path) {
    const c = ch.charCodeAt(0);
    if (c <= 0x20 || c === 0x7f) return 'the path holds a control character or space';
  }
  if (path.includes('\\')) return 'the path holds a backslash, which some servers read as "/"';
  if (/%(?:2f|5c|00)/i.test(path)) return 'the path holds an encoded "/", "\\" or NUL, which servers decode differently';
  for (const segment of path.split('/')) {
    const decoded = segment.replace(/%2e/gi, '.');
    if (decoded === '.' || decoded === '..') return 'the path holds a "." or ".." segment (plain or percent-encoded)';
  }
  return null;
}

function hostMatches(routeHost: string, host: string): boolean {
  const h = host.toLowerCase();
  if (routeHost.includes(':') && !routeHost.startsWith('[')) return h === routeHost;
  if (routeHost.startsWith('[')) return h === routeHost || h.replace(/:\d+$/, '') === routeHost;
  return h.replace(/:\d+$/, '') === routeHost;
}

/** The first route, in the table's order, that covers the request; null if none does. */
export function matchRoute(routes: readonly GateRoute[], f: Pick<HttpFacts, 'method' | 'host' | 'path'>): GateRoute | null {
  for (const r of routes) {
    if (r.host !== null && !hostMatches(r.host, f.host)) continue;
    if (r.methods !== null && !r.methods.includes(f.method)) continue;
    if (r.path !== null ? f.path !== r.path : !f.path.startsWith(r.pathPrefix ?? '\u0000')) continue;
    return r;
  }
  return null;
}

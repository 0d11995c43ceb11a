/**
 * The demo page's requests (src/demo/contract.ts): same-origin JSON under
 * /console/api/demo. The demo's errors are `{ error: { code, message } }`; they are
 * thrown as DemoError with the HTTP status (and Retry-After for 429) so the page can
 * say clearly what was refused and why. An optional bearer token (the admin
 * credential, for "try your own" beyond the sandbox) goes only to these routes.
 */
import { h } from '../dom.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { DemoChain, DemoOverview, DemoStepId, DemoTryRequest } from '../../../demo/contract.ts';

export class DemoError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfter: string | null;
  constructor(status: number, code: string, message: string, retryAfter: string | null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

function errorOf(status: number, body: unknown, fallback: string, retryAfter: string | null): DemoError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const e = b.error;
  // the demo's shape { error: { code, message } }; the console's older { error, message } too
  if (typeof e === 'object' && e !== null) {
    const o = e as Record<string, unknown>;
    return new DemoError(status, String(o.code ?? 'error'), String(o.message ?? fallback), retryAfter);
  }
  return new DemoError(status, typeof e === 'string' ? e : 'error', typeof b.message === 'string' ? b.message : fallback, retryAfter);
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<T> {
  if (!path.startsWith('/console/api/demo')) throw new Error('the demo page talks only to /console/api/demo');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit', ...(body !== undefined && { body: JSON.stringify(body) }) });
  const parsed: unknown = await res.json().catch(() => null);
  if (!res.ok) throw errorOf(res.status, parsed, res.statusText, res.headers.get('retry-after'));
  return parsed as T;
}

export const demoApi = {
  overview: (): Promise<DemoOverview> => call('GET', '/console/api/demo'),
  run: (id: DemoStepId): Promise<DemoChain> => call('POST', `/console/api/demo/steps/${encodeURIComponent(id)}/run`, {}),
  decide: (approvalId: string, approve: boolean, token?: string): Promise<DemoChain> => call('POST', `/console/api/demo/approvals/${encodeURIComponent(approvalId)}`, { approve }, token),
  try: (req: DemoTryRequest, token?: string): Promise<DemoChain> => call('POST', '/console/api/demo/try', req, token),
};

/** What went wrong, for the page: the status, the code, the message, and when to retry. */
export function describeError(err: unknown): { status: string; text: string } {
  if (err instanceof DemoError) {
    const why = err.status === 401 ? 'not allowed without a credential' : err.status === 403 ? 'not allowed' : err.status === 429 ? 'rate limited' : err.status === 400 ? 'bad request' : err.status === 409 ? 'busy' : err.status === 404 ? 'not found' : 'error';
    const retry = err.status === 429 && err.retryAfter ? ` — try again in ${err.retryAfter} s` : '';
    return { status: String(err.status), text: `${err.status} ${why} (${err.code}): ${err.message}${retry}` };
  }
  return { status: 'client', text: err instanceof Error ? err.message : String(err) };
}

/** The error as a line on the page, its status in data-status (400, 401, 403, 429, …, or `client`). */
export function errorLine(err: unknown, cls: string): HTMLElement {
  const e = describeError(err);
  return h('div', { class: `error ${cls}`, dataset: { status: e.status } }, e.text);
}

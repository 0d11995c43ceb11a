/**
 * Talking to the node: same-origin GETs for what the pages show, and the admin
 * credential for mutating POSTs. The credential is typed in by the user, kept in
 * sessionStorage (this tab only, never localStorage, never a cookie) and sent only
 * in the Authorization header of same-origin POSTs to /console/api/.
 */
const TOKEN_KEY = 'writ.adminToken';

function sameOrigin(path: string): string {
  const url = new URL(path, window.location.origin);
  if (url.origin !== window.location.origin) throw new Error(`refusing to contact ${url.origin}`);
  return url.pathname + url.search;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function parse<T>(res: Response): Promise<T> {
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const msg = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : res.statusText;
    throw new ApiError(res.status, `${res.status}: ${msg}`);
  }
  return body as T;
}

export async function getJson<T>(path: string): Promise<T> {
  return parse<T>(await fetch(sameOrigin(path), { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'omit' }));
}

export async function getText(path: string): Promise<string> {
  const res = await fetch(sameOrigin(path), { cache: 'no-store', credentials: 'omit' });
  if (!res.ok) throw new ApiError(res.status, `${res.status}: ${await res.text()}`);
  return res.text();
}

export async function getBytes(path: string): Promise<Uint8Array> {
  const res = await fetch(sameOrigin(path), { cache: 'no-store', credentials: 'omit' });
  if (!res.ok) throw new ApiError(res.status, `${res.status}: ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}

export const adminToken = {
  get: (): string => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (t: string): void => sessionStorage.setItem(TOKEN_KEY, t.trim()),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export async function adminPost<T>(path: string, body: unknown): Promise<T> {
  const target = sameOrigin(path);
  if (!target.startsWith('/console/api/')) throw new Error('the admin credential goes only to the console API');
  const token = adminToken.get();
  if (!token) throw new Error('enter the admin credential first');
  return parse<T>(
    await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    }),
  );
}

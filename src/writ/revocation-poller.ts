/**
 * Keeps an executor's revocation list current by polling a node's `GET /v1/revocations`
 * (docs/revocation-list.md) with `If-None-Match` set to the held list's embedded ETag.
 *
 * Only a list that verifies replaces the held one, and never with a lower version (`seq`) or
 * an older signature of the same version: a server (or a network attacker replaying an old
 * response) cannot roll revocations back. A failed poll keeps the held list, which expires on
 * its own; from then on `current()` is an expired list and verifyWrit refuses (stale_policy).
 *
 * Standalone: global `fetch` and `jose` only.
 */
import type { JSONWebKeySet } from 'jose';
import { verifyRevocationList, type RevocationList } from './revocation-list.ts';

/** a list larger than this is refused (bounded memory: a hostile server cannot grow the executor) */
const MAX_LIST_BYTES = 8 * 1024 * 1024;

export interface RevocationListPollerOptions extends RevocationListHolderOptions {
  /** e.g. `http://127.0.0.1:8700/v1/revocations` */
  url: string;
  /** poll period (default 10 s); keep it well under the list's lifetime */
  intervalMs?: number;
  /** headers sent with each poll (e.g. an Authorization header) */
  headers?: Record<string, string>;
  /** told of each failed poll (the held list stays until it expires) */
  onError?: (err: Error) => void;
}

export interface RevocationListHolderOptions {
  /** the signer's pinned keys (node JWKS when embedded, the authority's in a fleet) */
  keys: JSONWebKeySet;
  /** when given, the list must be issued by exactly this signer */
  issuer?: string;
  /** the time a list is judged at (default: the system clock); a node passes its governance time */
  now?: () => Date;
}

/** The newest verified list; an older one offered later is refused (no rollback). */
export class RevocationListHolder {
  private held: RevocationList | null = null;
  private readonly trust: RevocationListHolderOptions;

  constructor(o: RevocationListHolderOptions) {
    this.trust = o;
  }

  /** The newest verified list, or null before the first one arrived (verifyWrit then refuses). */
  readonly current = (): RevocationList | null => this.held;

  /** Offers a list (a poll's body, a file, a message on the fleet bus): kept only if it verifies and is not older than the held one. */
  async offer(jws: string): Promise<RevocationList> {
    const list = await verifyRevocationList(jws, { keys: this.trust.keys, ...(this.trust.issuer !== undefined && { issuer: this.trust.issuer }), ...(this.trust.now && { now: this.trust.now() }) });
    const h = this.held;
    if (h !== null && (list.claims.seq < h.claims.seq || (list.claims.seq === h.claims.seq && list.claims.iat < h.claims.iat))) {
      throw new Error(`revocation list version ${list.claims.seq} (signed ${list.claims.iat}) is older than the held version ${h.claims.seq} (signed ${h.claims.iat}): refused`);
    }
    this.held = list;
    return list;
  }
}

export class RevocationListPoller extends RevocationListHolder {
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly o: RevocationListPollerOptions;

  constructor(o: RevocationListPollerOptions) {
    super(o);
    this.o = o;
  }

  /** One poll: 304 keeps the held list, 200 offers the body; anything else is an error. */
  async refresh(): Promise<RevocationList> {
    const headers: Record<string, string> = { accept: 'application/jwt', ...this.o.headers };
    const held = this.current();
    if (held) headers['if-none-match'] = held.etag;
    const res = await fetch(this.o.url, { headers, signal: AbortSignal.timeout(5000) });
    if (res.status === 304 && held) return held;
    if (res.status !== 200) throw new Error(`GET ${this.o.url}: HTTP ${res.status}`);
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_LIST_BYTES) throw new Error(`GET ${this.o.url}: a list of ${length} bytes is over ${MAX_LIST_BYTES}`);
    const text = await res.text();
    if (text.length > MAX_LIST_BYTES) throw new Error(`GET ${this.o.url}: a list of ${text.length} bytes is over ${MAX_LIST_BYTES}`);
    return this.offer(text);
  }

  /** Polls now and then every intervalMs; resolves after the first poll (rejects if it failed). */
  async start(): Promise<RevocationList> {
    this.stop();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.o.onError?.(err instanceof Error ? err : new Error(String(err))));
    }, this.o.intervalMs ?? 10_000);
    // Node: do not keep the process alive for the poller (browsers' timers are numbers)
    const timer: unknown = this.timer;
    if (typeof timer === 'object' && timer !== null && 'unref' in timer && typeof timer.unref === 'function') timer.unref();
    return this.refresh();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

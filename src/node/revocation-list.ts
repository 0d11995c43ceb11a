/**
 * Signing the revocation list (format in src/writ/revocation-list.ts, docs/revocation-list.md).
 * Kept apart from verification, which executors run without anything of this module.
 *
 * A RevocationListSigner holds the signed list and signs a new one only when a revocation was
 * added (the list's `seq` moves) or half its lifetime has passed; every poll in between gets
 * the same bytes and the same ETag, so a poller's `If-None-Match` is answered 304.
 */
import type { CryptoKey, KeyObject } from 'jose';
import { signTyped } from '../writ/sign-typed.ts';
import { REVOCATION_LIST_TYP, revocationListEtag, type RevocationListClaims, type RevokedKind } from '../writ/revocation-list.ts';
import { MAX_REVOCATION_LIST_LIFETIME_SECONDS } from '../writ/revocation-list.ts';
import { WritError } from '../writ/errors.ts';
import { systemClock } from '../clock.ts';

/** default lifetime of a signed list: how long an executor cut off from its node can go on accepting writs */
export const REVOCATION_LIST_TTL_SECONDS = 60;

export interface SignedRevocationList {
  jws: string;
  etag: string;
  claims: RevocationListClaims;
}

export async function signRevocationList(claims: RevocationListClaims, key: { kid: string; key: CryptoKey | KeyObject }): Promise<string> {
  return signTyped(claims, REVOCATION_LIST_TYP, key);
}

export interface RevocationListSignerOptions {
  /** the signer's name in `iss`: a node id, or `authority:<fleet>` */
  issuer: string;
  key: { kid: string; key: CryptoKey | KeyObject };
  /** revocations after sequence `since`, in order (RevocationReader.revocationsSince, or the authority's view) */
  since: (since: number) => { seq: number; kind: RevokedKind; value: string }[];
  /** why the signer cannot vouch for its revocations now (a stale fleet node), else null: then nothing is signed */
  stale?: () => string | null;
  ttlSeconds?: number;
  /** governance time: the list's iat and exp (default: the system clock) */
  now?: () => Date;
}

export class RevocationListStaleError extends WritError {
  override name = 'RevocationListStaleError';
  constructor(message: string, options?: ErrorOptions) {
    super('stale_policy', message, options);
  }
}

export class RevocationListSigner {
  private readonly o: RevocationListSignerOptions;
  private readonly entries: { kind: RevokedKind; value: string }[] = [];
  private readonly seen = new Set<string>();
  private seq = 0;
  private signed: Promise<SignedRevocationList> | null = null;
  private signedAt = 0;
  private readonly ttl: number;

  constructor(o: RevocationListSignerOptions) {
    this.ttl = o.ttlSeconds ?? REVOCATION_LIST_TTL_SECONDS;
    if (!Number.isSafeInteger(this.ttl) || this.ttl < 2 || this.ttl > MAX_REVOCATION_LIST_LIFETIME_SECONDS) {
      throw new RangeError(`revocation list lifetime ${String(o.ttlSeconds)} s: between 2 and ${MAX_REVOCATION_LIST_LIFETIME_SECONDS} s`);
    }
    this.o = o;
  }

  /** The current signed list: re-signed if a revocation arrived or half its lifetime is over. */
  async current(): Promise<SignedRevocationList> {
    const stale = this.o.stale?.() ?? null;
    if (stale !== null) throw new RevocationListStaleError(`this node cannot vouch for its revocations: ${stale}`);
    let grew = false;
    for (const r of this.o.since(this.seq)) {
      const k = `${r.kind}\u0000${r.value}`;
      if (!this.seen.has(k)) {
        this.seen.add(k);
        this.entries.push({ kind: r.kind, value: r.value });
      }
      this.seq = Math.max(this.seq, r.seq);
      grew = true;
    }
    const now = Math.floor((this.o.now?.().getTime() ?? systemClock.now()) / 1000);
    // decided before any await: a call right after a revocation never answers the older list
    if (grew || this.signed === null || now >= this.signedAt + Math.floor(this.ttl / 2)) {
      const claims: RevocationListClaims = { v: 1, iss: this.o.issuer, seq: this.seq, iat: now, exp: now + this.ttl, entries: [...this.entries] };
      const signing = signRevocationList(claims, this.o.key).then((jws) => ({ jws, etag: revocationListEtag(claims), claims }));
      this.signed = signing;
      this.signedAt = now;
      signing.catch(() => {
        if (this.signed === signing) this.signed = null; // the next call signs again
      });
    }
    return this.signed as Promise<SignedRevocationList>;
  }
}

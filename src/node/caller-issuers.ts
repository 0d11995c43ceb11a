/**
 * OIDC issuers whose bearer JWTs are caller credentials for the decision API (issue 10,
 * point 1; docs/http-api.md, "Callers and credentials"). A configured issuer says: a JWT
 * signed by one of this issuer's keys, for this audience, makes its `sub` a caller that may
 * assert exactly the principal `<principalType>::"<sub>"`, with these roles.
 *
 * Stored in the home's state.db (table `caller_issuers`), like the `callers` tokens. Removing
 * an issuer marks its row removed (the row stays, for the record); the node reads the live
 * rows at every request, so a removal by another process takes effect at the next request.
 * The keys are either a JWKS copied into the row at `add` (a file: nothing to fetch, and the
 * file can move), a `jwks_uri`, or neither: then they are discovered through
 * `<issuer>/.well-known/openid-configuration` when first needed.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { CALLER_ROLES, CallerError, type CallerRole } from './callers.ts';
import { systemClock } from '../clock.ts';

/** Asymmetric JWS algorithms only: an HMAC key would be a shared secret, and `none` is no signature. */
export const ISSUER_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type IssuerAlgorithm = (typeof ISSUER_ALGORITHMS)[number];
export const DEFAULT_ALGORITHMS: readonly IssuerAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

/** A JSON Web Key Set as stored: public keys only. */
export interface StoredJwks {
  keys: Record<string, unknown>[];
}

export interface CallerIssuer {
  /** unique per added configuration (a re-added name gets a new id, so cached keys never outlive it) */
  id: number;
  name: string;
  /** the `iss` claim, compared exactly */
  issuer: string;
  /** the `aud` the token must carry */
  audience: string;
  /** where the keys are fetched from; null with `jwks` or for discovery */
  jwksUri: string | null;
  /** the keys themselves (from --jwks-file); null otherwise */
  jwks: StoredJwks | null;
  /** the caller may assert `<principalType>::"<sub>"` */
  principalType: string;
  roles: CallerRole[];
  algorithms: IssuerAlgorithm[];
  created: string;
  revoked: string | null;
}

export interface AddIssuer {
  issuer: string;
  audience: string;
  jwksUri?: string;
  jwks?: unknown;
  principalType?: string;
  roles?: CallerRole[];
  algorithms?: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CEDAR_TYPE = /^(?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*$/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS caller_issuers (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, issuer TEXT NOT NULL, audience TEXT NOT NULL,
  jwks_uri TEXT, jwks TEXT, principal_type TEXT NOT NULL, roles TEXT NOT NULL, algorithms TEXT NOT NULL,
  created TEXT NOT NULL, revoked TEXT
);
-- one live configuration per name and per issuer: the token's iss picks exactly one
CREATE UNIQUE INDEX IF NOT EXISTS caller_issuers_live_name ON caller_issuers (name) WHERE revoked IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS caller_issuers_live_issuer ON caller_issuers (issuer) WHERE revoked IS NULL;
`;

interface IssuerRow {
  id: number;
  name: string;
  issuer: string;
  audience: string;
  jwks_uri: string | null;
  jwks: string | null;
  principal_type: string;
  roles: string;
  algorithms: string;
  created: string;
  revoked: string | null;
}

const COLUMNS = 'id, name, issuer, audience, jwks_uri, jwks, principal_type, roles, algorithms, created, revoked';

/**
 * An https URL, or http on a loopback address (a local issuer, tests): keys fetched over
 * plain HTTP from elsewhere could be replaced on the way.
 */
export function parseFetchUrl(text: string, what: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new CallerError(`${what} ${JSON.stringify(text)} is not a URL`);
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new CallerError(`${what} ${JSON.stringify(text)}: https only (http only on a loopback address)`);
  if (u.username !== '' || u.password !== '' || u.hash !== '') throw new CallerError(`${what} ${JSON.stringify(text)}: no credentials or fragment`);
  return text;
}

/** A JWKS of public asymmetric keys; private or symmetric key material is refused, not stripped. */
export function parseJwks(value: unknown): StoredJwks {
  const keys = typeof value === 'object' && value !== null ? (value as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0) throw new CallerError('the JWKS has no "keys"');
  for (const k of keys as unknown[]) {
    if (typeof k !== 'object' || k === null || Array.isArray(k)) throw new CallerError('a JWKS key is not an object');
    const jwk = k as Record<string, unknown>;
    if (!['RSA', 'EC', 'OKP'].includes(String(jwk.kty))) throw new CallerError(`a JWKS key has kty ${JSON.stringify(jwk.kty)}: RSA, EC or OKP public keys only`);
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((m) => m in jwk)) throw new CallerError('the JWKS holds private key material: give the public keys only');
  }
  return { keys: keys as Record<string, unknown>[] };
}

function parseAlgorithms(list: string[] | undefined): IssuerAlgorithm[] {
  if (list === undefined || list.length === 0) return [...DEFAULT_ALGORITHMS];
  const out: IssuerAlgorithm[] = [];
  for (const a of list) {
    const t = a.trim();
    if (!(ISSUER_ALGORITHMS as readonly string[]).includes(t)) throw new CallerError(`algorithm ${JSON.stringify(a)}: one of ${ISSUER_ALGORITHMS.join(', ')} (no HS*, no none)`);
    if (!out.includes(t as IssuerAlgorithm)) out.push(t as IssuerAlgorithm);
  }
  return out;
}

function toIssuer(r: IssuerRow): CallerIssuer {
  return {
    id: r.id,
    name: r.name,
    issuer: r.issuer,
    audience: r.audience,
    jwksUri: r.jwks_uri,
    jwks: r.jwks === null ? null : (JSON.parse(r.jwks) as StoredJwks),
    principalType: r.principal_type,
    roles: JSON.parse(r.roles) as CallerRole[],
    algorithms: JSON.parse(r.algorithms) as IssuerAlgorithm[],
    created: r.created,
    revoked: r.revoked,
  };
}

export class IssuerStore {
  private readonly stmt: { insert: StatementSync; live: StatementSync; byIssuer: StatementSync; all: StatementSync; revoke: StatementSync };
  private readonly now: () => Date;

  constructor(db: DatabaseSync, now: () => Date = () => new Date(systemClock.now())) {
    this.now = now;
    db.exec(SCHEMA);
    this.stmt = {
      byIssuer: db.prepare(`SELECT ${COLUMNS} FROM caller_issuers WHERE revoked IS NULL AND issuer = ?`),
      insert: db.prepare('INSERT INTO caller_issuers (name, issuer, audience, jwks_uri, jwks, principal_type, roles, algorithms, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      live: db.prepare(`SELECT ${COLUMNS} FROM caller_issuers WHERE revoked IS NULL`),
      all: db.prepare(`SELECT ${COLUMNS} FROM caller_issuers ORDER BY id`),
      revoke: db.prepare('UPDATE caller_issuers SET revoked = ? WHERE name = ? AND revoked IS NULL'),
    };
  }

  add(name: string, o: AddIssuer): CallerIssuer {
    if (!NAME.test(name)) throw new CallerError(`issuer name ${JSON.stringify(name)}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    const issuer = parseFetchUrl(o.issuer, 'issuer');
    if (o.audience.trim() === '') throw new CallerError('an issuer needs --audience (the aud its tokens for this node carry)');
    if (o.jwksUri !== undefined && o.jwks !== undefined) throw new CallerError('--jwks-uri or --jwks-file, not both');
    const jwksUri = o.jwksUri === undefined ? null : parseFetchUrl(o.jwksUri, 'jwks uri');
    const jwks = o.jwks === undefined ? null : parseJwks(o.jwks);
    const principalType = o.principalType ?? 'Agent';
    if (!CEDAR_TYPE.test(principalType)) throw new CallerError(`principal type ${JSON.stringify(principalType)} is not a Cedar entity type (Agent, Acme::Agent)`);
    const roles = CALLER_ROLES.filter((r) => (o.roles ?? ['authorize']).includes(r));
    if (roles.length === 0) throw new CallerError('an issuer gives its callers the authorize role, the verify role or both');
    const algorithms = parseAlgorithms(o.algorithms);
    const live = this.live();
    if (live.some((i) => i.name === name)) throw new CallerError(`issuer ${name} exists: \`writ caller issuer remove ${name}\` first`);
    const same = live.find((i) => i.issuer === issuer);
    if (same) throw new CallerError(`issuer ${issuer} is configured already (as ${same.name}): a token's iss must pick one configuration`);
    const created = this.now().toISOString();
    const r = this.stmt.insert.run(name, issuer, o.audience, jwksUri, jwks === null ? null : JSON.stringify(jwks), principalType, JSON.stringify(roles), JSON.stringify(algorithms), created);
    return { id: Number(r.lastInsertRowid), name, issuer, audience: o.audience, jwksUri, jwks, principalType, roles, algorithms, created, revoked: null };
  }

  /** The live configurations (read at every request: a removal elsewhere counts at once). */
  live(): CallerIssuer[] {
    return (this.stmt.live.all() as unknown as IssuerRow[]).map(toIssuer);
  }

  /** The live configuration for a token's `iss`, compared exactly; null if there is none. */
  forIssuer(iss: string): CallerIssuer | null {
    const r = this.stmt.byIssuer.get(iss) as unknown as IssuerRow | undefined;
    return r ? toIssuer(r) : null;
  }

  /** Every configuration ever added, removed ones included, oldest first. */
  list(): CallerIssuer[] {
    return (this.stmt.all.all() as unknown as IssuerRow[]).map(toIssuer);
  }

  remove(name: string): boolean {
    return Number(this.stmt.revoke.run(this.now().toISOString(), name).changes) > 0;
  }
}

/**
 * Caller credentials for the decision API (issue 10, point 1): who may call
 * POST /v1/authorize, /v1/verify and /v1/outcome, and which principals each may assert.
 *
 * A caller is a named bearer token `writ_<43 base64url chars>` (32 random bytes) issued by
 * `writ caller add`. Only its SHA-256 is stored (table `callers` in the home's state.db):
 * the token is shown once and cannot be recovered from the home. Each caller has
 *  - roles: `authorize` (may ask for writs) and/or `verify` (an enforcement point: may
 *    verify and consume writs and report outcomes). An agent's token has `authorize` only,
 *    so it cannot consume its own writ and report a fabricated outcome;
 *  - principal patterns (docs/http-api.md, "Callers and credentials"): the principals it
 *    may name in POST /v1/authorize. A pattern is
 *      `Type::"id"`      exactly this UID (compared in canonical text, so escapes do not matter),
 *      `Type::"prefix*"` any UID of exactly this type whose id starts with prefix
 *                        (a trailing `*` inside the quotes is always the wildcard),
 *      `*`               any principal (a trusted gateway that authenticates agents itself).
 *    Nothing else is a pattern: a malformed pattern is refused when the caller is added,
 *    never silently matching nothing or everything.
 * Removing a caller marks it revoked (the row stays, for the record), and takes effect at the
 * next request, whichever process or connection removed it: the live rows are kept in memory
 * (at most MAX_CACHED_CALLERS of them) and read again whenever `callers_version.n` moved. That
 * counter is kept by triggers on the table itself, so every write counts, by any writer (not
 * SQLite's `data_version`, which moves with every ledger commit of the same file), and a
 * request costs one single-row read instead of a read of every caller.
 *
 * Instead of a token, a caller may be a TLS client certificate (`writ caller add --cert`,
 * `--spiffe-id`; checked by src/server/tls-auth.ts): the SHA-256 of one certificate (DER),
 * and/or the SPIFFE ID (URI SAN) of any certificate issued by the node's client CA. Such a
 * row has no token anyone knows (a digest of discarded random bytes fills the column) and is
 * never looked up by token.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { parseUid, uidText } from '../canonical/uid.ts';
import { sha256Hex } from '../util.ts';
import { WritError } from '../writ/errors.ts';
import { systemClock } from '../clock.ts';
import type { WritIdentityToken } from '../writ/claims.ts';

export type CallerRole = 'authorize' | 'verify';
export const CALLER_ROLES: readonly CallerRole[] = ['authorize', 'verify'];

export interface Caller {
  name: string;
  roles: CallerRole[];
  /** principal patterns, in canonical text */
  principals: string[];
  /**
   * audiences of writs this caller may report outcomes for without an outcomeToken (an
   * executor that verified the writ itself, offline): exact strings, `prefix*`, or `*`
   */
  audiences: string[];
  created: string;
  revoked: string | null;
  /** only for a caller authenticated by TLS client certificate: what the certificate must have (both, when both are set) */
  certificate?: CertificateMatch;
  /** only for a caller authenticated by a bearer JWT (server/oidc-auth.ts): its verified iss and sub, the writ's idt */
  token?: WritIdentityToken;
}

export interface CertificateMatch {
  /** SHA-256 of the certificate's DER, lowercase hex */
  sha256: string | null;
  /** the certificate's one URI SAN, exactly */
  spiffeId: string | null;
}

export class CallerError extends WritError {
  override name = 'CallerError';
  constructor(message: string, options?: ErrorOptions) {
    super('caller_config_invalid', message, options);
  }
}

const TOKEN = /^writ_[A-Za-z0-9_-]{43}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256 = /^[0-9a-f]{64}$/;
// spiffe://<trust domain>/<path>: the characters the SPIFFE ID standard allows, no query or fragment
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(?:\/[A-Za-z0-9._-]+)+$/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS callers (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
  roles TEXT NOT NULL, principals TEXT NOT NULL, created TEXT NOT NULL, revoked TEXT,
  audiences TEXT NOT NULL DEFAULT '[]', cert_sha256 TEXT, spiffe_id TEXT
);
-- one live caller per name; a removed caller's row stays and its name can be issued again
CREATE UNIQUE INDEX IF NOT EXISTS callers_live_name ON callers (name) WHERE revoked IS NULL;
-- moves with every change to callers, whoever makes it: what the in-memory copy is checked against
CREATE TABLE IF NOT EXISTS callers_version (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO callers_version (id, n) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS callers_version_insert AFTER INSERT ON callers BEGIN UPDATE callers_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS callers_version_update AFTER UPDATE ON callers BEGIN UPDATE callers_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS callers_version_delete AFTER DELETE ON callers BEGIN UPDATE callers_version SET n = n + 1 WHERE id = 1; END;
`;

interface CallerRow {
  name: string;
  token_sha256: string;
  roles: string;
  principals: string;
  audiences: string;
  created: string;
  revoked: string | null;
  cert_sha256: string | null;
  spiffe_id: string | null;
}

/**
 * Parses a principal pattern into its canonical text; throws CallerError on anything that
 * is not one of the three forms above.
 */
export function parsePrincipalPattern(text: string): string {
  const t = text.trim();
  if (t === '*') return '*';
  const uid = parseUid(t);
  if (!uid) throw new CallerError(`principal pattern ${JSON.stringify(text)} is not \`Type::"id"\`, \`Type::"prefix*"\` or \`*\``);
  if (uid.id === '' || uid.id === '*') throw new CallerError(`principal pattern ${JSON.stringify(text)}: an empty id or prefix matches nothing or every ${uid.type}; name the ids, or use a non-empty prefix`);
  if (uid.id.slice(0, -1).includes('*')) throw new CallerError(`principal pattern ${JSON.stringify(text)}: \`*\` is only a wildcard at the end of the id`);
  return uidText(uid);
}

/** An audience pattern: a non-empty exact audience, `prefix*` (non-empty prefix), or `*`. */
export function parseAudiencePattern(text: string): string {
  const t = text.trim();
  if (t === '' || t.slice(0, -1).includes('*')) {
    throw new CallerError(`audience pattern ${JSON.stringify(text)} is not an audience, \`prefix*\` or \`*\``);
  }
  return t;
}

/** Whether this caller may report, without an outcomeToken, the outcome of a writ for `audience` it verified itself. */
export function mayReportFor(caller: Caller, audience: string): boolean {
  if (caller.revoked !== null || !caller.roles.includes('verify')) return false;
  return caller.audiences.some((p) => p === '*' || (p.endsWith('*') ? audience.startsWith(p.slice(0, -1)) : audience === p));
}

export function parseRoles(text: string): CallerRole[] {
  if (text === 'both') return ['authorize', 'verify'];
  if (text === 'authorize' || text === 'verify') return [text];
  throw new CallerError(`role ${JSON.stringify(text)}: expected authorize, verify or both`);
}

function matches(pattern: string, principal: string): boolean {
  if (pattern === '*') return true;
  const p = parseUid(pattern);
  const u = parseUid(principal);
  if (!p || !u || p.type !== u.type) return false;
  return p.id.endsWith('*') ? u.id.startsWith(p.id.slice(0, -1)) : u.id === p.id;
}

/** Whether this caller may name `principal` in POST /v1/authorize (it needs the authorize role and a matching pattern). */
export function mayAssert(caller: Caller, principal: string): boolean {
  if (caller.revoked !== null || !caller.roles.includes('authorize')) return false;
  return caller.principals.some((p) => matches(p, principal));
}

export function hasRole(caller: Caller, role: CallerRole): boolean {
  return caller.revoked === null && caller.roles.includes(role);
}

/** The token in an `Authorization: Bearer writ_…` header, or null (another scheme, a malformed token). */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer +(\S+) *$/.exec(header);
  return m?.[1] !== undefined && TOKEN.test(m[1]) ? m[1] : null;
}

function toCaller(r: CallerRow): Caller {
  return {
    name: r.name,
    roles: JSON.parse(r.roles) as CallerRole[],
    principals: JSON.parse(r.principals) as string[],
    audiences: JSON.parse(r.audiences) as string[],
    created: r.created,
    revoked: r.revoked,
    ...((r.cert_sha256 !== null || r.spiffe_id !== null) && { certificate: { sha256: r.cert_sha256, spiffeId: r.spiffe_id } }),
  };
}

/** live callers kept in memory; a home with more is read from the table at every request, as before */
export const MAX_CACHED_CALLERS = 10_000;

interface LiveCallers {
  version: number;
  tokens: { digest: Buffer; row: CallerRow }[];
  certificates: CallerRow[];
}

const COLUMNS = 'name, token_sha256, roles, principals, audiences, created, revoked, cert_sha256, spiffe_id';
interface NewCaller {
  roles: CallerRole[];
  principals: string[];
  audiences?: string[];
}

export class CallerStore {
  private readonly stmt: { insert: StatementSync; live: StatementSync; liveCerts: StatementSync; all: StatementSync; revoke: StatementSync; version: StatementSync };
  private readonly now: () => Date;
  private cached: LiveCallers | null = null;

  constructor(db: DatabaseSync, now: () => Date = () => new Date(systemClock.now())) {
    this.now = now;
    db.exec(SCHEMA);
    // homes made before callers had audiences
    const columns = db.prepare('PRAGMA table_info(callers)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'audiences')) db.exec("ALTER TABLE callers ADD COLUMN audiences TEXT NOT NULL DEFAULT '[]'");
    // homes made before callers could be TLS client certificates
    if (!columns.some((c) => c.name === 'cert_sha256')) db.exec('ALTER TABLE callers ADD COLUMN cert_sha256 TEXT');
    if (!columns.some((c) => c.name === 'spiffe_id')) db.exec('ALTER TABLE callers ADD COLUMN spiffe_id TEXT');
    this.stmt = {
      insert: db.prepare('INSERT INTO callers (name, token_sha256, roles, principals, audiences, created, cert_sha256, spiffe_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      // token lookups never see a certificate caller's row
      live: db.prepare(`SELECT ${COLUMNS} FROM callers WHERE revoked IS NULL AND cert_sha256 IS NULL AND spiffe_id IS NULL`),
      liveCerts: db.prepare(`SELECT ${COLUMNS} FROM callers WHERE revoked IS NULL AND (cert_sha256 IS NOT NULL OR spiffe_id IS NOT NULL) ORDER BY id`),
      all: db.prepare(`SELECT ${COLUMNS} FROM callers ORDER BY id`),
      revoke: db.prepare('UPDATE callers SET revoked = ? WHERE name = ? AND revoked IS NULL'),
      version: db.prepare('SELECT n FROM callers_version WHERE id = 1'),
    };
  }

  /**
   * The live callers, from memory while callers_version has not moved since they were read.
   * The rows are kept only if the counter read before them is still the counter after them
   * (no write came between; the connection may be inside another transaction, so no BEGIN
   * here). A home with more than MAX_CACHED_CALLERS live callers is read every time; a
   * counter that cannot be read fails the request.
   */
  private live(): LiveCallers {
    const c = this.cached;
    if (c !== null && c.version === this.version()) return c;
    const fresh = this.read();
    this.cached = fresh.version === this.version() && fresh.tokens.length + fresh.certificates.length <= MAX_CACHED_CALLERS ? fresh : null;
    return fresh;
  }

  private version(): number {
    const row = this.stmt.version.get() as { n: number | bigint } | undefined;
    if (row === undefined) throw new CallerError('callers_version has no row: the caller table cannot be checked');
    return Number(row.n);
  }

  private read(): LiveCallers {
    const version = this.version();
    const rows = this.stmt.live.all() as unknown as CallerRow[];
    const certificates = this.stmt.liveCerts.all() as unknown as CallerRow[];
    return { version, tokens: rows.map((row) => ({ digest: Buffer.from(row.token_sha256, 'hex'), row })), certificates };
  }

  /** Checks a new caller's name, roles and patterns, returning them in stored form. */
  private validate(name: string, o: NewCaller): { roles: CallerRole[]; principals: string[]; audiences: string[] } {
    if (!NAME.test(name)) throw new CallerError(`caller name ${JSON.stringify(name)}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    if (o.roles.length === 0 || o.roles.some((r) => !CALLER_ROLES.includes(r))) throw new CallerError('a caller has the authorize role, the verify role or both');
    const principals = [...new Set(o.principals.map(parsePrincipalPattern))];
    // an authorize caller without patterns could never be allowed anything: refuse the mistake now
    if (o.roles.includes('authorize') && principals.length === 0) throw new CallerError('a caller with the authorize role needs --principals (the principals it may assert)');
    const audiences = [...new Set((o.audiences ?? []).map(parseAudiencePattern))];
    if (audiences.length > 0 && !o.roles.includes('verify')) throw new CallerError('--audiences is for enforcement points: it needs the verify role');
    if (this.list().some((c) => c.name === name && c.revoked === null)) throw new CallerError(`caller ${name} exists: \`writ caller remove ${name}\` first`);
    return { roles: CALLER_ROLES.filter((r) => o.roles.includes(r)), principals, audiences };
  }

  /** Issues a token for a new caller; the token is returned once and only its digest is kept. */
  add(name: string, o: NewCaller): { caller: Caller; token: string } {
    const { roles, principals, audiences } = this.validate(name, o);
    const token = `writ_${randomBytes(32).toString('base64url')}`;
    const created = this.now().toISOString();
    this.stmt.insert.run(name, sha256Hex(token), JSON.stringify(roles), JSON.stringify(principals), JSON.stringify(audiences), created, null, null);
    return { caller: { name, roles, principals, audiences, created, revoked: null }, token };
  }

  /**
   * Registers a caller that authenticates with a TLS client certificate instead of a token:
   * the certificate's SHA-256 and/or its SPIFFE ID. Refused if a live caller already has
   * the same fingerprint or SPIFFE ID (one certificate must name one caller).
   */
  addCertificate(name: string, o: NewCaller & { sha256?: string; spiffeId?: string }): Caller {
    const v = this.validate(name, o);
    const sha256 = o.sha256?.toLowerCase() ?? null;
    const spiffeId = o.spiffeId ?? null;
    if (sha256 === null && spiffeId === null) throw new CallerError('a certificate caller needs --cert (its fingerprint) or --spiffe-id');
    if (sha256 !== null && !SHA256.test(sha256)) throw new CallerError('a certificate fingerprint is the SHA-256 of its DER, 64 hex digits');
    if (spiffeId !== null && (!SPIFFE_ID.test(spiffeId) || spiffeId.length > 2048)) throw new CallerError(`SPIFFE ID ${JSON.stringify(spiffeId)} is not spiffe://<trust domain>/<path>`);
    const clash = this.certificateCallers().find((c) => (sha256 !== null && c.certificate?.sha256 === sha256) || (spiffeId !== null && c.certificate?.spiffeId === spiffeId));
    if (clash) throw new CallerError(`caller ${clash.name} has this certificate or SPIFFE ID already`);
    const created = this.now().toISOString();
    // no token: the column is filled with the digest of random bytes nobody keeps
    this.stmt.insert.run(name, sha256Hex(randomBytes(32)), JSON.stringify(v.roles), JSON.stringify(v.principals), JSON.stringify(v.audiences), created, sha256, spiffeId);
    return { name, ...v, created, revoked: null, certificate: { sha256, spiffeId } };
  }

  /** The live callers that authenticate by client certificate (read at every TLS request). */
  certificateCallers(): Caller[] {
    return this.live().certificates.map(toCaller);
  }

  /** Every caller ever issued, removed ones included (with their revocation time), oldest first. */
  list(): Caller[] {
    return (this.stmt.all.all() as unknown as CallerRow[]).map(toCaller);
  }

  /** Revokes the live caller of this name; false if there is none. */
  remove(name: string): boolean {
    return Number(this.stmt.revoke.run(this.now().toISOString(), name).changes) > 0;
  }

  /**
   * The live caller whose token is in this Authorization header, or null. Every live digest
   * is compared in constant time, and all of them are compared, so neither the time taken
   * nor an index lookup tells which digest a guess came close to. The digests are held in
   * memory (live()): a request costs one read of callers_version, not a read of every row.
   */
  authenticate(authorizationHeader: string | undefined): Caller | null {
    const token = bearerToken(authorizationHeader);
    if (token === null) return null;
    const given = Buffer.from(sha256Hex(token), 'hex');
    let found: CallerRow | null = null;
    for (const { digest, row } of this.live().tokens) {
      if (digest.length === given.length && timingSafeEqual(digest, given) && found === null) found = row;
    }
    return found ? toCaller(found) : null;
  }
}

/**
 * The HTTP gate's configuration (docs/http-gateway.md, "Configuration"): a JSON file given to
 * `writ up --gate <file>`. Parsed strictly: an unknown member, a wrong type, a route that
 * cannot match, a credential source that could never verify is a GateConfigError naming the
 * place (`routes[2].audience: ...`), and the server does not start. A gate that starts with a
 * half-understood configuration could allow what the operator meant to deny.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseUid, uidText } from '../../canonical/uid.ts';
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { principalEntityFromRequest } from '../../policy/principal-entity.ts';
import { DEFAULT_ALGORITHMS, ISSUER_ALGORITHMS, parseFetchUrl, parseJwks, type IssuerAlgorithm, type StoredJwks } from '../../node/caller-issuers.ts';
import { errorMessage, isRecord } from '../../util.ts';
import { WritError } from '../../writ/errors.ts';
import { ACCESS_TOKEN_TYP } from '../../server/oidc-auth.ts';

/** A configuration the gate cannot run with. */
export class GateConfigError extends WritError {
  override name = 'GateConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super('gate_config_invalid', message, options);
  }
}

export interface GateRoute {
  name: string;
  /** the Host (without port, unless given with one) the route is for; null: any */
  host: string | null;
  /** exactly this path, or (pathPrefix) any path starting with it; one of the two */
  path: string | null;
  pathPrefix: string | null;
  /** upper-case methods the route covers; null: any */
  methods: string[] | null;
  /** the Cedar resource (default `Route::"<name>"`) */
  resource: string;
  /** the writ's aud: the upstream service that verifies it */
  audience: string;
}

export interface GateJwtIssuer {
  /** unique within the gate (the key cache's key) */
  id: number;
  name: string;
  issuer: string;
  audience: string;
  jwksUri: string | null;
  jwks: StoredJwks | null;
  algorithms: IssuerAlgorithm[];
  /** the principal is `<principalType>::"<sub>"` */
  principalType: string;
  /** `"accessTokenType": "at+jwt"`: only RFC 9068 access tokens are accepted */
  requireAccessToken?: boolean;
}

export interface GateApiKey {
  name: string;
  /** lower-case hex SHA-256 of the key: the file holds no key itself */
  sha256: string;
  principal: string;
  /** the principal entity's attributes (`principal.team`), Cedar values; {} when none are configured */
  attributes: Record<string, CedarValueJson>;
}

export interface GateConfig {
  routes: GateRoute[];
  jwt: GateJwtIssuer[];
  apiKeys: { header: string; keys: GateApiKey[] };
  /** request headers (lower-case) copied into context.http.headers when present */
  headers: string[];
  ttlSeconds: number | null;
  /** the realm of the WWW-Authenticate challenge */
  realm: string;
  /** the Envoy ext_authz gRPC listener; null: none */
  grpc: { host: string; port: number } | null;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CEDAR_TYPE = /^(?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const METHOD = /^[A-Z][A-Z0-9-]{0,31}$/;
const HOST = /^[a-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-f:.]+\](?::\d{1,5})?$/;
/** headers that carry credentials: copied into context they would be recorded in the ledger */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

function fail(at: string, message: string): never {
  throw new GateConfigError(`${at}: ${message}`);
}

function only(v: unknown, at: string, keys: readonly string[]): Record<string, unknown> {
  if (!isRecord(v)) fail(at, 'must be a JSON object');
  for (const k of Object.keys(v)) if (!keys.includes(k)) fail(at, `unknown member ${JSON.stringify(k)} (known: ${keys.join(', ')})`);
  return v;
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string' || v.trim() === '') fail(at, 'must be a non-empty string');
  return v;
}

function optStr(v: unknown, at: string): string | null {
  return v === undefined ? null : str(v, at);
}

function list(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v)) fail(at, 'must be an array');
  return v;
}

function port(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) fail(at, 'must be a port number 0-65535 (0: any free port)');
  return v;
}

function parseRoute(v: unknown, at: string, names: Set<string>): GateRoute {
  const r = only(v, at, ['name', 'host', 'path', 'pathPrefix', 'methods', 'resource', 'audience']);
  const name = str(r.name, `${at}.name`);
  if (!NAME.test(name)) fail(`${at}.name`, '1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  if (names.has(name)) fail(`${at}.name`, `route ${name} is defined twice`);
  names.add(name);
  const host = optStr(r.host, `${at}.host`)?.toLowerCase() ?? null;
  if (host !== null && !HOST.test(host)) fail(`${at}.host`, `${JSON.stringify(host)} is not a host name (optionally with :port)`);
  const path = optStr(r.path, `${at}.path`);
  const pathPrefix = optStr(r.pathPrefix, `${at}.pathPrefix`);
  if ((path === null) === (pathPrefix === null)) fail(at, 'give exactly one of "path" (exact) and "pathPrefix"');
  for (const [k, p] of [['path', path], ['pathPrefix', pathPrefix]] as const) {
    if (p !== null && (!p.startsWith('/') || p.includes('?') || p.includes('#'))) fail(`${at}.${k}`, 'a URL path starting with "/", without query or fragment');
  }
  let methods: string[] | null = null;
  if (r.methods !== undefined) {
    methods = list(r.methods, `${at}.methods`).map((m, i) => {
      const t = str(m, `${at}.methods[${i}]`);
      if (!METHOD.test(t)) fail(`${at}.methods[${i}]`, `${JSON.stringify(t)} is not an upper-case HTTP method`);
      return t;
    });
    if (methods.length === 0) fail(`${at}.methods`, 'an empty list matches nothing: leave "methods" out for any method');
  }
  const resourceText = optStr(r.resource, `${at}.resource`) ?? uidText({ type: 'Route', id: name });
  const resource = parseUid(resourceText);
  if (!resource) fail(`${at}.resource`, `${JSON.stringify(resourceText)} is not a Cedar entity UID such as Route::"billing"`);
  const audience = str(r.audience, `${at}.audience`);
  return { name, host, path, pathPrefix, methods, resource: uidText(resource), audience };
}

function parseJwt(v: unknown, at: string, id: number, baseDir: string): GateJwtIssuer {
  const j = only(v, at, ['name', 'issuer', 'audience', 'jwksUri', 'jwksFile', 'principalType', 'algorithms', 'accessTokenType']);
  const name = str(j.name, `${at}.name`);
  if (!NAME.test(name)) fail(`${at}.name`, '1-64 letters, digits, ".", "_" or "-"');
  try {
    const issuer = parseFetchUrl(str(j.issuer, `${at}.issuer`), 'issuer');
    const jwksUri = j.jwksUri === undefined ? null : parseFetchUrl(str(j.jwksUri, `${at}.jwksUri`), 'jwksUri');
    if (j.jwksUri !== undefined && j.jwksFile !== undefined) fail(at, '"jwksUri" or "jwksFile", not both');
    let jwks: StoredJwks | null = null;
    if (j.jwksFile !== undefined) {
      const file = resolve(baseDir, str(j.jwksFile, `${at}.jwksFile`));
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        fail(`${at}.jwksFile`, `cannot read ${file} as JSON: ${errorMessage(err)}`);
      }
      jwks = parseJwks(parsed);
    }
    const principalType = optStr(j.principalType, `${at}.principalType`) ?? 'User';
    if (!CEDAR_TYPE.test(principalType)) fail(`${at}.principalType`, `${JSON.stringify(principalType)} is not a Cedar entity type`);
    const algorithms = j.algorithms === undefined ? [...DEFAULT_ALGORITHMS] : list(j.algorithms, `${at}.algorithms`).map((a, i) => {
      const t = str(a, `${at}.algorithms[${i}]`);
      if (!(ISSUER_ALGORITHMS as readonly string[]).includes(t)) fail(`${at}.algorithms[${i}]`, `one of ${ISSUER_ALGORITHMS.join(', ')} (no HS*, no none)`);
      return t as IssuerAlgorithm;
    });
    if (algorithms.length === 0) fail(`${at}.algorithms`, 'an empty list verifies nothing');
    // RFC 9068 §4: a resource server may insist on access tokens (an ID token of the issuer is no credential for it)
    if (j.accessTokenType !== undefined && j.accessTokenType !== ACCESS_TOKEN_TYP) fail(`${at}.accessTokenType`, `only "${ACCESS_TOKEN_TYP}" (RFC 9068), or leave it out to accept any JWT of the issuer`);
    const requireAccessToken = j.accessTokenType === ACCESS_TOKEN_TYP;
    return { id, name, issuer, audience: str(j.audience, `${at}.audience`), jwksUri, jwks, algorithms, principalType, ...(requireAccessToken && { requireAccessToken }) };
  } catch (err) {
    if (err instanceof GateConfigError) throw err;
    fail(at, errorMessage(err)); // a CallerError from the shared URL / JWKS checks
  }
}

function parseApiKeys(v: unknown, at: string): GateConfig['apiKeys'] {
  const a = only(v, at, ['header', 'keys']);
  const header = (optStr(a.header, `${at}.header`) ?? 'x-api-key').toLowerCase();
  if (!HEADER.test(header)) fail(`${at}.header`, `${JSON.stringify(header)} is not a header name`);
  if (header === 'authorization' || header === 'host') fail(`${at}.header`, 'Authorization carries bearer JWTs here; name a header of its own (default x-api-key)');
  const seen = new Set<string>();
  const keys = list(a.keys, `${at}.keys`).map((k, i) => {
    const at2 = `${at}.keys[${i}]`;
    const o = only(k, at2, ['name', 'sha256', 'principal', 'attributes']);
    const sha256 = str(o.sha256, `${at2}.sha256`).toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha256)) fail(`${at2}.sha256`, 'the hex SHA-256 of the key (printf %s "$KEY" | sha256sum), not the key');
    if (seen.has(sha256)) fail(`${at2}.sha256`, 'the same key is listed twice');
    seen.add(sha256);
    const principal = parseUid(str(o.principal, `${at2}.principal`));
    if (!principal) fail(`${at2}.principal`, 'a Cedar entity UID such as Service::"billing-batch"');
    let attributes: Record<string, CedarValueJson>;
    try {
      attributes = principalEntityFromRequest({ attrs: o.attributes ?? {}, parents: [] }, principal).attrs;
    } catch (err) {
      fail(`${at2}.attributes`, errorMessage(err).replace(/^principalEntity(\.attrs)?:? ?/, ''));
    }
    return { name: optStr(o.name, `${at2}.name`) ?? `key-${i}`, sha256, principal: uidText(principal), attributes };
  });
  return { header, keys };
}

/** The configuration from its parsed JSON; relative `jwksFile`s are read from `baseDir`. */
export function parseGateConfig(value: unknown, baseDir: string): GateConfig {
  const c = only(value, 'gate', ['routes', 'credentials', 'headers', 'ttlSeconds', 'realm', 'grpc']);
  const names = new Set<string>();
  const routes = list(c.routes, 'routes').map((r, i) => parseRoute(r, `routes[${i}]`, names));
  if (routes.length === 0) fail('routes', 'at least one route: without one every request is denied');
  const cred = only(c.credentials, 'credentials', ['jwt', 'apiKeys']);
  const jwt = cred.jwt === undefined ? [] : list(cred.jwt, 'credentials.jwt').map((j, i) => parseJwt(j, `credentials.jwt[${i}]`, i, baseDir));
  const issuers = new Set<string>();
  for (const [i, j] of jwt.entries()) {
    if (issuers.has(j.issuer)) fail(`credentials.jwt[${i}].issuer`, `${j.issuer} is configured twice: a token's iss must pick one configuration`);
    issuers.add(j.issuer);
  }
  const apiKeys = cred.apiKeys === undefined ? { header: 'x-api-key', keys: [] } : parseApiKeys(cred.apiKeys, 'credentials.apiKeys');
  if (jwt.length === 0 && apiKeys.keys.length === 0) fail('credentials', 'no credential source: configure "jwt" issuers, "apiKeys", or both');
  const headers = c.headers === undefined ? [] : list(c.headers, 'headers').map((h, i) => {
    const t = str(h, `headers[${i}]`).toLowerCase();
    if (!HEADER.test(t)) fail(`headers[${i}]`, `${JSON.stringify(t)} is not a header name`);
    if (SECRET_HEADERS.has(t) || t === apiKeys.header) fail(`headers[${i}]`, `${t} carries credentials: copied into the context it would be recorded in the ledger`);
    return t;
  });
  let ttlSeconds: number | null = null;
  if (c.ttlSeconds !== undefined) {
    if (typeof c.ttlSeconds !== 'number' || !Number.isSafeInteger(c.ttlSeconds) || c.ttlSeconds < 1) fail('ttlSeconds', 'a whole number of seconds >= 1 (the node caps it)');
    ttlSeconds = c.ttlSeconds;
  }
  const realm = optStr(c.realm, 'realm') ?? 'writ';
  if (/["\\\r\n]/.test(realm)) fail('realm', 'no quotes, backslashes or line breaks');
  let grpc: GateConfig['grpc'] = null;
  if (c.grpc !== undefined) {
    const g = only(c.grpc, 'grpc', ['host', 'port']);
    grpc = { host: optStr(g.host, 'grpc.host') ?? '127.0.0.1', port: port(g.port, 'grpc.port') };
  }
  return { routes, jwt, apiKeys, headers, ttlSeconds, realm, grpc };
}

/** Reads and parses a gate configuration file (JSON). */
export function readGateConfig(file: string): GateConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GateConfigError(`cannot read the gate configuration ${file}: ${errorMessage(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GateConfigError(`the gate configuration ${file} is not JSON: ${errorMessage(err)}`);
  }
  try {
    return parseGateConfig(value, dirname(resolve(file)));
  } catch (err) {
    if (err instanceof GateConfigError) throw new GateConfigError(`${file}: ${err.message}`);
    throw err;
  }
}

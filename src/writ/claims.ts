/**
 * The writ claims, format version 1 (docs/writ.md). A writ is a compact JWS with
 * header {alg: "Ed25519", typ: "writ+jwt", kid}; these are its payload.
 */
export const WRIT_TYP = 'writ+jwt';
export const WRIT_ALG = 'Ed25519';
export const WRIT_FORMAT_VERSION = 1;

export interface WritClaims {
  /** format version of these claims */
  v: number;
  /** node id of the issuing node */
  iss: string;
  /** principal, Cedar UID text */
  sub: string;
  /** enforcement point or resource the writ is for */
  aud: string;
  iat: number;
  nbf: number;
  exp: number;
  /** unique id, consumed once */
  jti: string;
  act: { action: string; resource: string };
  /** base64url SHA-256 of JCS {principal, action, resource, args} */
  intent: string;
  pol: { domain: string; version: number; digest: string };
  /** base64url SHA-256 of the canonical decision input */
  in: string;
  /**
   * lineage: the parent writ, the root of the chain, the depth (0 for a root), and `anc`, every
   * ancestor nearest first (parent … root), so that a revoked ancestor is found from the writ
   * alone — at a node that never saw the ancestors, and by an executor offline. Absent on a
   * root writ, and on writs issued before it existed.
   */
  lin: { parent: string | null; root: string; depth: number; anc?: string[] };
  /** ledger index of the decision's leaf */
  led: number;
  /** runtime constraints the enforcement point enforces while the execution runs (docs/writ.md) */
  cons?: { maxRunSeconds?: number };
  /** optional holder key confirmation (RFC 7800) */
  cnf?: { jkt: string };
  /**
   * "identity token": the issuer and subject of the verified bearer JWT that authenticated the
   * caller (MCP over HTTP, the HTTP gate). Absent for a configured principal (stdio's
   * --principal), an opaque token or an API key; an addition to format 1, so writs without it
   * stay valid.
   */
  idt?: WritIdentityToken;
}

/** The verified JWT a writ's principal was named by: its `iss` and `sub` as the token carried them. */
export interface WritIdentityToken {
  iss: string;
  sub: string;
}

/** The shape of an `idt` claim (also used for what an enforcement point passes to the node). */
export function isIdentityToken(v: unknown): v is WritIdentityToken {
  return isRecord(v) && Object.keys(v).length === 2 && isString(v.iss) && isString(v.sub) && v.iss.length <= 2048 && v.sub.length <= 256;
}

function isString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}
function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}
function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural check of a decoded payload; returns the first problem or null. */
export function claimsProblem(p: Record<string, unknown>): string | null {
  if (p.v !== WRIT_FORMAT_VERSION) return `unsupported claims version ${String(p.v)}`;
  for (const k of ['iss', 'sub', 'aud', 'jti', 'intent', 'in'] as const) {
    if (!isString(p[k])) return `claim ${k} missing or not a string`;
  }
  for (const k of ['iat', 'nbf', 'exp', 'led'] as const) {
    if (!isInt(p[k])) return `claim ${k} missing or not an integer`;
  }
  const act = p.act;
  if (!isRecord(act) || !isString(act.action) || !isString(act.resource)) return 'claim act malformed';
  const pol = p.pol;
  if (!isRecord(pol) || !isString(pol.domain) || !isInt(pol.version) || !isString(pol.digest)) {
    return 'claim pol malformed';
  }
  const lin = p.lin;
  if (!isRecord(lin) || !(lin.parent === null || isString(lin.parent)) || !isString(lin.root) || !isInt(lin.depth)) {
    return 'claim lin malformed';
  }
  if (lin.anc !== undefined && (!Array.isArray(lin.anc) || lin.anc.length > lin.depth || !lin.anc.every(isString) || (lin.anc.length > 0 && lin.anc[0] !== lin.parent))) {
    return 'claim lin.anc malformed (the ancestors, parent first, at most depth of them)';
  }
  const cons = p.cons;
  if (cons !== undefined && (!isRecord(cons) || (cons.maxRunSeconds !== undefined && (!isInt(cons.maxRunSeconds) || cons.maxRunSeconds < 1)))) {
    return 'claim cons malformed (maxRunSeconds: a positive whole number of seconds)';
  }
  if (p.idt !== undefined && !isIdentityToken(p.idt)) return 'claim idt malformed (exactly iss and sub, non-empty strings)';
  return null;
}

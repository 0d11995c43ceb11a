/**
 * `writ verify --keys …`: verify a writ exactly as an executor that embeds `writ/verify` does,
 * with no home and no node (docs/revocation-list.md): pinned keys, the audience, the arguments,
 * and the signed revocation list (a file, or a node's GET /v1/revocations). Nothing is consumed:
 * single use is the executor's own store (or the node's, when it reports the outcome).
 */
import { readFileSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';
import { verifyRevocationList, verifyWrit, WritVerificationError, type RevocationList } from '../writ/verify.ts';
import { errorMessage, isRecord } from '../util.ts';
import { CliError, EXIT, printJson } from './common.ts';

export interface OfflineVerifyFlags {
  keys: string;
  audience?: string;
  args: unknown;
  revocations?: string;
  revocationKeys?: string;
  revocationIssuer?: string;
  noRevocations?: boolean;
  json?: boolean;
}

/** A file's text, or a URL's body (http/https only). */
async function read(source: string, what: string): Promise<string> {
  try {
    if (/^https?:\/\//.test(source)) {
      const res = await fetch(source, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return await res.text();
    }
    return readFileSync(source, 'utf8');
  } catch (err) {
    throw new CliError(`writ verify: cannot read ${what} ${source}: ${errorMessage(err)}`, EXIT.usage);
  }
}

async function jwks(source: string, what: string): Promise<JSONWebKeySet> {
  let v: unknown;
  try {
    v = JSON.parse(await read(source, what));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`writ verify: ${what} ${source} is not JSON`, EXIT.usage);
  }
  if (!isRecord(v) || !Array.isArray(v.keys)) throw new CliError(`writ verify: ${what} ${source} is not a JWKS ({"keys": [...]})`, EXIT.usage);
  return v as unknown as JSONWebKeySet;
}

export async function offlineVerify(writ: string, o: OfflineVerifyFlags): Promise<void> {
  if (o.audience === undefined) throw new CliError('writ verify --keys: --audience is required (the executor names itself)', EXIT.usage);
  if (o.revocations === undefined && !o.noRevocations) {
    throw new CliError('writ verify --keys: give --revocations <file|url> (the signed list, GET /v1/revocations), or --no-revocations to verify without knowing what was revoked', EXIT.usage);
  }
  const keys = await jwks(o.keys, '--keys');
  const report = (r: { valid: true; claims: unknown; summary: string } | { valid: false; reason: string; message: string }) => {
    if (o.json) printJson(r.valid ? { valid: true, claims: r.claims } : r);
    else if (r.valid) process.stdout.write(`${r.summary}\n`);
    else process.stderr.write(`invalid: ${r.reason}: ${r.message}\n`);
    if (!r.valid) process.exitCode = EXIT.error;
  };
  try {
    let list: RevocationList | undefined;
    if (o.revocations !== undefined) {
      const listKeys = o.revocationKeys !== undefined ? await jwks(o.revocationKeys, '--revocation-keys') : keys;
      list = await verifyRevocationList(await read(o.revocations, '--revocations'), { keys: listKeys, ...(o.revocationIssuer !== undefined && { issuer: o.revocationIssuer }) });
    }
    const { claims } = await verifyWrit(writ, { keys, audience: o.audience, args: o.args, consume: false, ...(list && { revocationList: list }) });
    const checked = list ? `revocation list ${list.claims.seq} of ${list.claims.iss}` : 'revocations NOT checked (--no-revocations)';
    report({ valid: true, claims, summary: `valid: ${claims.sub} may ${claims.act.action} on ${claims.act.resource} until ${new Date(claims.exp * 1000).toISOString()} (jti ${claims.jti}; ${checked}; not consumed)` });
  } catch (err) {
    if (!(err instanceof WritVerificationError)) throw err;
    report({ valid: false, reason: err.code, message: err.message });
  }
}

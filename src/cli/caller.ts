/** `writ caller add|list|remove`: the credentials callers of the decision API present (src/node/callers.ts). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CallerStore, parseRoles, type Caller } from '../node/callers.ts';
import { certificateSha256 } from '../server/tls-auth.ts';
import { errorMessage } from '../util.ts';
import { registerCallerIssuer } from './caller-issuer.ts';
import { CliError, EXIT, homeOption, printJson, withStateDatabase } from './common.ts';

function withStore<T>(o: { home?: string }, f: (s: CallerStore) => T): T {
  return withStateDatabase(o, 'writ caller', (db) => f(new CallerStore(db)));
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

/** How the caller authenticates: a token, or what its TLS client certificate must have. */
function credential(c: Caller): string {
  if (!c.certificate) return 'token';
  return ['certificate', c.certificate.sha256 !== null && `sha256:${c.certificate.sha256}`, c.certificate.spiffeId].filter(Boolean).join(' ');
}

function pemFingerprint(file: string): string {
  try {
    return certificateSha256(readFileSync(file));
  } catch (err) {
    throw new CliError(`writ caller: --cert ${file} is not a readable PEM certificate: ${errorMessage(err)}`, EXIT.usage);
  }
}

function line(c: Caller): string {
  const state = c.revoked === null ? 'live' : `removed ${c.revoked}`;
  return `${c.name}  ${credential(c)}  ${c.roles.join('+')}  ${c.principals.join(' ') || '-'}  ${c.audiences.length > 0 ? `reports for ${c.audiences.join(' ')}  ` : ''}created ${c.created}  ${state}\n`;
}

export function registerCaller(program: Command): void {
  const caller = program.command('caller').description('credentials of the callers of POST /v1/authorize, /v1/verify and /v1/outcome (docs/http-api.md)');
  homeOption(
    caller
      .command('add <name>')
      .description('issue a bearer token for a caller (printed once, only its SHA-256 is stored), or with --cert / --spiffe-id register a TLS client certificate instead')
      .option('--principals <pattern>', 'a principal it may assert: Type::"id", Type::"prefix*" or * (repeatable)', collect, [])
      .option('--audiences <pattern>', 'verify role: audiences of writs it may report outcomes for after verifying them itself (offline, no outcomeToken): an exact audience, prefix* or * (repeatable)', collect, [])
      .option('--role <role>', 'authorize (agents), verify (enforcement points: verify, consume, report outcomes) or both', 'authorize')
      .option('--cert <pem>', 'no token: the caller is this TLS client certificate (its SHA-256 is pinned; it must also be issued by the node\'s --client-ca)')
      .option('--spiffe-id <id>', 'no token: the caller is any certificate from the node\'s --client-ca whose one URI SAN is this spiffe://… ID (with --cert: both must match)')
      .option('--json', 'machine-readable output'),
  ).action((name: string, o: { home?: string; principals: string[]; audiences: string[]; role: string; cert?: string; spiffeId?: string; json?: boolean }) => {
    if (o.cert !== undefined || o.spiffeId !== undefined) {
      const sha256 = o.cert === undefined ? undefined : pemFingerprint(o.cert);
      const c = withStore(o, (s) => s.addCertificate(name, { roles: parseRoles(o.role), principals: o.principals, audiences: o.audiences, ...(sha256 && { sha256 }), ...(o.spiffeId !== undefined && { spiffeId: o.spiffeId }) }));
      if (o.json) printJson({ ...c, credential: 'certificate' });
      else process.stdout.write(`caller ${c.name} (${c.roles.join('+')}): ${credential(c)}, over HTTPS with --client-ca\n`);
      return;
    }
    const { caller: c, token } = withStore(o, (s) => s.add(name, { roles: parseRoles(o.role), principals: o.principals, audiences: o.audiences }));
    if (o.json) printJson({ ...c, token });
    else process.stdout.write(`${token}\n`);
    if (!o.json) process.stderr.write(`caller ${c.name} (${c.roles.join('+')}): send "Authorization: Bearer <token>"; it is not shown again\n`);
  });
  homeOption(caller.command('list').description('list callers (removed ones too); tokens are never shown').option('--json', 'machine-readable output')).action(
    (o: { home?: string; json?: boolean }) => {
      const all = withStore(o, (s) => s.list());
      if (o.json) printJson(all.map((c) => ({ ...c, credential: c.certificate ? 'certificate' : 'token' })));
      else if (all.length === 0) process.stdout.write('no callers\n');
      else for (const c of all) process.stdout.write(line(c));
    },
  );
  homeOption(caller.command('remove <name>').description('revoke a caller\'s token (at the next request, also in a running node)')).action((name: string, o: { home?: string }) => {
    if (!withStore(o, (s) => s.remove(name))) throw new CliError(`writ caller: no live caller ${name}`);
    process.stdout.write(`removed ${name}\n`);
  });
  registerCallerIssuer(caller);
}

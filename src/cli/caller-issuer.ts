/** `writ caller issuer add|list|remove`: OIDC issuers whose bearer JWTs are caller credentials (src/node/caller-issuers.ts). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_ALGORITHMS, IssuerStore, type CallerIssuer } from '../node/caller-issuers.ts';
import { parseRoles } from '../node/callers.ts';
import { errorMessage } from '../util.ts';
import { CliError, EXIT, homeOption, printJson, withStateDatabase } from './common.ts';

function withIssuers<T>(o: { home?: string }, f: (s: IssuerStore) => T): T {
  return withStateDatabase(o, 'writ caller issuer', (db) => f(new IssuerStore(db)));
}

function readJwksFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new CliError(`writ caller issuer: cannot read the JWKS in ${file}: ${errorMessage(err)}`, EXIT.usage);
  }
}

function keysOf(i: CallerIssuer): string {
  if (i.jwks !== null) return `keys: ${i.jwks.keys.length} from a file`;
  return i.jwksUri !== null ? `keys: ${i.jwksUri}` : 'keys: discovered';
}

function line(i: CallerIssuer): string {
  const state = i.revoked === null ? 'live' : `removed ${i.revoked}`;
  return `${i.name}  ${i.issuer}  aud ${i.audience}  ${i.roles.join('+')}  principal ${i.principalType}::"<sub>"  ${i.algorithms.join(',')}  ${keysOf(i)}  created ${i.created}  ${state}\n`;
}

export function registerCallerIssuer(caller: Command): void {
  const issuer = caller.command('issuer').description('OIDC issuers whose bearer JWTs authenticate callers: the token\'s sub is the one principal it may assert');
  homeOption(
    issuer
      .command('add <name>')
      .description('trust bearer JWTs of an OIDC issuer; keys from --jwks-uri, --jwks-file, or discovered at <issuer>/.well-known/openid-configuration')
      .requiredOption('--issuer <url>', 'the iss claim, exactly (https; http only on a loopback address)')
      .requiredOption('--audience <aud>', 'the aud the tokens must carry (this node)')
      .option('--jwks-uri <url>', 'where the issuer\'s public keys are (instead of discovery)')
      .option('--jwks-file <path>', 'a JWKS of public keys, copied into the home now (nothing is fetched)')
      .option('--principal-type <type>', 'the caller may assert <type>::"<sub>" and nothing else', 'Agent')
      .option('--role <role>', 'authorize, verify or both', 'authorize')
      .option('--algorithms <list>', `accepted JWS algorithms, comma-separated (asymmetric only; default ${DEFAULT_ALGORITHMS.join(',')})`)
      .option('--json', 'machine-readable output'),
  ).action((name: string, o: { home?: string; issuer: string; audience: string; jwksUri?: string; jwksFile?: string; principalType: string; role: string; algorithms?: string; json?: boolean }) => {
    const jwks = o.jwksFile === undefined ? undefined : readJwksFile(o.jwksFile);
    const added = withIssuers(o, (s) =>
      s.add(name, {
        issuer: o.issuer,
        audience: o.audience,
        ...(o.jwksUri !== undefined && { jwksUri: o.jwksUri }),
        ...(jwks !== undefined && { jwks }),
        principalType: o.principalType,
        roles: parseRoles(o.role),
        ...(o.algorithms !== undefined && { algorithms: o.algorithms.split(',') }),
      }),
    );
    if (o.json) printJson(added);
    else process.stdout.write(line(added));
  });
  homeOption(issuer.command('list').description('list OIDC issuers (removed ones too)').option('--json', 'machine-readable output')).action((o: { home?: string; json?: boolean }) => {
    const all = withIssuers(o, (s) => s.list());
    if (o.json) printJson(all);
    else if (all.length === 0) process.stdout.write('no issuers\n');
    else for (const i of all) process.stdout.write(line(i));
  });
  homeOption(issuer.command('remove <name>').description("stop trusting an issuer's tokens (at the next request, also in a running node)")).action((name: string, o: { home?: string }) => {
    if (!withIssuers(o, (s) => s.remove(name))) throw new CliError(`writ caller issuer: no live issuer ${name}`);
    process.stdout.write(`removed issuer ${name}\n`);
  });
}

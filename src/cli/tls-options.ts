/**
 * `--tls-cert`, `--tls-key` and `--client-ca` of `writ up` and `writ node`: serve HTTPS, and
 * optionally accept TLS client certificates issued by a CA as caller credentials
 * (src/server/tls-auth.ts; docs/http-api.md, "Callers and credentials").
 */
import { readFileSync } from 'node:fs';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Command } from 'commander';
import { errorMessage } from '../util.ts';
import { CliError, EXIT } from './common.ts';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
}

export function tlsOptions(cmd: Command): Command {
  return cmd
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (chain) file; needs --tls-key')
    .option('--tls-key <pem>', 'the private key of --tls-cert')
    .option('--client-ca <pem>', 'request TLS client certificates and accept those issued by this CA as caller credentials (writ caller add --cert | --spiffe-id); needs --tls-cert');
}

function read(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`${flag} ${file}: ${errorMessage(err)}`, EXIT.usage);
  }
}

/** The HTTPS options for buildApp (AppDeps.https), or undefined for plain HTTP. */
export function readTlsOptions(o: TlsFlags): HttpsServerOptions | undefined {
  if (o.tlsCert === undefined && o.tlsKey === undefined) {
    if (o.clientCa !== undefined) throw new CliError('--client-ca needs --tls-cert and --tls-key: client certificates come with HTTPS', EXIT.usage);
    return undefined;
  }
  if (o.tlsCert === undefined || o.tlsKey === undefined) throw new CliError('--tls-cert and --tls-key go together', EXIT.usage);
  const https: HttpsServerOptions = { cert: read(o.tlsCert, '--tls-cert'), key: read(o.tlsKey, '--tls-key'), minVersion: 'TLSv1.2' };
  if (o.clientCa !== undefined) {
    // Not rejectUnauthorized: a request without a valid certificate must still reach its
    // route, to be recorded as a 401 denial or to authenticate with a token; tls-auth.ts
    // refuses a certificate that is not from this CA. `ca` replaces the system roots.
    Object.assign(https, { ca: read(o.clientCa, '--client-ca'), requestCert: true, rejectUnauthorized: false });
  }
  try {
    // a key that does not fit the certificate, or a file that is not PEM, fails here and not at the first connection
    createSecureContext(https);
  } catch (err) {
    throw new CliError(`--tls-cert/--tls-key/--client-ca: ${errorMessage(err)}`, EXIT.usage);
  }
  return https;
}

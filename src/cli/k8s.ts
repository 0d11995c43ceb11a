/**
 * `writ k8s admission`: the Kubernetes admission webhook on an embedded home
 * (src/server/admission-app.ts; docs/kubernetes.md). HTTPS only: the API server calls
 * webhooks over TLS, so --tls-cert and --tls-key are required, not optional as for `writ up`.
 */
import { startHomeUpkeep } from '../home/upkeep.ts';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { openHome } from '../home/open.ts';
import { createAdmissionServer } from '../server/admission-app.ts';
import { errorMessage } from '../util.ts';
import { CliError, EXIT, homeOf, homeOption, parsePositiveInt } from './common.ts';
import { readTlsOptions } from './tls-options.ts';

export interface AdmissionFlags {
  home?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  port: string;
  host: string;
  mutating?: boolean;
  ttl?: string;
}

/** The webhook's HTTPS options: a certificate is required; with --client-ca, so is the client's. */
export function admissionTlsOptions(o: Pick<AdmissionFlags, 'tlsCert' | 'tlsKey' | 'clientCa'>): HttpsServerOptions {
  const tls = readTlsOptions({ tlsCert: o.tlsCert, tlsKey: o.tlsKey, ...(o.clientCa !== undefined && { clientCa: o.clientCa }) });
  if (!tls) throw new CliError('--tls-cert and --tls-key are required: the API server calls webhooks over HTTPS', EXIT.usage);
  // readTlsOptions lets a request without a certificate through (the node API records it
  // as a 401); a webhook has no such answer to give, so the handshake itself refuses it
  if (o.clientCa !== undefined) Object.assign(tls, { rejectUnauthorized: true });
  return tls;
}

export function registerK8s(program: Command): void {
  const k8s = program.command('k8s').description('Kubernetes enforcement points');
  homeOption(
    k8s
      .command('admission')
      .description('serve a Kubernetes admission webhook (AdmissionReview v1) over HTTPS: POST /validate, and POST /mutate with --mutating')
      .requiredOption('--tls-cert <pem>', 'the serving certificate (chain): its CA is the caBundle of the webhook configuration')
      .requiredOption('--tls-key <pem>', 'the private key of --tls-cert')
      .option('--client-ca <pem>', 'require a client certificate issued by this CA (the API server\'s, from its AdmissionConfiguration kubeconfig)')
      .option('--port <port>', 'TCP port (0: any free one)', '8443')
      .option('--host <host>', 'address to listen on', '0.0.0.0')
      .option('--mutating', 'also serve POST /mutate: an allowed CREATE/UPDATE gets its writ as the annotation writ.local/writ')
      .option('--ttl <seconds>', 'lifetime of the writs issued (default: the node\'s, 60 s)'),
  ).action(async (o: AdmissionFlags) => {
    const home = homeOf(o);
    const tls = admissionTlsOptions(o);
    const port = o.port === '0' ? 0 : parsePositiveInt(o.port, '--port');
    const ttlSeconds = o.ttl === undefined ? undefined : parsePositiveInt(o.ttl, '--ttl');
    const log = (s: string) => process.stderr.write(`writ: ${s}\n`);
    const h = await openHome(home, { writer: 'worker' });
    const server = createAdmissionServer({
      node: h.node,
      https: tls,
      mutating: o.mutating === true,
      ...(ttlSeconds !== undefined && { ttlSeconds }),
      onError: (err) => log(`admission: ${errorMessage(err)}`),
    });
    // every second: bundles activated by other processes, and a checkpoint if the log grew
    const stopUpkeep = startHomeUpkeep(h, log);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, o.host, () => resolve());
      });
    } catch (err) {
      stopUpkeep();
      h.close();
      throw new CliError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(err)}`, EXIT.error);
    }
    const a = server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    log(`admission webhook listening on https://${host}:${a.port} (POST /validate${o.mutating ? ', POST /mutate' : ''}); home ${home}`);
    const stop = () => {
      stopUpkeep();
      server.close();
      server.closeAllConnections();
      h.close();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/**
 * TLS client certificates as caller credentials (issue 10, point 1; docs/http-api.md,
 * "Callers and credentials"), for a node serving HTTPS with `--client-ca` (src/cli/tls-options.ts).
 * The server requests a certificate but does not reject the handshake without a valid one
 * (`rejectUnauthorized: false`): the request must reach its route to be *recorded* as a 401
 * denial, or to authenticate otherwise (a token). So this authenticator checks the chain
 * result itself:
 *  - no client certificate (or plain HTTP): not this kind of credential;
 *  - a certificate whose chain does not verify against the client CA: invalid (401);
 *  - a CA-verified certificate: the one live caller registered for it (src/node/callers.ts,
 *    `writ caller add --cert | --spiffe-id`) whose pinned SHA-256 (of the DER) and/or SPIFFE
 *    ID (the certificate's one URI SAN) match exactly; none, or more than one: invalid (401).
 */
import { X509Certificate } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import type { Caller, CallerStore } from '../node/callers.ts';
import { sha256Hex } from '../util.ts';
import type { CallerAuthenticator, Credential } from './caller-auth.ts';

/** The SHA-256 (lowercase hex) of a PEM certificate's DER: what `writ caller add --cert` pins. */
export function certificateSha256(pem: string | Buffer): string {
  return sha256Hex(new X509Certificate(pem).raw);
}

/**
 * The URI SANs of a certificate. Node prints a SAN value that holds a comma, quote or the
 * like as a JSON string, so values are read as such, never split inside quotes.
 */
export function uriSans(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (text === undefined) return [];
  const entry = /([A-Za-z][A-Za-z ]*):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  const out: string[] = [];
  while (entry.lastIndex < text.length) {
    const m = entry.exec(text);
    // unparseable: no URI SAN is trusted rather than a misread one
    if (!m?.[1] || m[2] === undefined) return [];
    if (m[1] === 'URI') out.push(m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2]);
  }
  return out;
}

/** The SPIFFE ID of an X.509-SVID: its only URI SAN (a certificate with several has none). */
function spiffeIdOf(cert: X509Certificate): string | null {
  const uris = uriSans(cert);
  return uris.length === 1 && uris[0]?.startsWith('spiffe://') ? uris[0] : null;
}

function fits(c: Caller, sha256: string, spiffeId: string | null): boolean {
  const m = c.certificate;
  if (!m || (m.sha256 === null && m.spiffeId === null)) return false;
  return (m.sha256 === null || m.sha256 === sha256) && (m.spiffeId === null || m.spiffeId === spiffeId);
}

const invalid = (message: string): Credential => ({ kind: 'invalid', message });

export function tlsAuthenticator(store: CallerStore): CallerAuthenticator {
  return {
    scheme: 'TLS client certificate',
    authenticate(req) {
      const socket = req.raw.socket;
      if (!(socket instanceof TLSSocket)) return { kind: 'none' };
      // an empty object when the client sent no certificate
      const peer = socket.getPeerCertificate();
      if (!(peer.raw instanceof Buffer) || peer.raw.length === 0) return { kind: 'none' };
      if (!socket.authorized) return invalid(`the client certificate is not issued by this node's client CA (${String(socket.authorizationError)})`);
      const cert = new X509Certificate(peer.raw);
      const sha256 = sha256Hex(cert.raw);
      const spiffeId = spiffeIdOf(cert);
      // read per request: `writ caller remove` counts at the next request
      const found = store.certificateCallers().filter((c) => fits(c, sha256, spiffeId));
      if (found.length === 0) return invalid(`no caller is registered for this client certificate (sha256 ${sha256}${spiffeId === null ? '' : `, ${spiffeId}`})`);
      const [caller, ...more] = found;
      if (caller === undefined || more.length > 0) return invalid(`several callers match this client certificate (${found.map((c) => c.name).join(', ')}): remove all but one`);
      return { kind: 'caller', caller };
    },
  };
}

/**
 * The caller credentials a node's decision routes accept (docs/http-api.md, "Callers and
 * credentials"), all configured in the home's state.db: `writ_` tokens (checked first),
 * bearer JWTs of the OIDC issuers of `writ caller issuer add`, then TLS client certificates
 * (`writ caller add --cert | --spiffe-id`; only over HTTPS with --client-ca).
 */
import type { DatabaseSync } from 'node:sqlite';
import { IssuerStore } from '../node/caller-issuers.ts';
import { CallerStore } from '../node/callers.ts';
import type { CallerAccess } from './caller-auth.ts';
import { oidcAuthenticator } from './oidc-auth.ts';
import { tlsAuthenticator } from './tls-auth.ts';

export function homeCallerAccess(db: DatabaseSync): CallerAccess {
  const store = new CallerStore(db);
  return { store, authenticators: [oidcAuthenticator(new IssuerStore(db)), tlsAuthenticator(store)] };
}

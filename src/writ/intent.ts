/**
 * The intent digest binds a writ to one exact call:
 *   intent = base64url( SHA-256( JCS({principal, action, resource, args}) ) )
 * where principal/action/resource are Cedar entity UIDs in text form
 * (e.g. `Agent::"a1"`) and args is the JSON the executor is about to use.
 * SHA-256 by node:crypto in Node, WebCrypto elsewhere (sync-crypto.ts): the same bytes either way.
 */
import { canonicalJson } from '../canonical/json.ts';
import { sha256Base64url } from './sync-crypto.ts';

export { canonicalJson, sha256Base64url };

export interface IntentInput {
  principal: string;
  action: string;
  resource: string;
  args: unknown;
}

/** The exact bytes the intent digest is taken over. */
export function intentCanonical(input: IntentInput): string {
  return canonicalJson({ principal: input.principal, action: input.action, resource: input.resource, args: input.args ?? {} });
}

export function intentDigest(input: IntentInput): Promise<string> {
  return sha256Base64url(intentCanonical(input));
}

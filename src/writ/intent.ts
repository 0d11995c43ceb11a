/**
 * The intent digest binds a writ to one exact call:
 *   intent = base64url( SHA-256( JCS({principal, action, resource, args}) ) )
 * where principal/action/resource are Cedar entity UIDs in text form
 * (e.g. `Agent::"a1"`) and args is the JSON the executor is about to use.
 * Uses WebCrypto so it runs unchanged in browsers and executors.
 */
import { base64url } from 'jose';
import { canonicalJson } from '../canonical/json.ts';

export { canonicalJson };

export interface IntentInput {
  principal: string;
  action: string;
  resource: string;
  args: unknown;
}

export async function sha256Base64url(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return base64url.encode(new Uint8Array(digest));
}

/** The exact bytes the intent digest is taken over. */
export function intentCanonical(input: IntentInput): string {
  return canonicalJson({ principal: input.principal, action: input.action, resource: input.resource, args: input.args ?? {} });
}

export function intentDigest(input: IntentInput): Promise<string> {
  return sha256Base64url(intentCanonical(input));
}

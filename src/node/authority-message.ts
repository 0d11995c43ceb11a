/**
 * Typed messages of the fleet, verifying side (signing is authority/signed.ts): a compact
 * JWS, `alg: Ed25519`, a `typ` per kind of message, verified (writ/typed-jws.ts) against
 * pinned keys. One `typ` per kind means a message of one kind never passes as another.
 */
import type { JWK } from 'jose';
import { TypedJwsError, verifyTyped, type TypedJwsStep } from '../writ/typed-jws.ts';

/** Fails a step of verifyTyped with a message that names `what` was being verified. */
export function failNaming(what: string, unknownKey = (kid: string) => `${what} signed by unknown key ${kid}`): (step: TypedJwsStep, header: Readonly<Record<string, unknown>> | null) => never {
  const problems: Record<TypedJwsStep, (h: Readonly<Record<string, unknown>> | null) => string> = {
    shape: () => `${what}: not a compact JWS`,
    header: () => `${what}: not a compact JWS`,
    alg: () => `${what}: wrong alg or typ`,
    typ: () => `${what}: wrong alg or typ`,
    kid: (h) => unknownKey(String(h?.kid)),
    signature: () => `${what}: signature does not verify`,
    payload: () => `${what}: claims are not an object`,
  };
  return (step, header) => {
    throw new TypedJwsError(step, problems[step](header));
  };
}

/** The claims of a message of kind `typ` signed by one of `keys`, as `validate` returns them; throws (with `what` in the message) otherwise. */
export async function verifyByAuthority<T>(jws: string, typ: string, keys: JWK[], what: string, validate: (claims: Record<string, unknown>) => T): Promise<T> {
  return verifyTyped(jws, { typ, keys, validate, fail: failNaming(what) });
}

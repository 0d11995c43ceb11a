/**
 * Signing side of writs; kept apart from verification (which must stay standalone).
 *
 * The compact serialization (RFC 7515 §7.1) is three base64url parts joined by dots;
 * the node signs it with node:crypto's synchronous Ed25519, because WebCrypto's
 * asynchronous sign (what `jose` uses) costs a thread-pool round trip on every
 * decision. Everything that *reads* a writ — header, algorithm, signature — goes
 * through `jose` in verifyWrit, and the tests verify every issued writ that way.
 */
import { KeyObject, sign } from 'node:crypto';
import type { CryptoKey } from 'jose';
import { WRIT_ALG, WRIT_TYP, type WritClaims } from './claims.ts';

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

function keyObject(key: CryptoKey | KeyObject): KeyObject {
  if (key instanceof KeyObject) return key;
  let k = keyObjects.get(key);
  if (!k) keyObjects.set(key, (k = KeyObject.from(key)));
  if (k.asymmetricKeyType !== 'ed25519' || k.type !== 'private') throw new TypeError('writs are signed with an Ed25519 private key');
  return k;
}

export async function signWrit(claims: WritClaims, key: CryptoKey | KeyObject, kid: string): Promise<string> {
  const header = Buffer.from(JSON.stringify({ alg: WRIT_ALG, typ: WRIT_TYP, kid })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${header}.${payload}`;
  const signature = sign(null, Buffer.from(input), keyObject(key)).toString('base64url');
  return `${input}.${signature}`;
}

/**
 * Ed25519 for the project's tlog code in the browser (src/tlog/crypto.ts, installed here).
 *
 * The tlog's signed-note code is synchronous; WebCrypto's Ed25519 is asynchronous: the
 * caller asks WebCrypto first (`webCryptoVerdicts`) and the synchronous verifier the tlog
 * code calls only looks those verdicts up. A signature nobody asked WebCrypto about is
 * invalid: a missing verdict can never make a check pass. Signing does not exist in the
 * console. SHA-256 is the tlog's own, in JavaScript (src/tlog/sha256.ts, installed by ../main.ts).
 */
import { useCrypto } from '../../../tlog/crypto.ts';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const verdicts = new Map<string, boolean>();
const verdictKey = (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): string => `${hex(pub)}:${hex(sig)}:${hex(msg)}`;

useCrypto({
  ed25519: {
    signer: () => {
      throw new Error('signing is not available in the console');
    },
    verifier: (publicKey) => {
      const pub = Uint8Array.from(publicKey);
      return (msg, sig) => verdicts.get(verdictKey(pub, msg, sig)) === true;
    },
  },
});

/** Asks WebCrypto whether each (message, signature) pair is a valid Ed25519 signature by `publicKey`. */
export async function webCryptoVerdicts(publicKey: Uint8Array, pairs: { msg: Uint8Array; sig: Uint8Array }[]): Promise<void> {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(publicKey), { name: 'Ed25519' }, false, ['verify']);
  for (const { msg, sig } of pairs) {
    const ok = sig.length === 64 && (await crypto.subtle.verify({ name: 'Ed25519' }, key, new Uint8Array(sig), new Uint8Array(msg)));
    verdicts.set(verdictKey(publicKey, msg, sig), ok);
  }
}

export function forgetVerdicts(): void {
  verdicts.clear();
}

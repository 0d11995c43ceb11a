/**
 * The synchronous spec code (./note.ts, ./merkle.ts, ./cosignature.ts, ./proof-file.ts) run
 * with asynchronous primitives — WebCrypto's SHA-256 and Ed25519, the only ones a browser
 * has, and the ones @writ/verify/proof uses so that it needs no SHA-256 package — without a
 * second, asynchronous copy of that code.
 *
 * withAsyncCrypto(fn) runs `fn` (pure: it must not do anything but compute) in rounds. In each
 * round every SHA-256 and Ed25519 question `fn` asks is answered from what is known so far;
 * an unknown digest is answered with 32 zero bytes and an unknown verdict with true, and both
 * are recorded. After the round the recorded questions are put to the asynchronous primitives,
 * and `fn` runs again. The first round that asks nothing unknown is the answer: every digest
 * and verdict it used came from the real primitives, so it is exactly the run `fn` would
 * have had with synchronous ones. Each round answers at least the first unknown question of
 * the one before (the run up to there is the real run), so the rounds end; a Merkle proof of
 * depth d takes about d + 2 of them. Past MAX_ROUNDS it throws WritError('crypto_unavailable')
 * rather than answer from a round that guessed.
 *
 * The installed primitives (./crypto.ts) are swapped only during each synchronous round
 * (withCrypto), so a process that has node:crypto's keeps them for everything else.
 */
import { WritError } from '../writ/errors.ts';
import { withCrypto, type Ed25519 } from './crypto.ts';

/** The asynchronous primitives: WebCrypto's by default. */
export interface AsyncCrypto {
  digest(data: Uint8Array): Promise<Uint8Array>;
  /** whether `sig` is a valid Ed25519 signature (RFC 8032) of `msg` by the raw 32-byte `publicKey`; never throws */
  verify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<boolean>;
}

export const MAX_ROUNDS = 256;

const subtle = (): typeof globalThis.crypto.subtle => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new WritError('crypto_unavailable', 'tlog: no WebCrypto (globalThis.crypto.subtle) in this runtime');
  return s;
};
const copy = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

export const webCrypto: AsyncCrypto = {
  async digest(data) {
    return new Uint8Array(await subtle().digest('SHA-256', copy(data)));
  },
  async verify(publicKey, msg, sig) {
    if (publicKey.length !== 32 || sig.length !== 64) return false;
    try {
      const key = await subtle().importKey('raw', copy(publicKey), { name: 'Ed25519' }, false, ['verify']);
      return await subtle().verify({ name: 'Ed25519' }, key, copy(sig), copy(msg));
    } catch {
      return false; // a key that is not a curve point, a runtime without Ed25519: not a valid signature
    }
  },
};

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs the pure synchronous `fn` with SHA-256 and Ed25519 from `primitives` (WebCrypto by default). */
export async function withAsyncCrypto<T>(fn: () => T, primitives: AsyncCrypto = webCrypto): Promise<T> {
  const digests = new Map<string, Uint8Array>();
  const verdicts = new Map<string, boolean>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const toDigest = new Map<string, Uint8Array>();
    const toVerify = new Map<string, { pub: Uint8Array; msg: Uint8Array; sig: Uint8Array }>();
    const ed25519: Ed25519 = {
      signer: () => {
        throw new WritError('crypto_unavailable', 'tlog: verification only, no signing');
      },
      verifier: (publicKey) => {
        const pub = Uint8Array.from(publicKey);
        return (msg, sig) => {
          const k = `${hex(pub)}:${hex(sig)}:${hex(msg)}`;
          const v = verdicts.get(k);
          if (v !== undefined) return v;
          toVerify.set(k, { pub, msg: Uint8Array.from(msg), sig: Uint8Array.from(sig) });
          return true;
        };
      },
    };
    const sha256 = (...parts: Uint8Array[]): Uint8Array => {
      const data = concat(parts);
      const k = hex(data);
      const d = digests.get(k);
      if (d) return Uint8Array.from(d);
      toDigest.set(k, data);
      return new Uint8Array(32);
    };
    const outcome = withCrypto({ sha256, ed25519 }, (): Outcome<T> => {
      try {
        return { ok: true, value: fn() };
      } catch (error) {
        return { ok: false, error };
      }
    });
    if (toDigest.size === 0 && toVerify.size === 0) {
      if (outcome.ok) return outcome.value;
      throw outcome.error;
    }
    await Promise.all([
      ...[...toDigest].map(async ([k, data]) => void digests.set(k, await primitives.digest(data))),
      ...[...toVerify].map(async ([k, q]) => void verdicts.set(k, await primitives.verify(q.pub, q.msg, q.sig))),
    ]);
  }
  throw new WritError('crypto_unavailable', `tlog: the verification did not settle in ${MAX_ROUNDS} rounds of asynchronous crypto`);
}

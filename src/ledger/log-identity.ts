/**
 * One log, one identity. Every log Writ signs has its own origin and its own signed-note
 * key, so no two logs can produce validly signed checkpoints under one name:
 *
 *   - a home's embedded log:  `writ.local/<domain>/<nodeId>`, key `keys/log.key` (writ init);
 *   - a fleet's log (the sequencer's, in PostgreSQL): `writ.fleet/<fleet>/<domain>`, key
 *     `keys/fleet-log-<fleet>.key` in the authority home, generated the first time the
 *     sequencer (or the authority's console) needs it and kept; its verifier key is
 *     `keys/fleet-log-<fleet>.pub`, printed by `writ fleet keys --log`.
 *
 * And whatever signs a checkpoint first checks it against the newest one it signed before
 * under that origin (`assertExtends`): same size and root, or larger and consistent. A tree
 * truncated or rewritten under the log is refused, never signed over.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import './node-crypto.ts'; // node:crypto's SHA-256 and Ed25519 for the tlog modules
import { parseCheckpoint } from '../tlog/checkpoint.ts';
import { verifyConsistency } from '../tlog/merkle.ts';
import { generateKey, newSigner, newVerifier, openNote, verifierKeyOf, type NoteSigner, type NoteVerifier } from '../tlog/note.ts';
import { WritError } from '../writ/errors.ts';

export class LogForkError extends WritError {
  override name = 'LogForkError';
  constructor(message: string, options?: ErrorOptions) {
    super('log_fork', message, options);
  }
}

/** The fleet log's origin: it names the fleet and the authority's domain, never a node. */
export const fleetLogOrigin = (fleet: string, domain: string): string => `writ.fleet/${fleet}/${domain}`;

export const fleetLogKeyPaths = (home: string, fleet: string) => ({
  signer: join(home, 'keys', `fleet-log-${fleet}.key`),
  verifier: join(home, 'keys', `fleet-log-${fleet}.pub`),
});

export interface LogIdentity {
  origin: string;
  verifierKey: string;
  verifier: NoteVerifier;
}

/** Writes `text` to `file` only if it does not exist yet, atomically (a reader never sees half a key). */
function createOnce(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, text, { mode });
  try {
    linkSync(tmp, file); // fails with EEXIST if another process made it first: theirs stands
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * The fleet log's key in the authority home, generated once. The private key is written
 * first: the public file exists only for a key that does. Both must name the fleet log's
 * origin and match each other, or nothing is signed or verified with them.
 */
export function fleetLogKey(home: string, fleet: string, domain: string): LogIdentity & { signer: NoteSigner } {
  const origin = fleetLogOrigin(fleet, domain);
  const p = fleetLogKeyPaths(home, fleet);
  if (!existsSync(p.signer)) createOnce(p.signer, generateKey(origin).signerKey + '\n', 0o600);
  const skey = readFileSync(p.signer, 'utf8').trim();
  const signer = newSigner(skey);
  if (signer.name !== origin) throw new LogForkError(`${p.signer} is the key of ${signer.name}, not of the fleet log ${origin}`);
  const verifierKey = verifierKeyOf(skey);
  createOnce(p.verifier, verifierKey + '\n', 0o644);
  const published = readFileSync(p.verifier, 'utf8').trim();
  if (published !== verifierKey) throw new LogForkError(`${p.verifier} does not hold the verifier key of ${p.signer}`);
  return { origin, verifierKey, verifier: newVerifier(verifierKey), signer };
}

/** The fleet log's published verifier key, or null before the key exists. */
export function readFleetLogVerifierKey(home: string, fleet: string): string | null {
  const file = fleetLogKeyPaths(home, fleet).verifier;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

/**
 * Refuses to sign a tree that does not extend the newest checkpoint signed before under
 * this origin: its size and root are taken from the verified note (not a stored column).
 * A smaller tree (truncated), the same size with another root, or a larger tree whose
 * prefix is not that checkpoint's tree (rewritten) throw LogForkError.
 */
export function assertExtends(previousNote: string, verifier: NoteVerifier, origin: string, size: number, root: Uint8Array, prove: (from: number) => Uint8Array[]): void {
  const signed = parseCheckpoint(openNote(previousNote, [verifier]).text);
  const was = `the checkpoint of size ${signed.size} signed before under ${origin}`;
  if (signed.origin !== origin) throw new LogForkError(`${was} names the origin ${signed.origin}`);
  if (size < signed.size) throw new LogForkError(`the tree has ${size} entries, fewer than ${was}: truncated; refusing to sign`);
  if (size === signed.size) {
    if (!Buffer.from(root).equals(Buffer.from(signed.rootHash))) throw new LogForkError(`the tree of size ${size} has another root than ${was}: rewritten; refusing to sign`);
    return;
  }
  try {
    verifyConsistency(signed.size, size, prove(signed.size), signed.rootHash, root);
  } catch (err) {
    throw new LogForkError(`the tree of size ${size} is not consistent with ${was} (${(err as Error).message}): refusing to sign`);
  }
}

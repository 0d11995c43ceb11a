/**
 * The body of a C2SP tlog-witness `add-checkpoint` request (c2sp.org/tlog-witness):
 *
 *     old <size, decimal, no leading zeroes>\n
 *     <base64 consistency proof hash>\n        (0 to 63 lines)
 *     \n
 *     <the signed checkpoint note>
 *
 * Parsing is strict (canonical decimal, canonical base64 of 32 bytes, at most 63 proof
 * lines) and throws WitnessRequestError; the witness answers it with 400.
 */
import { parseDecimal } from '../tlog/checkpoint.ts';
import { decodeBase64, encodeBase64 } from '../tlog/base64.ts';
import { HASH_SIZE } from '../tlog/merkle.ts';
import { WritError } from '../writ/errors.ts';

export const MAX_PROOF_LINES = 63;

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** the signed checkpoint note, verbatim */
  checkpoint: string;
}

export class WitnessRequestError extends WritError {
  constructor(message: string) {
    super('witness_request_malformed', message);
    this.name = 'WitnessRequestError';
  }
}

export function formatAddCheckpoint(r: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(r.oldSize) || r.oldSize < 0) throw new WitnessRequestError(`invalid old size ${r.oldSize}`);
  if (r.proof.length > MAX_PROOF_LINES) throw new WitnessRequestError(`${r.proof.length} proof lines, at most ${MAX_PROOF_LINES}`);
  if (r.proof.some((h) => h.length !== HASH_SIZE)) throw new WitnessRequestError('proof hashes must be 32 bytes');
  return `old ${r.oldSize}\n${r.proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${r.checkpoint}`;
}

export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  let rest = body;
  const next = (): string => {
    const i = rest.indexOf('\n');
    if (i < 0) throw new WitnessRequestError('request ends before the checkpoint');
    const line = rest.slice(0, i);
    rest = rest.slice(i + 1);
    return line;
  };
  const first = next();
  if (!first.startsWith('old ')) throw new WitnessRequestError('first line is not "old <size>"');
  const oldSize = parseDecimal(first.slice(4));
  if (oldSize === undefined) throw new WitnessRequestError(`malformed old size ${JSON.stringify(first.slice(4))}`);
  const proof: Uint8Array[] = [];
  for (let line = next(); line !== ''; line = next()) {
    if (proof.length === MAX_PROOF_LINES) throw new WitnessRequestError(`more than ${MAX_PROOF_LINES} consistency proof lines`);
    const h = decodeBase64(line);
    if (!h || h.length !== HASH_SIZE) throw new WitnessRequestError(`proof line ${proof.length + 1} is not a base64 SHA-256 hash`);
    proof.push(h);
  }
  if (rest === '') throw new WitnessRequestError('missing checkpoint');
  return { oldSize, proof, checkpoint: rest };
}

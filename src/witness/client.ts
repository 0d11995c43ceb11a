/**
 * The log's side of C2SP tlog-witness: asking one witness to cosign a checkpoint.
 *
 * The client remembers the size the witness last cosigned for this log (0 at first, as the
 * spec allows) and sends the consistency proof from it. A 409 with a `text/x.tlog.size`
 * body names the witness's size: the client learns it and tries once more from there (a
 * restarted log, or a witness fed by another of the log's processes). A 409 at the size it
 * just named means the witness holds another root for that size: the witness saw another
 * view of this log, which is reported, never worked around. The cosignature returned is
 * verified with the pinned witness key before it is accepted; anything else is an error.
 * Every request has a timeout: a witness that is down costs its timeout, in the background.
 */
import { cosignatureTimestamp, newCosignatureVerifier } from '../tlog/cosignature.ts';
import { parseDecimal } from '../tlog/checkpoint.ts';
import { openNote, type NoteVerifier } from '../tlog/note.ts';
import { WritError } from '../writ/errors.ts';
import { formatAddCheckpoint } from './request.ts';
import { SIZE_CONTENT_TYPE } from './witness.ts';

/** A witness the log submits to: its submission prefix (URL) and its pinned cosigner key. */
export interface WitnessEndpoint {
  url: string;
  verifierKey: string;
}

export type WitnessClientErrorCode = 'witness_endpoint_invalid' | 'witness_unreachable' | 'witness_refused' | 'witness_conflict' | 'witness_bad_cosignature' | 'witness_ahead';

export class WitnessClientError extends WritError {
  override readonly code: WitnessClientErrorCode;
  readonly status?: number;
  constructor(code: WitnessClientErrorCode, message: string, status?: number) {
    super(code, message);
    this.name = 'WitnessClientError';
    this.code = code;
    if (status !== undefined) this.status = status;
  }
}

export interface Cosigned {
  /** the cosignature line(s), each `— <name> <base64>\n` */
  lines: string;
  timestamp: number | undefined;
}

/**
 * Parses `<witness verifier key>@<submission URL>`: the key first, since a key's base64
 * never holds '@' (its name may), so the first '@' after the key's second '+' splits the two.
 */
export function parseWitnessEndpoint(s: string): WitnessEndpoint {
  const second = s.indexOf('+', s.indexOf('+') + 1);
  const at = second < 0 ? -1 : s.indexOf('@', second);
  if (at < 0) throw new WitnessClientError('witness_endpoint_invalid', `witness ${JSON.stringify(s)}: expected <verifier key>@<submission URL>`);
  const verifierKey = s.slice(0, at);
  const url = s.slice(at + 1).replace(/\/+$/, '');
  newCosignatureVerifier(verifierKey); // throws CosignatureError('bad-key')
  if (!/^https?:\/\/[^/]/.test(url)) throw new WitnessClientError('witness_endpoint_invalid', `witness ${JSON.stringify(s)}: the URL must be http(s)`);
  return { url, verifierKey };
}

export class WitnessClient {
  readonly endpoint: WitnessEndpoint;
  readonly #verifier: NoteVerifier;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  /** the size the witness last cosigned for this log, as far as this client knows */
  knownSize = 0;

  constructor(endpoint: WitnessEndpoint, o: { timeoutMs?: number; fetch?: typeof fetch } = {}) {
    this.endpoint = endpoint;
    this.#verifier = newCosignatureVerifier(endpoint.verifierKey);
    this.#timeoutMs = o.timeoutMs ?? 5_000;
    this.#fetch = o.fetch ?? globalThis.fetch;
  }

  get name(): string {
    return this.#verifier.name;
  }

  /** Asks for a cosignature of `note` (a log-signed checkpoint of `size`); `prove(from)` is the consistency proof to `size`. */
  async cosign(note: string, size: number, prove: (from: number) => Promise<Uint8Array[]>): Promise<Cosigned> {
    for (let attempt = 0; ; attempt++) {
      const old = this.knownSize;
      if (old > size) throw new WitnessClientError('witness_ahead', `${this.name} has cosigned size ${old}, larger than this checkpoint (${size}): the log lost entries, or the witness saw another view`);
      const body = formatAddCheckpoint({ oldSize: old, proof: await prove(old), checkpoint: note });
      const res = await this.#post(body);
      if (res.status === 200) {
        const c = this.#accept(note, res.body);
        this.knownSize = size;
        return c;
      }
      if (res.status === 409 && res.contentType.split(';')[0]?.trim() === SIZE_CONTENT_TYPE) {
        const theirs = parseDecimal(res.body.endsWith('\n') ? res.body.slice(0, -1) : res.body);
        if (theirs === undefined) throw new WitnessClientError('witness_refused', `${this.name}: 409 with a malformed size ${JSON.stringify(res.body)}`, 409);
        if (theirs === old || attempt > 0) {
          throw new WitnessClientError('witness_conflict', `${this.name} refused size ${size} from ${old} (409, its size ${theirs}): it holds another checkpoint at that size — another view of this log?`, 409);
        }
        this.knownSize = theirs;
        continue;
      }
      throw new WitnessClientError('witness_refused', `${this.name}: HTTP ${res.status}: ${res.body.trim().slice(0, 200)}`, res.status);
    }
  }

  async #post(body: string): Promise<{ status: number; contentType: string; body: string }> {
    try {
      const res = await this.#fetch(`${this.endpoint.url}/add-checkpoint`, { method: 'POST', body, headers: { 'content-type': 'text/plain; charset=utf-8' }, signal: AbortSignal.timeout(this.#timeoutMs) });
      return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
    } catch (e) {
      throw new WitnessClientError('witness_unreachable', `${this.name} at ${this.endpoint.url}: ${(e as Error).message}`);
    }
  }

  /** The witness's own cosignature lines of the response, verified over `note`'s text. */
  #accept(note: string, body: string): Cosigned {
    const mineId = (s: { name: string; keyId: number }): boolean => s.name === this.#verifier.name && s.keyId === this.#verifier.keyId;
    try {
      if (body === '' || !body.endsWith('\n') || body.split('\n').slice(0, -1).some((l) => !l.startsWith('\u2014 '))) throw new Error('not a sequence of signature lines');
      const mine = openNote(note + body, [this.#verifier]).sigs.filter(mineId);
      if (mine.length === 0) throw new Error('no cosignature by the pinned key');
      return { lines: mine.map((s) => `\u2014 ${s.name} ${s.base64}\n`).join(''), timestamp: cosignatureTimestamp((mine[0] as { base64: string }).base64) };
    } catch (e) {
      throw new WitnessClientError('witness_bad_cosignature', `${this.name}: the response is not a valid cosignature: ${(e as Error).message}`, 200);
    }
  }
}

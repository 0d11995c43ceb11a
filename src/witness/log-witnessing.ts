/**
 * A log's witnesses (ledger/checkpoint-signer.ts CheckpointWitnesses, over ./client.ts):
 * each new checkpoint is submitted to every configured witness, in parallel and in the
 * background; the cosignatures that come back (verified against the pinned witness keys)
 * are kept with the checkpoint's text, and `cosigned(note)` appends them to the note the
 * log serves, so GET /v1/log/checkpoint and the proof files made from it carry them.
 *
 * A witness that is down or refuses delays nothing: its request runs on its own, with a
 * timeout; after a failure it is not asked again for `retryMs`, then is asked for the
 * latest checkpoint, from whatever size it reports (409). One request per witness at a
 * time, so what the client learnt of its size stays true. The cosignatures live in memory,
 * for the newest `keep` checkpoints: after a restart the log asks again for its latest
 * checkpoint — a witness cosigns the same checkpoint again (old size = size, same root).
 * A witness's refusal that points at a split view (409 at its own size, or a witness
 * ahead of the log) is logged as such.
 */
import type { CheckpointWitnesses } from '../ledger/checkpoint-signer.ts';
import type { StoredCheckpoint } from '../ledger/log-store.ts';
import { WitnessClient, WitnessClientError, type WitnessEndpoint } from './client.ts';

export interface WitnessStatus {
  name: string;
  url: string;
  /** the size this witness last cosigned, as far as the log knows */
  knownSize: number;
  lastError: string | null;
}

interface Entry {
  client: WitnessClient;
  busy: boolean;
  failedAt: number | null;
  lastError: string | null;
}

const textOf = (note: string): string => note.slice(0, note.lastIndexOf('\n\n') + 1);

export class LogWitnessing implements CheckpointWitnesses {
  readonly #witnesses: Entry[];
  /** note text → witness index → cosignature lines */
  readonly #cosignatures = new Map<string, Map<number, string>>();
  readonly #keep: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #log: (s: string) => void;

  constructor(endpoints: WitnessEndpoint[], o: { timeoutMs?: number; retryMs?: number; keep?: number; now?: () => number; log?: (s: string) => void; fetch?: typeof fetch } = {}) {
    const keys = new Set(endpoints.map((e) => e.verifierKey));
    if (keys.size !== endpoints.length) throw new WitnessClientError('witness_endpoint_invalid', 'a witness is configured twice');
    this.#witnesses = endpoints.map((e) => ({ client: new WitnessClient(e, { ...(o.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }), ...(o.fetch && { fetch: o.fetch }) }), busy: false, failedAt: null, lastError: null }));
    this.#keep = o.keep ?? 8;
    this.#retryMs = o.retryMs ?? 10_000;
    this.#now = o.now ?? Date.now;
    this.#log = o.log ?? (() => {});
  }

  async submit(cp: StoredCheckpoint, prove: (from: number) => Promise<Uint8Array[]>): Promise<void> {
    const text = textOf(cp.note);
    const have = this.#cosignatures.get(text);
    await Promise.allSettled(
      this.#witnesses.map(async (w, i) => {
        if (have?.has(i) || w.busy) return;
        if (w.failedAt !== null && this.#now() - w.failedAt < this.#retryMs) return;
        w.busy = true;
        try {
          const c = await w.client.cosign(cp.note, cp.size, prove);
          this.#store(text, i, c.lines);
          w.failedAt = null;
          w.lastError = null;
        } catch (e) {
          w.failedAt = this.#now();
          w.lastError = (e as Error).message;
          const splitView = e instanceof WitnessClientError && (e.code === 'witness_conflict' || e.code === 'witness_ahead');
          this.#log(`${splitView ? 'WITNESS SAW ANOTHER VIEW: ' : ''}no cosignature from ${w.client.name} for size ${cp.size}: ${w.lastError}`);
        } finally {
          w.busy = false;
        }
      }),
    );
  }

  #store(text: string, i: number, lines: string): void {
    let m = this.#cosignatures.get(text);
    if (!m) {
      m = new Map();
      this.#cosignatures.set(text, m);
      while (this.#cosignatures.size > this.#keep) this.#cosignatures.delete(this.#cosignatures.keys().next().value as string);
    }
    m.set(i, lines);
  }

  cosigned(note: string): string {
    const m = this.#cosignatures.get(textOf(note));
    if (!m) return note;
    // in configuration order, whatever order the answers came in
    return note + [...m.entries()].sort(([a], [b]) => a - b).map(([, l]) => l).join('');
  }

  /** how many witnesses cosigned `note`'s checkpoint so far */
  witnessCount(note: string): number {
    return this.#cosignatures.get(textOf(note))?.size ?? 0;
  }

  status(): WitnessStatus[] {
    return this.#witnesses.map((w) => ({ name: w.client.name, url: w.client.endpoint.url, knownSize: w.client.knownSize, lastError: w.lastError }));
  }
}

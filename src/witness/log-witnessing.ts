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
 * time, so what the client learnt of its size stays true. The cosignatures are kept in
 * memory for the newest `keep` checkpoints and, given a `store` (the log's own storage,
 * ledger/checkpoint-signer.ts CosignatureStore), stored with the checkpoint: a restarted log
 * reads them back (verified again with the pinned keys) before asking, and serves them
 * without asking again. Without a store, a restarted log asks again for its latest
 * checkpoint — a witness cosigns the same checkpoint again (old size = size, same root).
 * A witness's refusal that points at a split view (409 at its own size, or a witness
 * ahead of the log) is logged as such.
 */
import type { CheckpointWitnesses, CosignatureStore } from '../ledger/checkpoint-signer.ts';
import type { StoredCheckpoint } from '../ledger/log-store.ts';
import { newCosignatureVerifier } from '../tlog/cosignature.ts';
import type { NoteVerifier } from '../tlog/note.ts';
import { WitnessClient, WitnessClientError, type WitnessEndpoint } from './client.ts';
import { checkStoredLines, noteTextOf as textOf } from './stored-cosignatures.ts';

export interface WitnessStatus {
  name: string;
  url: string;
  /** the size this witness last cosigned, as far as the log knows */
  knownSize: number;
  lastError: string | null;
}

interface Entry {
  client: WitnessClient;
  verifierKey: string;
  verifier: NoteVerifier;
  busy: boolean;
  failedAt: number | null;
  lastError: string | null;
}

export class LogWitnessing implements CheckpointWitnesses {
  readonly #witnesses: Entry[];
  /** note text → witness index → cosignature lines */
  readonly #cosignatures = new Map<string, Map<number, string>>();
  readonly #keep: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #log: (s: string) => void;
  readonly #store: CosignatureStore | null;
  /** note text → the read of its stored cosignatures, while it runs */
  readonly #loading = new Map<string, Promise<void>>();

  constructor(endpoints: WitnessEndpoint[], o: { timeoutMs?: number; retryMs?: number; keep?: number; now?: () => number; log?: (s: string) => void; fetch?: typeof fetch; store?: CosignatureStore } = {}) {
    const keys = new Set(endpoints.map((e) => e.verifierKey));
    if (keys.size !== endpoints.length) throw new WitnessClientError('witness_endpoint_invalid', 'a witness is configured twice');
    this.#witnesses = endpoints.map((e) => ({
      client: new WitnessClient(e, { ...(o.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }), ...(o.fetch && { fetch: o.fetch }) }),
      verifierKey: e.verifierKey,
      verifier: newCosignatureVerifier(e.verifierKey),
      busy: false,
      failedAt: null,
      lastError: null,
    }));
    this.#store = o.store ?? null;
    this.#keep = o.keep ?? 8;
    this.#retryMs = o.retryMs ?? 10_000;
    this.#now = o.now ?? Date.now;
    this.#log = o.log ?? (() => {});
  }

  async submit(cp: StoredCheckpoint, prove: (from: number) => Promise<Uint8Array[]>): Promise<void> {
    const text = textOf(cp.note);
    await this.#load(cp);
    const have = this.#cosignatures.get(text);
    await Promise.allSettled(
      this.#witnesses.map(async (w, i) => {
        if (have?.has(i) || w.busy) return;
        if (w.failedAt !== null && this.#now() - w.failedAt < this.#retryMs) return;
        w.busy = true;
        try {
          const c = await w.client.cosign(cp.note, cp.size, prove);
          this.#remember(text, i, c.lines);
          w.failedAt = null;
          w.lastError = null;
          await this.#store?.saveCosignature(cp.size, w.verifierKey, c.lines).catch((e: unknown) => this.#log(`could not store the cosignature of ${w.client.name} for size ${cp.size}: ${(e as Error).message}`));
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

  #entry(text: string): Map<number, string> {
    let m = this.#cosignatures.get(text);
    if (!m) {
      m = new Map();
      this.#cosignatures.set(text, m);
      while (this.#cosignatures.size > this.#keep) this.#cosignatures.delete(this.#cosignatures.keys().next().value as string);
    }
    return m;
  }

  #remember(text: string, i: number, lines: string): void {
    this.#entry(text).set(i, lines);
  }

  /**
   * Reads the stored cosignatures of `cp` into memory, once per checkpoint kept (an entry
   * in memory, even empty, means it was read). Each stored line must still verify with
   * the pinned key over this checkpoint: one that does not (a row edited, a key no longer
   * configured) is dropped and the witness is asked again. A failed read is logged and
   * retried next time; the witnesses are asked meanwhile.
   */
  async #load(cp: StoredCheckpoint): Promise<void> {
    const store = this.#store;
    const text = textOf(cp.note);
    if (!store || this.#cosignatures.has(text)) return;
    let p = this.#loading.get(text);
    if (!p) {
      p = (async () => {
        const stored = await store.cosignatures(cp.size);
        const m = this.#entry(text);
        this.#witnesses.forEach((w, i) => {
          const lines = stored.get(w.verifierKey);
          if (lines === undefined || m.has(i)) return;
          try {
            checkStoredLines(text, lines, w.verifier);
            m.set(i, lines);
          } catch (e) {
            this.#log(`the stored cosignature of ${w.client.name} for size ${cp.size} does not verify (${(e as Error).message}): asking again`);
          }
        });
      })()
        .catch((e: unknown) => this.#log(`could not read the stored cosignatures for size ${cp.size}: ${(e as Error).message}`))
        .finally(() => this.#loading.delete(text));
      this.#loading.set(text, p);
    }
    await p;
  }

  /** `cp`'s note with the cosignatures obtained, stored ones included. */
  async cosignedNote(cp: StoredCheckpoint): Promise<string> {
    await this.#load(cp);
    return this.cosigned(cp.note);
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

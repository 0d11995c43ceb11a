/**
 * The load of the revocation measurement (bench/propagation.ts), on its own thread: one
 * `POST /v1/authorize` in flight per node until the node denies with principal_quarantined.
 * On the bench's own thread these pollers held up the bench's revocation put (its sending
 * and its acknowledgement) behind their HTTP work — a cost no authority has, which skewed
 * the "from sending" and "from the acknowledged put" figures; here only the cores are
 * shared, as with any other load.
 *
 * Shared with the bench (`flags`, an Int32Array over a SharedArrayBuffer, read and written
 * with Atomics so that no message can overtake another):
 *   flags[0] answered  pollers that had an answer this round (the bench revokes once all did)
 *   flags[1] revocation round  the round whose revocation the bench is putting: a denial before it fails
 * Messages: the bench posts a PollRound; the thread answers with a PollResult.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface PollTarget {
  id: string;
  url: string;
  headers: Record<string, string>;
}

export interface PollRound {
  round: number;
  body: string;
  targets: PollTarget[];
  timeoutMs: number;
}

/** `denied[k]`: when targets[k] answered principal_quarantined (ms since the epoch) */
export type PollResult = { round: number; denied: number[] } | { round: number; error: string };

export const ANSWERED = 0;
export const REVOCATION_ROUND = 1;

const epochNow = () => performance.timeOrigin + performance.now();

async function pollOne(t: PollTarget, r: PollRound, flags: Int32Array): Promise<number> {
  const deadline = Date.now() + r.timeoutMs;
  for (let first = true; ; first = false) {
    const res = await fetch(`${t.url}/v1/authorize`, { method: 'POST', headers: t.headers, body: r.body, signal: AbortSignal.timeout(r.timeoutMs) });
    const d = (await res.json()) as { reasons?: string[] };
    const at = epochNow();
    if (first) Atomics.add(flags, ANSWERED, 1);
    if (d.reasons?.includes('principal_quarantined')) {
      if (Atomics.load(flags, REVOCATION_ROUND) !== r.round) throw new Error(`${t.id} denied as quarantined before the quarantine was put`);
      return at;
    }
    if (Date.now() > deadline) throw new Error(`${t.id} did not deny within ${r.timeoutMs} ms (last: ${(d.reasons ?? []).join(',')})`);
  }
}

if (parentPort) {
  const port = parentPort;
  const flags = new Int32Array(workerData as SharedArrayBuffer);
  port.on('message', (r: PollRound) => {
    Promise.all(r.targets.map((t) => pollOne(t, r, flags))).then(
      (denied) => port.postMessage({ round: r.round, denied } satisfies PollResult),
      (err: unknown) => port.postMessage({ round: r.round, error: err instanceof Error ? err.message : String(err) } satisfies PollResult),
    );
  });
}

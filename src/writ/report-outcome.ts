/**
 * How an executor that verified a writ itself (verifyWrit, offline) reports what happened:
 * `POST /v1/outcome` without an outcomeToken, authenticated as a caller of the verify role
 * whose `--audiences` cover the writ's audience (docs/http-api.md, "Outcomes from executors
 * that verify offline"). Standalone: global `fetch` only.
 */
export interface OutcomeReport {
  /** the node's base URL, e.g. `http://127.0.0.1:8700` */
  url: string;
  /** the executor's caller credential: `Authorization: Bearer <token>` */
  token: string;
  writ: string;
  status: 'ok' | 'failed' | 'terminated' | 'not_started';
  durationMs: number;
  exitCode?: number | null;
  signal?: string | null;
  reason?: string | null;
  isError?: boolean;
  resultDigest?: string | null;
}

/** Resolves to the ledger index of the recorded outcome; rejects with the node's error code and message otherwise. */
export async function reportOutcome(r: OutcomeReport): Promise<{ jti: string; ledgerIndex: number }> {
  const { url, token, ...body } = r;
  const res = await fetch(new URL('/v1/outcome', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const answer = (await res.json().catch(() => ({}))) as { jti?: string; ledgerIndex?: number; error?: string; message?: string };
  if (res.status !== 201 || typeof answer.ledgerIndex !== 'number' || typeof answer.jti !== 'string') {
    throw Object.assign(new Error(`outcome not recorded: HTTP ${res.status} ${answer.error ?? ''} ${answer.message ?? ''}`.trim()), { code: answer.error ?? `http_${res.status}` });
  }
  return { jti: answer.jti, ledgerIndex: answer.ledgerIndex };
}

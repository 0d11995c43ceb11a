/** Small helpers shared by the node-side modules (not by writ/verify, which stays standalone). */
import { createHash } from 'node:crypto';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Synchronous twin of writ/intent's WebCrypto digest, for the node's hot path. */
export function sha256Base64urlSync(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('base64url');
}

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `15m`, `12h`, `30d` into milliseconds; throws with a clear message. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m || !m[1] || !m[2]) throw new Error(`invalid duration ${JSON.stringify(text)}: use e.g. 30s, 15m, 12h, 30d`);
  const ms = Number(m[1]) * (UNIT_MS[m[2]] ?? NaN);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return ms;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

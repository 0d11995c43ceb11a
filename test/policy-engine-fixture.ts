/** Shared helpers for the Cedar engine tests (policy-engine*.test.ts): entity uids and in-memory policy files. */
import type { EntityUid } from '../src/canonical/uid.ts';

const enc = new TextEncoder();

export function files(o: Record<string, string>): Map<string, Uint8Array> {
  return new Map(Object.entries(o).map(([k, v]) => [k, enc.encode(v)]));
}

export const uid = (type: string, id: string): EntityUid => ({ type, id });

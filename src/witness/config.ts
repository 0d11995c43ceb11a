/**
 * A witness's directory (`writ witness --dir DIR`):
 *
 *     witness.key    the cosigner signer key, PRIVATE+KEY+<name>+<id>+base64(0x04 || seed), mode 0600
 *     witness.json   {"logs": [{"origin": "...", "verifierKeys": ["<name>+<id>+<base64>", ...]}, ...]}
 *     witness.db     the state (./state.ts): the latest cosigned checkpoint per origin
 *
 * The configuration is read whole and checked (every key parses, no origin twice) before
 * the witness starts: a witness that would trust a key it cannot parse does not start.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCosignerKey, newCosigner, type Cosigner } from '../tlog/cosignature.ts';
import { newVerifier } from '../tlog/note.ts';
import { WritError } from '../writ/errors.ts';
import type { WitnessedLog } from './witness.ts';
import '../ledger/node-crypto.ts';

export class WitnessConfigError extends WritError {
  constructor(message: string) {
    super('witness_config_invalid', message);
    this.name = 'WitnessConfigError';
  }
}

export const witnessPaths = (dir: string) => ({ key: join(dir, 'witness.key'), config: join(dir, 'witness.json'), db: join(dir, 'witness.db') });

/** Creates the directory with a new key and no logs; returns the verifier key. Refuses to overwrite a key. */
export function initWitnessDir(dir: string, name: string): string {
  const p = witnessPaths(dir);
  if (existsSync(p.key)) throw new WitnessConfigError(`${p.key} exists: a witness keeps its key (its cosignatures are pinned by it)`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const k = generateCosignerKey(name);
  writeFileSync(p.key, `${k.signerKey}\n`, { mode: 0o600, flag: 'wx' });
  if (!existsSync(p.config)) writeLogs(dir, []);
  return k.verifierKey;
}

export function readCosigner(dir: string): Cosigner {
  const p = witnessPaths(dir);
  let text: string;
  try {
    text = readFileSync(p.key, 'utf8').trim();
  } catch (e) {
    throw new WitnessConfigError(`${p.key}: ${(e as Error).message} (create it with writ witness init)`);
  }
  return newCosigner(text);
}

export function readLogs(dir: string): WitnessedLog[] {
  const p = witnessPaths(dir);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(p.config, 'utf8'));
  } catch (e) {
    throw new WitnessConfigError(`${p.config}: ${(e as Error).message}`);
  }
  const logs = (parsed as { logs?: unknown }).logs;
  if (!Array.isArray(logs)) throw new WitnessConfigError(`${p.config}: "logs" must be an array`);
  const seen = new Set<string>();
  return logs.map((l: unknown, i) => {
    const { origin, verifierKeys } = (l ?? {}) as { origin?: unknown; verifierKeys?: unknown };
    if (typeof origin !== 'string' || origin === '') throw new WitnessConfigError(`${p.config}: logs[${i}].origin must be a non-empty string`);
    if (!Array.isArray(verifierKeys) || verifierKeys.length === 0 || !verifierKeys.every((k) => typeof k === 'string')) {
      throw new WitnessConfigError(`${p.config}: logs[${i}].verifierKeys must be a non-empty array of verifier keys`);
    }
    if (seen.has(origin)) throw new WitnessConfigError(`${p.config}: log ${origin} is listed twice`);
    seen.add(origin);
    for (const k of verifierKeys as string[]) {
      try {
        newVerifier(k);
      } catch (e) {
        throw new WitnessConfigError(`${p.config}: logs[${i}]: ${(e as Error).message}`);
      }
    }
    return { origin, verifierKeys: verifierKeys as string[] };
  });
}

/** Writes witness.json atomically (a temporary file renamed over it). */
export function writeLogs(dir: string, logs: WitnessedLog[]): void {
  const p = witnessPaths(dir);
  const tmp = `${p.config}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ logs }, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, p.config);
}

/** Adds a log (or a key to a log already there); the origin defaults to the key's name. */
export function addLog(dir: string, verifierKey: string, origin?: string): WitnessedLog {
  const v = newVerifier(verifierKey);
  const o = origin ?? v.name;
  const logs = readLogs(dir);
  const existing = logs.find((l) => l.origin === o);
  if (existing) {
    if (!existing.verifierKeys.includes(verifierKey)) existing.verifierKeys.push(verifierKey);
  } else logs.push({ origin: o, verifierKeys: [verifierKey] });
  writeLogs(dir, logs);
  return logs.find((l) => l.origin === o) as WitnessedLog;
}

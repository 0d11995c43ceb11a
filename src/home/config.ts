/**
 * The home directory (`--home`, else $WRIT_HOME, else ./.writ) and its config file,
 * format writ-home/v1. Secrets never live in the config: private keys and the admin
 * token are separate files of mode 0600; the config holds only their public halves
 * or digests.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { JWK } from 'jose';
import { isRecord } from '../util.ts';
import { WritError } from '../writ/errors.ts';

export const HOME_FORMAT = 'writ-home/v1';

/**
 * What a home is (src/home/kind.ts): `embedded` (`writ init`), `fleet-node` (`writ fleet
 * add-node --out`) or `fleet-authority` (marked by `writ fleet add-node` / `writ authority`).
 */
export type HomeKind = 'embedded' | 'fleet-node' | 'fleet-authority';

export interface HomeConfig {
  format: typeof HOME_FORMAT;
  nodeId: string;
  domain: string;
  authority: { threshold: number; keys: JWK[] };
  node: { kid: string; certificate: string };
  admin: { tokenSha256: string };
  /** the transparency log: its origin (= key name) and its signed-note verifier key */
  log: { origin: string; verifierKey: string };
  writ: { lifetimeSeconds: number; maxLifetimeSeconds: number; clockSkewSeconds: number };
  /** absent in homes made before it was recorded: see homeKind() */
  kind?: HomeKind;
  /** fleet homes: the fleet this home belongs to, and the NATS server it is reached at */
  fleet?: { name: string; nats: string };
}

export function resolveHome(flag: string | undefined): string {
  return resolve(flag ?? process.env.WRIT_HOME ?? '.writ');
}

export const paths = (home: string) => ({
  config: join(home, 'config.json'),
  keys: join(home, 'keys'),
  authorityKey: (i: number) => join(home, 'keys', `authority-${i}.key`),
  nodeKey: join(home, 'keys', 'node.key'),
  adminToken: join(home, 'keys', 'admin.token'),
  logKey: join(home, 'keys', 'log.key'),
  db: join(home, 'state.db'),
});

export class HomeError extends WritError {
  override name = 'HomeError';
  constructor(message: string, options?: ErrorOptions) {
    super('home_invalid', message, options);
  }
}

export function readConfig(home: string): HomeConfig {
  const file = paths(home).config;
  if (!existsSync(file)) throw new HomeError(`${home} is not a Writ home (no config.json): run \`writ init --home ${home}\` first`);
  let c: unknown;
  try {
    c = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new HomeError(`${file}: not JSON (${(err as Error).message})`);
  }
  if (!isRecord(c) || c.format !== HOME_FORMAT) throw new HomeError(`${file}: format is not ${HOME_FORMAT}`);
  const cfg = c as unknown as HomeConfig;
  const w = cfg.writ;
  if (!isRecord(w) || !(w.lifetimeSeconds >= 1) || !(w.maxLifetimeSeconds >= w.lifetimeSeconds) || w.maxLifetimeSeconds > 3600) {
    throw new HomeError(`${file}: writ lifetimes must satisfy 1 <= lifetimeSeconds <= maxLifetimeSeconds <= 3600`);
  }
  if (!Array.isArray(cfg.authority?.keys) || !(cfg.authority.threshold >= 1) || cfg.authority.threshold > cfg.authority.keys.length) {
    throw new HomeError(`${file}: authority threshold must be between 1 and the number of authority keys`);
  }
  if (!isRecord(cfg.log) || typeof cfg.log.origin !== 'string' || typeof cfg.log.verifierKey !== 'string') {
    throw new HomeError(`${file}: no transparency log key (log.origin, log.verifierKey): re-run \`writ init --force\``);
  }
  return cfg;
}

export function writeConfig(home: string, c: HomeConfig): void {
  writeFileSync(paths(home).config, JSON.stringify(c, null, 2) + '\n', { mode: 0o644 });
}

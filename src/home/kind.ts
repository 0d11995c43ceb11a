/**
 * What a home is, so that every command acting on it knows (issue 10.4, docs/fleet.md
 * "What a home is"): a fleet node's key must not sign writs into a private ledger the
 * fleet never sees, and an authority's revocation must not stay local.
 *
 * Homes made before the kind was recorded: a home without any authority private key can
 * only have been made by `writ fleet add-node` (`writ init` always writes one), so it is a
 * fleet node; any other is embedded until `writ fleet add-node` or `writ authority` runs
 * on it and records it as the fleet's authority.
 */
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Ledger } from '../ledger/ledger.ts';
import { paths, readConfig, type HomeConfig, type HomeKind } from './config.ts';

export const DEFAULT_NATS = 'nats://127.0.0.1:4222';

export function homeKind(home: string, config: HomeConfig): HomeKind {
  if (config.kind === 'embedded' || config.kind === 'fleet-node' || config.kind === 'fleet-authority') return config.kind;
  const keys = paths(home).keys;
  const holdsAuthorityKey = existsSync(keys) && readdirSync(keys).some((f) => /^authority-\d+\.key$/.test(f));
  return holdsAuthorityKey ? 'embedded' : 'fleet-node';
}

/** The fleet a fleet home belongs to: as recorded, else $WRIT_FLEET / $WRIT_NATS, else the defaults. */
export function homeFleet(config: HomeConfig): { name: string; nats: string } {
  return {
    name: config.fleet?.name ?? process.env.WRIT_FLEET ?? 'writ',
    nats: config.fleet?.nats ?? process.env.WRIT_NATS ?? DEFAULT_NATS,
  };
}

/**
 * Records that `home` is the authority of `fleet` (idempotent). Written to a temporary
 * file and renamed, so a command reading the config meanwhile sees the old or the new one.
 */
export function markFleetAuthority(home: string, fleet: { name: string; nats: string }): void {
  const config = readConfig(home);
  const kind = homeKind(home, config);
  if (kind === 'fleet-node') throw new Error(`${home} is a node home: it cannot be a fleet's authority`);
  if (kind === 'fleet-authority' && config.fleet?.name === fleet.name && config.fleet.nats === fleet.nats) return;
  const file = paths(home).config;
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...config, kind: 'fleet-authority', fleet }, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, file);
}

/**
 * The evidence ledger of a fleet node's home opened without the fleet's stream: every
 * decision append is refused, so the node denies (`ledger_append_failed`) and its key
 * signs nothing (a writ is signed only after its decision is recorded). Other leaves
 * (bundle activations, outcomes) stay in the local ledger, as they did.
 */
export function fleetOnlyEvidence(local: Ledger, home: string, fleet: string): Ledger {
  const refusal = `${home} is a node home of fleet ${fleet}: its key signs writs only with evidence acknowledged by the fleet's stream (run \`writ node\`, or pass --nats)`;
  const ledger: Ledger = {
    append: (req) => (req.type === 'decision' ? Promise.reject(new Error(refusal)) : local.append(req)),
    entry: (index) => local.entry(index),
    size: () => local.size(),
    entries: (from, limit) => local.entries(from, limit),
    findByJti: (jti, type) => local.findByJti(jti, type),
    findByDecisionId: (id) => local.findByDecisionId(id),
    writ: (jti) => local.writ(jti),
    children: (jti) => local.children(jti),
  };
  if (local.approvalUse) ledger.approvalUse = (id) => local.approvalUse?.(id) ?? null;
  return ledger;
}

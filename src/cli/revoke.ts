/**
 * What `writ revoke`, `writ quarantine` and `writ isolate` do, decided by what the home is
 * (src/home/kind.ts): on a fleet authority's home, fleet-wide (the recorded NATS server, or
 * --nats); on a fleet node's home, refused (the authority signs revocations); on an embedded
 * home, locally — unless --nats asks for a fleet explicitly. Never "success" for a revocation
 * that reached nothing.
 */
import { readConfig } from '../home/config.ts';
import { homeFleet, homeKind } from '../home/kind.ts';
import { openHome } from '../home/open.ts';
import { revoke } from '../node/evidence.ts';
import type { RevocationKind } from '../node/state.ts';
import { CliError, EXIT, printJson } from './common.ts';
import { fleetRevoke } from './fleet.ts';

export async function runRevocation(o: { home: string; command: string; past: string; kind: RevocationKind; value: string; reason: string; nats?: string; fleet?: string; json?: boolean }): Promise<void> {
  const config = readConfig(o.home);
  const kind = homeKind(o.home, config);
  if (kind === 'fleet-node' && !o.nats) {
    throw new CliError(`writ ${o.command}: ${o.home} is a node home of fleet ${homeFleet(config).name}: revocations are signed by the fleet's authority (writ ${o.command} --home <authority home>)`, EXIT.usage);
  }
  const nats = o.nats ?? (kind === 'fleet-authority' ? homeFleet(config).nats : undefined);
  const fleetName = o.fleet ?? (kind === 'fleet-authority' ? homeFleet(config).name : undefined);
  if (nats) {
    const r = await fleetRevoke({ home: o.home, nats, ...(fleetName && { fleet: fleetName }), kind: o.kind, value: o.value, reason: o.reason });
    if (o.json) printJson({ revoked: true, kind: o.kind, value: o.value, ...r });
    else process.stdout.write(o.command === 'revoke' ? `revoked ${o.kind} ${o.value} fleet-wide (revocation version ${r.revision}, ledger ${r.ledgerIndex})\n` : `${o.past} ${o.value} (revocation version ${r.revision}, ledger ${r.ledgerIndex})\n`);
    return;
  }
  const h = await openHome(o.home);
  try {
    const r = await revoke(h.ledger, h.state, { kind: o.kind, value: o.value, reason: o.reason, by: 'cli' });
    if (o.json) printJson({ revoked: true, kind: o.kind, value: o.value, ...r });
    else process.stdout.write(r.created ? `${o.past} ${o.command === 'revoke' ? `${o.kind} ` : ''}${o.value} (ledger ${r.ledgerIndex})\n` : `${o.kind} ${o.value} was already revoked\n`);
  } finally {
    h.close();
  }
}

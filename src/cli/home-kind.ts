/**
 * How the decision commands act on a home of each kind (src/home/kind.ts, docs/fleet.md
 * "What a home is"): no side doors around the fleet. On a fleet node's home they decide
 * and verify as that node, through the fleet (the recorded NATS server by default); on
 * the authority's home they refuse; an embedded home decides locally unless --nats.
 */
import { readConfig } from '../home/config.ts';
import { homeFleet, homeKind } from '../home/kind.ts';
import { openHome, type OpenHome } from '../home/open.ts';
import { startFleetNode, type FleetNode } from '../sync/fleet-node.ts';
import { errorMessage } from '../util.ts';
import { CliError, EXIT } from './common.ts';

/** NATS not answering this soon is unreachable: a one-shot command fails rather than hangs. */
export const CONNECT_TIMEOUT_MS = 3000;

export interface DecisionHome {
  h: OpenHome;
  fleetNode: FleetNode | null;
  close(): Promise<void>;
}

/** Refuses (exit 2) on a fleet authority's home: the fleet's decisions are made by its nodes. */
export function refuseOnAuthorityHome(home: string, command: string): void {
  const config = readConfig(home);
  if (homeKind(home, config) !== 'fleet-authority') return;
  throw new CliError(
    `writ ${command}: ${home} is the authority home of fleet ${homeFleet(config).name}: it makes no decisions of its own, the fleet's nodes do (writ ${command} --home <node home>)`,
    EXIT.usage,
  );
}

/**
 * Opens `home` to decide or verify in: as a fleet node (fresh, single use fleet-wide,
 * evidence to the stream) with --nats or on a fleet node's home, else locally.
 */
export async function openDecisionHome(home: string, o: { nats?: string; fleet?: string }, command: string, refuseAuthority = true): Promise<DecisionHome> {
  if (refuseAuthority) refuseOnAuthorityHome(home, command);
  const config = readConfig(home);
  const recorded = homeKind(home, config) === 'fleet-node' ? homeFleet(config) : null;
  const nats = o.nats ?? recorded?.nats;
  if (!nats) {
    const h = await openHome(home);
    return { h, fleetNode: null, close: () => Promise.resolve(h.close()) };
  }
  const fleet = o.fleet ?? recorded?.name;
  let fleetNode: FleetNode;
  try {
    fleetNode = await startFleetNode({ home, nats, ...(fleet && { fleet }), log: () => undefined, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch (err) {
    throw new CliError(`writ ${command}: cannot act as a node of fleet ${fleet ?? process.env.WRIT_FLEET ?? 'writ'} at ${nats} (${errorMessage(err)}): nothing was decided`);
  }
  await fleetNode.waitFresh(2000);
  return { h: fleetNode.home, fleetNode, close: () => fleetNode.close() };
}

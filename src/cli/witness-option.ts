/**
 * `--witness <key@url>` (repeatable) for the commands that sign a log's checkpoints while
 * they run (`writ up`, `writ sequencer`): each new checkpoint is submitted to these witnesses
 * and served with the cosignatures they return (docs/witness.md). The endpoints are parsed
 * before anything starts: a key or URL that cannot be used is a usage error, not a witness
 * silently never asked.
 */
import type { Command } from 'commander';
import type { CosignatureStore } from '../ledger/checkpoint-signer.ts';
import { CosignatureError } from '../tlog/cosignature.ts';
import { parseWitnessEndpoint, WitnessClientError, type WitnessEndpoint } from '../witness/client.ts';
import { LogWitnessing } from '../witness/log-witnessing.ts';
import { CliError, EXIT } from './common.ts';

// no default value: commander would print `(default: [])` in --help
const collect = (v: string, all: string[] | undefined): string[] => [...(all ?? []), v];

export function witnessOption(cmd: Command): Command {
  return cmd.option(
    '--witness <key@url>',
    "submit each new checkpoint to this witness (its cosigner verifier key from `writ witness init`, '@', its submission URL) and serve the cosignatures it returns; repeatable; a witness that is down delays nothing",
    collect,
  );
}

/** The `--witness` values (undefined: none given), parsed; `what` names the command in errors. */
export function witnessEndpointsOf(specs: string[] | undefined, what: string): WitnessEndpoint[] {
  try {
    const endpoints = (specs ?? []).map(parseWitnessEndpoint);
    if (new Set(endpoints.map((e) => e.verifierKey)).size !== endpoints.length) throw new WitnessClientError('witness_endpoint_invalid', 'a witness is given twice');
    return endpoints;
  } catch (err) {
    if (err instanceof WitnessClientError || err instanceof CosignatureError) throw new CliError(`${what}: --witness: ${err.message}`, EXIT.usage);
    throw err;
  }
}

/** The log's witnesses, storing their cosignatures in the log's `store`; none without endpoints. */
export function logWitnessingOf(endpoints: WitnessEndpoint[], store: CosignatureStore, log: (s: string) => void): LogWitnessing | undefined {
  return endpoints.length === 0 ? undefined : new LogWitnessing(endpoints, { store, log });
}

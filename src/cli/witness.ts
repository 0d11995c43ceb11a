/** `writ witness init|add-log|key|serve`: a C2SP tlog-witness (docs/witness.md). */
import type { Command } from 'commander';
import { addLog, initWitnessDir, readCosigner, readLogs, witnessPaths, WitnessConfigError } from '../witness/config.ts';
import { buildWitnessApp } from '../witness/server.ts';
import { WitnessState } from '../witness/state.ts';
import { Witness } from '../witness/witness.ts';
import { CliError, EXIT, printJson } from './common.ts';

const cliErrors = <T>(f: () => T): T => {
  try {
    return f();
  } catch (e) {
    if (e instanceof WitnessConfigError || (e instanceof Error && 'code' in e)) throw new CliError(`writ witness: ${e.message}`);
    throw e;
  }
};

export function registerWitness(program: Command): void {
  const w = program.command('witness').description('a transparency-log witness (C2SP tlog-witness): cosigns checkpoints only if consistent with what it saw before');

  w.command('init')
    .description('create a witness directory with a new Ed25519 cosigner key; prints its verifier key (pin it in verifiers and logs)')
    .requiredOption('--dir <dir>', 'the witness directory')
    .requiredOption('--name <name>', 'the witness name, e.g. witness.example.com/w1')
    .action((o: { dir: string; name: string }) => {
      process.stdout.write(`${cliErrors(() => initWitnessDir(o.dir, o.name))}\n`);
    });

  w.command('add-log')
    .description('witness a log: its verifier key (from `writ keys --log`, or the fleet log key); restart `serve` to apply')
    .requiredOption('--dir <dir>', 'the witness directory')
    .requiredOption('--key <vkey>', 'the log verifier key')
    .option('--origin <origin>', 'the log origin (default: the key name)')
    .action((o: { dir: string; key: string; origin?: string }) => {
      const l = cliErrors(() => addLog(o.dir, o.key, o.origin));
      process.stdout.write(`witnessing ${l.origin} (${l.verifierKeys.length} key${l.verifierKeys.length === 1 ? '' : 's'})\n`);
    });

  w.command('key')
    .description("print the witness's verifier key")
    .requiredOption('--dir <dir>', 'the witness directory')
    .action((o: { dir: string }) => {
      process.stdout.write(`${cliErrors(() => readCosigner(o.dir)).verifierKey}\n`);
    });

  w.command('status')
    .description('the latest cosigned checkpoint of each log, and the refusals recorded')
    .requiredOption('--dir <dir>', 'the witness directory')
    .action((o: { dir: string }) => {
      const logs = cliErrors(() => readLogs(o.dir));
      const state = new WitnessState(witnessPaths(o.dir).db);
      try {
        printJson({
          logs: logs.map((l) => {
            const c = state.latest(l.origin);
            return { origin: l.origin, size: c?.size ?? 0, cosignedAt: c ? new Date(c.cosignedAt * 1000).toISOString() : null };
          }),
          refusals: state.refusals().map((r) => ({ origin: r.origin, status: r.status, reason: r.reason, received: new Date(r.received * 1000).toISOString() })),
        });
      } finally {
        state.close();
      }
    });

  w.command('serve')
    .description('serve POST <prefix>/add-checkpoint')
    .requiredOption('--dir <dir>', 'the witness directory')
    .option('--port <port>', 'port (0: any)', '8796')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--prefix <path>', 'the submission prefix, e.g. /witness', '')
    .action(async (o: { dir: string; port: string; host: string; prefix: string }) => {
      const port = Number(o.port);
      if (!/^\d+$/.test(o.port) || port > 65535) throw new CliError(`--port: expected a port number, got ${JSON.stringify(o.port)}`, EXIT.usage);
      const cosigner = cliErrors(() => readCosigner(o.dir));
      const logs = cliErrors(() => readLogs(o.dir));
      const state = new WitnessState(witnessPaths(o.dir).db);
      const witness = cliErrors(() => new Witness({ cosigner, logs, state }));
      const app = cliErrors(() => buildWitnessApp(witness, { prefix: o.prefix }));
      const address = await app.listen({ port, host: o.host });
      process.stderr.write(`writ witness ${cosigner.name}: listening on ${address}${o.prefix}/add-checkpoint; witnessing ${logs.length === 0 ? 'no log yet (writ witness add-log)' : logs.map((l) => l.origin).join(', ')}\n`);
      const stop = (): void =>
        void app.close().then(() => {
          state.close();
          process.exit(0);
        });
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

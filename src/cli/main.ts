#!/usr/bin/env node
/** The `writ` command. Exit codes: 0 ok/allow, 1 error/invalid, 2 usage, 3 deny, 126 exec denied, 127 command not found. */
import { Command, CommanderError } from 'commander';
import { HomeError } from '../home/config.ts';
import { PolicySourceError } from '../policy/source.ts';
import { registerApprove } from './approve.ts';
import { registerAudit } from './audit.ts';
import { registerCaller } from './caller.ts';
import { CliError, EXIT } from './common.ts';
import { registerDecide } from './decide.ts';
import { registerDemo } from './demo.ts';
import { registerExplain } from './explain.ts';
import { registerK8s } from './k8s.ts';
import { registerMcp } from './mcp.ts';
import { registerFleet } from './fleet.ts';
import { registerPolicy } from './policy.ts';
import { registerPs } from './ps.ts';
import { registerUp } from './up.ts';
import { registerWitness } from './witness.ts';

const program = new Command('writ')
  .description('Writ — execution governance for autonomous systems. No writ, no execution.')
  .version('0.1.0')
  .enablePositionalOptions()
  .showHelpAfterError()
  .exitOverride();

registerDecide(program);
const policy = registerPolicy(program);
registerAudit(program);
registerApprove(program);
registerMcp(program);
registerFleet(program, policy);
registerUp(program);
registerCaller(program);
registerK8s(program);
registerPs(program);
registerDemo(program);
registerWitness(program);
registerExplain(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT.usage;
  } else if (err instanceof CliError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = err.exitCode;
  } else if (err instanceof HomeError || err instanceof PolicySourceError) {
    process.stderr.write(`writ: ${err.message}\n`);
    process.exitCode = EXIT.error;
  } else {
    process.stderr.write(`writ: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT.error;
  }
}

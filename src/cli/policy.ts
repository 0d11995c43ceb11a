/** `writ policy lint|test|sign|activate|status` (`policy diff`: policy-diff.ts) */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readConfig } from '../home/config.ts';
import { authoritySigningKeys, openHome } from '../home/open.ts';
import { buildBundle, readPolicyFolder } from '../policy/sign.ts';
import { schemaContextWarnings } from '../policy/source.ts';
import { BundleError } from '../reasons.ts';
import { parseDuration } from '../util.ts';
import { CliError, EXIT, homeOf, homeOption, parsePositiveInt, printJson } from './common.ts';
import { folderTests, lintFolder } from './policy-folder.ts';
import { registerPolicyDiff } from './policy-diff.ts';
import { formatReport } from './policy-test.ts';

export function registerPolicy(program: Command): Command {
  const policy = program.command('policy').description('lint, sign and activate policy bundles');

  homeOption(
    policy
      .command('lint <dir>')
      .description('parse and validate a policy folder (*.cedar, optional schema.cedarschema, entities.json); errors as file:line:col: message'),
  ).action((dir: string) => {
      const src = lintFolder(dir);
      for (const w of schemaContextWarnings(src.schemaJson)) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(`${dir}: ${src.policies.length} policies ok${src.schemaText ? ', validated against schema.cedarschema' : ''}\n`);
      // a folder with tests/ is not clean while a test fails
      const tests = folderTests(dir, src);
      if (tests) {
        process.stdout.write(formatReport(tests));
        if (tests.failed > 0) process.exitCode = EXIT.error;
      }
    });

  policy
    .command('test <dir>')
    .description('decide every request fixture in DIR/tests/*.json and compare with what it expects (docs/policy-test.md); exit 1 if any fails')
    .option('--json', 'machine-readable output')
    .action((dir: string, o: { json?: boolean }) => {
      const report = folderTests(dir, lintFolder(dir), { required: true });
      if (!report) return;
      if (o.json) printJson(report);
      else process.stdout.write(formatReport(report));
      if (report.failed > 0) process.exitCode = EXIT.error;
    });

  homeOption(
    policy
      .command('sign <dir>')
      .description("build a bundle from a policy folder and sign it with this home's authority key(s)")
      .requiredOption('--out <file>', 'where to write the bundle')
      .option('--version <n>', 'bundle version; must exceed every version activated before (default: seconds since the epoch)')
      .option('--expires <duration>', 'lifetime, e.g. 12h, 30d', '30d')
      .option('--domain <name>', "enforcement domain (default: the home's domain)")
      .option('--keys <list>', 'which authority keys sign, e.g. 1,3 (default: all in this home)'),
  ).action(async (dir: string, o: { out: string; version?: string; expires: string; domain?: string; keys?: string; home?: string }) => {
    // a bundle whose tests fail is not signed: checked before any key is read or file written
    const tests = folderTests(dir, lintFolder(dir));
    if (tests && tests.failed > 0) {
      process.stderr.write(formatReport(tests));
      throw new CliError(`refused to sign ${dir}: ${tests.failed} of ${tests.tests} policy tests fail; nothing written`);
    }
    const home = homeOf(o);
    const config = readConfig(home);
    let keys = await authoritySigningKeys(home, config);
    if (o.keys) {
      const wanted = o.keys.split(',').map((k) => parsePositiveInt(k.trim(), '--keys'));
      keys = wanted.map((i) => {
        const k = keys[i - 1];
        if (!k) throw new CliError(`--keys: authority key ${i} is not in ${home}`, EXIT.usage);
        return k;
      });
    }
    const created = new Date();
    let expiresMs: number;
    try {
      expiresMs = parseDuration(o.expires);
    } catch (err) {
      throw new CliError(`--expires: ${(err as Error).message}`, EXIT.usage);
    }
    const version = o.version === undefined ? Math.floor(created.getTime() / 1000) : parsePositiveInt(o.version, '--version');
    const bundle = await buildBundle(readPolicyFolder(dir), { domain: o.domain ?? config.domain, version, created, expires: new Date(created.getTime() + expiresMs) }, keys);
    writeFileSync(o.out, JSON.stringify(bundle) + '\n');
    process.stdout.write(`${o.out}: version ${version}, domain ${o.domain ?? config.domain}, ${keys.length} signature(s), expires in ${o.expires}${tests ? `, ${tests.tests} policy tests passed` : ''}\n`);
  });

  homeOption(policy.command('activate <file>').description('verify a signed bundle and make it the active policy').option('--json', 'machine-readable output')).action(
    async (file: string, o: { home?: string; json?: boolean }) => {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        throw new CliError(`${file}: ${(err as Error).message}`);
      }
      const h = await openHome(homeOf(o));
      try {
        await h.node.policy.refresh().catch(() => undefined);
        const { bundle, ledgerIndex } = await h.node.policy.activate(bytes);
        const out = { activated: true, domain: bundle.manifest.domain, version: bundle.manifest.version, digest: bundle.digest, signers: bundle.signers, expires: bundle.manifest.expires, ledgerIndex };
        if (o.json) printJson(out);
        else process.stdout.write(`activated ${file}: domain ${out.domain}, version ${out.version}, ${out.digest}\n`);
      } catch (err) {
        if (err instanceof BundleError) {
          if (o.json) printJson({ activated: false, reason: err.code, message: err.message });
          throw new CliError(`refused: ${err.code}: ${err.message}`);
        }
        throw err;
      } finally {
        h.close();
      }
    },
  );

  homeOption(policy.command('status').description('show the active bundle').option('--json', 'machine-readable output')).action(async (o: { home?: string; json?: boolean }) => {
    const h = await openHome(homeOf(o));
    try {
      await h.node.policy.refresh();
      const a = h.node.policy.active;
      const out = a
        ? { active: true, domain: a.bundle.manifest.domain, version: a.bundle.manifest.version, digest: a.bundle.digest, expires: a.bundle.manifest.expires, signers: a.bundle.signers, policies: a.engine.policies.map((p) => p.id) }
        : { active: false };
      if (o.json) printJson(out);
      else process.stdout.write(a ? `active: domain ${a.bundle.manifest.domain}, version ${a.bundle.manifest.version}, ${a.bundle.digest}, expires ${a.bundle.manifest.expires}\n` : 'no active bundle\n');
    } finally {
      h.close();
    }
  });
  registerPolicyDiff(policy);
  return policy;
}

/** `writ init`, `writ authorize`, `writ verify`, `writ exec`, `writ revoke`, `writ keys` */
import type { Command } from 'commander';
import { paths } from '../home/config.ts';
import { initHome } from '../home/init.ts';
import { openHome } from '../home/open.ts';
import { CommandNotFoundError, EXIT_NOT_FOUND, governedExec } from '../enforce/exec.ts';
import { ExecSetupError, FIXED_ENV, parseEnvFlags } from '../enforce/exec-env.ts';
import { REVOCATION_KINDS } from '../node/evidence.ts';
import type { RevocationKind } from '../node/state.ts';
import { parseDuration } from '../util.ts';
import { WritVerificationError } from '../writ/verify.ts';
import { offlineVerify } from './offline-verify.ts';
import { CliError, EXIT, homeOf, homeOption, JsonFlagRefused, parseJsonFlag, parsePositiveInt, printJson } from './common.ts';
import { runRevocation } from './revoke.ts';
import { openDecisionHome } from './home-kind.ts';

export function registerDecide(program: Command): void {
  homeOption(
    program
      .command('init')
      .description('create authority key(s), a certified node key, an admin credential and the config')
      .option('--force', 'replace existing keys (every writ and bundle signed so far stops verifying)')
      .option('--authority-keys <n>', 'number of authority keys (k-of-n signing)', '1')
      .option('--threshold <k>', 'authority signatures a bundle needs', '1')
      .option('--node-id <id>', 'this node id', 'node-1')
      .option('--domain <name>', 'enforcement domain', 'default'),
  ).action(async (o: { home?: string; force?: boolean; authorityKeys: string; threshold: string; nodeId: string; domain: string }) => {
    const home = homeOf(o);
    const r = await initHome({
      home,
      force: o.force ?? false,
      authorityKeys: parsePositiveInt(o.authorityKeys, '--authority-keys'),
      threshold: parsePositiveInt(o.threshold, '--threshold'),
      nodeId: o.nodeId,
      domain: o.domain,
    });
    process.stdout.write(
      `initialized ${home}: node ${r.config.nodeId} (domain ${r.config.domain}), ${r.config.authority.keys.length} authority key(s), threshold ${r.config.authority.threshold}\n` +
        `admin credential: ${paths(home).adminToken} (mode 0600)\n` +
        (r.replacedLog ? `the previous log (signed by the replaced log key) was moved to ${r.replacedLog}\n` : ''),
    );
  });

  homeOption(
    program
      .command('authorize')
      .description('ask for a decision; allow prints the writ (exit 0), deny prints the reasons (exit 3)')
      .requiredOption('--principal <uid>', 'e.g. Agent::"a1"')
      .requiredOption('--action <uid>', 'e.g. Action::"tools/call"')
      .requiredOption('--resource <uid>', 'e.g. Tool::"fs/read"')
      .option('--args <json>', 'the exact arguments of the call (bound into the writ)', '{}')
      .option('--context <json>', 'extra Cedar context', '{}')
      .option('--parent <writ>', 'parent writ this request is made on behalf of')
      .option('--audience <aud>', 'who will verify the writ (default: the resource)')
      .option('--ttl <seconds>', 'writ lifetime in seconds (capped by the config)')
      .option('--min-version <n>', 'deny unless the active bundle version is at least this')
      .option('--approval <id>', 'an approved approval request (from an earlier approval_required decision)')
      .option('--nats <url>', "decide as a fleet node, evidence to the fleet's stream (the default on a fleet node's home, with the NATS server recorded in it)")
      .option('--fleet <name>', 'fleet name on the NATS server (default: the one recorded in the home, else $WRIT_FLEET, else writ)')
      .option('--json', 'machine-readable output'),
  ).action(async (o: Record<string, string | boolean | undefined>) => {
    const who = { principal: String(o.principal), action: String(o.action), resource: String(o.resource) };
    // a fleet node's home decides through the fleet, never into its private ledger
    const opened = await openDecisionHome(homeOf(o), { ...(typeof o.nats === 'string' && { nats: o.nats }), ...(typeof o.fleet === 'string' && { fleet: o.fleet }) }, 'authorize');
    const h = opened.h;
    try {
      // JSON that is not I-JSON (docs/json.md) is decided all the same: a recorded request_invalid
      let flags: { args: unknown; context: Record<string, unknown> } | JsonFlagRefused;
      try {
        flags = { args: parseJsonFlag(o.args as string, '--args'), context: parseJsonFlag(o.context as string, '--context') as Record<string, unknown> };
      } catch (err) {
        if (!(err instanceof JsonFlagRefused)) throw err;
        flags = err;
      }
      const d =
        flags instanceof JsonFlagRefused
          ? await h.node.deny(who, 'request_invalid', flags.message)
          : await h.node.authorize({
              ...who,
              ...flags,
              ...(o.parent !== undefined && { parent: String(o.parent) }),
              ...(o.audience !== undefined && { audience: String(o.audience) }),
              ...(o.ttl !== undefined && { ttlSeconds: parsePositiveInt(String(o.ttl), '--ttl') }),
              ...(o.minVersion !== undefined && { minVersion: parsePositiveInt(String(o.minVersion), '--min-version') }),
              ...(o.approval !== undefined && { approval: String(o.approval) }),
            });
      if (o.json) {
        printJson(
          d.decision === 'allow'
            ? { decision: 'allow', writ: d.writ, decisionId: d.decisionId, reasons: d.reasons, policies: d.policies, ledgerIndex: d.ledgerIndex, claims: d.claims }
            : { decision: 'deny', decisionId: d.decisionId, reasons: d.reasons, policies: d.policies, errors: d.errors, message: d.message, ledgerIndex: d.ledgerIndex, ...(d.approvalId && { approvalId: d.approvalId }) },
        );
      } else if (d.decision === 'allow') {
        process.stdout.write(`${d.writ}\n`);
        process.stderr.write(`allow: ${d.message} (decision ${d.decisionId}, ledger ${d.ledgerIndex})\n`);
      } else {
        process.stderr.write(`deny: ${d.message} (decision ${d.decisionId})\n`);
      }
      process.exitCode = d.decision === 'allow' ? EXIT.ok : EXIT.denied;
    } finally {
      await opened.close();
    }
  });

  homeOption(
    program
      .command('verify <writ>')
      .description('verify a writ as an enforcement point would; exit 0 if valid, 1 with a reason code otherwise')
      .option('--args <json>', 'the arguments about to be used (intent is recomputed from them)', '{}')
      .option('--audience <aud>', "this enforcement point's audience (default: the writ's own resource — inspection only; an enforcement point must name itself)")
      .option('--consume', 'mark the writ as used (do this only right before executing)')
      .option('--nats <url>', "verify as a fleet node: single use fleet-wide, refused while this node's beacon is not current (stale_policy); the default on a fleet node's home, with the NATS server recorded in it")
      .option('--fleet <name>', 'fleet name on the NATS server (default: the one recorded in the home, else $WRIT_FLEET, else writ)')
      .option('--keys <jwks>', 'verify with no home, as an executor embedding writ/verify would: these pinned keys (a JWKS file or URL, e.g. <node>/.well-known/jwks.json); needs --audience and --revocations or --no-revocations')
      .option('--revocations <list>', 'with --keys: the signed revocation list (a file or URL, e.g. <node>/v1/revocations)')
      .option('--revocation-keys <jwks>', "with --keys: the list signer's keys (default: --keys; in a fleet, the authority's JWKS)")
      .option('--revocation-issuer <iss>', 'with --keys: the list must be issued by exactly this (a node id, or authority:<fleet>)')
      .option('--no-revocations', 'with --keys: verify without a revocation list (says so in the output)')
      .option('--json', 'machine-readable output'),
  ).action(async (writ: string, o: { home?: string; args: string; audience?: string; consume?: boolean; nats?: string; fleet?: string; json?: boolean; keys?: string; revocations?: string | false; revocationKeys?: string; revocationIssuer?: string }) => {
    const args = parseJsonFlag(o.args, '--args');
    if (o.keys !== undefined) {
      if (o.consume || o.nats || o.home) throw new CliError('writ verify --keys verifies with no home: --consume, --nats and --home do not apply', EXIT.usage);
      const { revocations, ...rest } = o;
      return offlineVerify(writ, { ...rest, keys: o.keys, args, ...(typeof revocations === 'string' && { revocations }), ...(revocations === false && { noRevocations: true }) });
    }
    // A fleet node's home verifies as that node: consuming only in its own SQLite would let
    // the writ be used again at every other node. The authority's home consumes nothing.
    const opened = await openDecisionHome(homeOf(o), { ...(o.nats && { nats: o.nats }), ...(o.fleet && { fleet: o.fleet }) }, 'verify --consume', o.consume === true);
    const h = opened.h;
    try {
      const resource = peekResource(writ);
      const { claims } = await h.node.verify(writ, { audience: o.audience ?? resource ?? '', args, consume: o.consume ?? false });
      if (o.json) printJson({ valid: true, claims });
      else process.stdout.write(`valid: ${claims.sub} may ${claims.act.action} on ${claims.act.resource} until ${new Date(claims.exp * 1000).toISOString()} (jti ${claims.jti})\n`);
    } catch (err) {
      if (!(err instanceof WritVerificationError)) throw err;
      if (o.json) printJson({ valid: false, reason: err.code, message: err.message });
      else process.stderr.write(`invalid: ${err.code}: ${err.message}\n`);
      process.exitCode = EXIT.error;
    } finally {
      await opened.close();
    }
  });

  homeOption(
    program
      .command('exec')
      .description('run a command only if policy allows it (deny: never started, exit 126); revocation terminates it')
      .option('--principal <uid>', 'who runs it (default: User::"$USER")')
      .option('--resource <uid>', 'resource to authorize (default: Binary::"<absolute path>")')
      .option(
        '--env <NAME[=VALUE]>',
        `pass NAME (the caller's value) or NAME=VALUE to the command, repeatable; otherwise it gets only ${Object.entries(FIXED_ENV).map(([k, v]) => `${k}=${v}`).join(' ')} (docs/exec.md)`,
        (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
      )
      .option('--cwd <dir>', 'working directory of the command (default: the current one), resolved and decided')
      .option('--grace <duration>', 'time between SIGTERM and SIGKILL once the lease ends the run (a revocation, a policy that now denies, its maxRunSeconds)', '5s')
      .option('--freshness-grace <duration>', 'how long the run goes on after the node lost freshness (a fleet node whose beacon expired) before it is terminated (default: the node\'s, 5s)')
      .option('--nats <url>', "decide as a fleet node (policy, beacons and revocations from NATS; evidence to the stream); the default on a fleet node's home, with the NATS server recorded in it")
      .option('--fleet <name>', 'fleet name on the NATS server (default: the one recorded in the home, else $WRIT_FLEET, else writ)')
      .argument('<command>', 'the command')
      .argument('[args...]', 'its arguments')
      .usage('[options] -- <command> [args...]'),
  ).action(async (command: string, args: string[], o: { home?: string; principal?: string; resource?: string; env?: string[]; cwd?: string; grace: string; freshnessGrace?: string; nats?: string; fleet?: string }) => {
    // before any node starts: a malformed --env decides and runs nothing
    let env: Record<string, string>;
    try {
      env = parseEnvFlags(o.env ?? [], process.env);
    } catch (err) {
      if (err instanceof ExecSetupError) throw new CliError(`writ: ${err.message}`, EXIT.usage);
      throw err;
    }
    // In a fleet, the process runs inside a fleet node: a revocation pushed to any node terminates it.
    const opened = await openDecisionHome(homeOf(o), { ...(o.nats && { nats: o.nats }), ...(o.fleet && { fleet: o.fleet }) }, 'exec');
    const h = opened.h;
    try {
      const principal = o.principal ?? `User::${JSON.stringify(process.env.USER ?? process.env.LOGNAME ?? 'unknown')}`;
      const r = await governedExec({
        node: h.node,
        ledger: h.evidence,
        principal,
        command,
        args,
        env,
        ...(o.cwd !== undefined && { cwd: o.cwd }),
        graceMs: parseDuration(o.grace),
        ...(o.freshnessGrace !== undefined && { freshnessGraceMs: parseDuration(o.freshnessGrace) }),
        ...(o.resource && { resource: o.resource }),
        running: h.running,
      });
      process.exitCode = r.exitCode;
    } catch (err) {
      if (err instanceof CommandNotFoundError) throw new CliError(`writ: ${err.message}`, EXIT_NOT_FOUND);
      if (err instanceof ExecSetupError) throw new CliError(`writ: ${err.message}`, EXIT.usage);
      throw err;
    } finally {
      await opened.close();
    }
  });

  homeOption(
    program
      .command('revoke [value]')
      .description('revoke a writ by jti (default), or a principal, node or bundle version; running executions under it are terminated')
      .option('--kind <kind>', `what to revoke: ${REVOCATION_KINDS.join(', ')}`, 'writ')
      .option('--reason <text>', 'recorded with the revocation', 'revoked by operator')
      .option('--nats <url>', "revoke fleet-wide: sign with this home's authority key and push to every node (the default on a fleet authority's home, with the NATS server recorded in it)")
      .option('--fleet <name>', 'fleet name on the NATS server (default: the one recorded in the home, else $WRIT_FLEET, else writ)')
      .option('--json', 'machine-readable output'),
  ).action(async (value: string | undefined, o: { home?: string; kind: string; reason: string; nats?: string; fleet?: string; json?: boolean }) => {
    if (!value) throw new CliError('revoke: give the jti (or principal, node id, bundle version) to revoke', EXIT.usage);
    if (!(REVOCATION_KINDS as readonly string[]).includes(o.kind)) throw new CliError(`--kind must be one of ${REVOCATION_KINDS.join(', ')}`, EXIT.usage);
    await runRevocation({ home: homeOf(o), command: 'revoke', past: 'revoked', kind: o.kind as RevocationKind, value, reason: o.reason, ...(o.nats && { nats: o.nats }), ...(o.fleet && { fleet: o.fleet }), ...(o.json && { json: true }) });
  });

  homeOption(
    program
      .command('keys')
      .description('print public keys')
      .option('--jwks', 'the node keys that sign writs, as a JWKS (default)')
      .option('--authority', 'the pinned authority keys, as a JWKS')
      .option('--log', "the transparency log's verifier key (signed-note name+hexid+base64)"),
  ).action(
    async (o: { home?: string; jwks?: boolean; authority?: boolean; log?: boolean }) => {
      const h = await openHome(homeOf(o));
      try {
        if (o.log) process.stdout.write(`${h.config.log.verifierKey}\n`);
        else printJson(o.authority ? { keys: h.config.authority.keys } : h.jwks);
      } finally {
        h.close();
      }
    },
  );
}

/** The resource a writ names, read without trusting it: only used to pick the default audience. */
function peekResource(writ: string): string | null {
  try {
    const payload = JSON.parse(Buffer.from(writ.split('.')[1] ?? '', 'base64url').toString('utf8')) as { act?: { resource?: unknown } };
    return typeof payload.act?.resource === 'string' ? payload.act.resource : null;
  } catch {
    return null;
  }
}

/** `writ audit replay|verify|entry|prove|verify-proof|export` and `writ lineage` */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openHome, type OpenHome } from '../home/open.ts';
import { auditLog } from '../ledger/audit.ts';
import { auditState, type StateProblem } from '../node/audit-state.ts';
import { encodeBase64 } from '../tlog/note.ts';
import { verifyProofFile, type WitnessPolicy } from '../tlog/proof-file.ts';
import { formatLineage, lineageOf } from '../lineage/lineage.ts';
import { replayDecisions, type ReplayReport } from '../node/replay.ts';
import { CliError, EXIT, homeOf, homeOption, parsePositiveInt, printJson } from './common.ts';
import { registerAuditExport } from './audit-export.ts';
import { cosignProofFile } from '../witness/proof-cosign.ts';

async function withHome<T>(o: { home?: string }, f: (h: OpenHome) => Promise<T> | T): Promise<T> {
  const h = await openHome(homeOf(o));
  try {
    return await f(h);
  } finally {
    h.close();
  }
}

function printReplay(r: ReplayReport): void {
  process.stdout.write(`${r.decisions} decisions: ${r.replayed} replayed, ${r.gateDenials} denied before evaluation (nothing to replay), ${r.differences.length} differ\n`);
  for (const d of r.differences) {
    const replayed = d.replayed ? `${d.replayed.decision} ${d.replayed.reasons.join(',')} [${d.replayed.policies.join(',')}]${d.error === undefined ? '' : `: ${d.error}`}` : `error: ${d.error}`;
    process.stdout.write(`  #${d.index} ${d.decisionId}: recorded ${d.recorded.decision} ${d.recorded.reasons.join(',')} [${d.recorded.policies.join(',')}], replayed ${replayed}\n`);
  }
}

/** An entry index, or the jti of a writ (its decision's index). */
function resolveIndex(h: OpenHome, ref: string): number {
  if (/^\d+$/.test(ref)) return Number(ref);
  const w = h.ledger.writ(ref);
  if (!w) throw new CliError(`no writ ${ref} in this ledger (give a jti or an entry index)`);
  return w.decisionIndex;
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('check the recorded evidence; prove entries to anyone');
  registerAuditExport(audit);

  homeOption(audit.command('replay').description('re-evaluate every recorded decision with its recorded bundle and input; exit 1 if any differs').option('--json', 'machine-readable output')).action(
    (o: { home?: string; json?: boolean }) =>
      withHome(o, async (h) => {
        const r = await replayDecisions(h.ledger, h.state, h.trust);
        if (o.json) printJson(r);
        else printReplay(r);
        if (r.differences.length > 0) process.exitCode = EXIT.error;
      }),
  );

  homeOption(
    audit
      .command('verify')
      .description('recompute the tree from the stored entries, check every checkpoint (signature, root, consistency), the derived indexes, the revocations and approvals in force (an approval used once, by one allow), that every decision was made under the bundle activated last before it and the active bundle and floor match the activations, and replay every decision; exit 1 at the first divergence')
      .option('--json', 'machine-readable output'),
  ).action((o: { home?: string; json?: boolean }) =>
    withHome(o, async (h) => {
      const log = auditLog(h.db, { origin: h.log.origin, verifier: h.log.verifier });
      let replay: ReplayReport;
      try {
        replay = await replayDecisions(h.ledger, h.state, h.trust);
      } catch (err) {
        replay = { decisions: 0, replayed: 0, gateDenials: 0, differences: [{ index: -1, decisionId: '', recorded: { decision: '?', reasons: [], policies: [] }, replayed: null, error: (err as Error).message }] };
      }
      const firstDiff = replay.differences[0];
      // the state is derived from this ledger only in embedded mode (a fleet node's evidence is in the fleet's)
      const state = h.evidence === h.ledger ? await auditState(h.ledger, h.state, { domain: h.config.domain }) : null;
      const ok = log.problems.length === 0 && firstDiff === undefined && (state ?? []).length === 0;
      if (o.json) printJson({ ok, log, replay, state });
      else {
        process.stdout.write(`log ${h.log.origin}: ${log.size} entries, ${log.checkpoints} checkpoints\n`);
        for (const p of log.problems) process.stdout.write(`  FIRST DIVERGENCE at ${p.index}: ${p.kind}: ${p.message}\n`);
        printReplay(replay);
        if (state === null) process.stdout.write('state: not checked (a fleet node: its evidence is in the fleet ledger)\n');
        else {
          const isPolicy = (p: StateProblem) => p.kind === 'policy_superseded' || p.kind === 'bundle_state_mismatch';
          const print = (head: string, ps: StateProblem[]) => {
            process.stdout.write(`${head}: ${ps.length === 0 ? 'consistent' : `${ps.length} problem(s)`}\n`);
            for (const p of ps) process.stdout.write(`  ${p.kind}${p.index !== null ? ` at ${p.index}` : ''}: ${p.message}\n`);
          };
          print('state: revocations and approvals checked against the ledger', state.filter((p) => !isPolicy(p)));
          print('policy: the bundle every decision named, and the active bundle and floor in the state, checked against the activation entries', state.filter(isPolicy));
        }
        process.stdout.write(ok ? 'ok: the log is intact, every decision replays the same, and the state agrees with the ledger\n' : 'FAILED\n');
      }
      if (!ok) process.exitCode = EXIT.error;
    }),
  );

  homeOption(audit.command('entry <index>').description('print the exact bytes of a ledger entry (canonical JSON)')).action((index: string, o: { home?: string }) =>
    withHome(o, (h) => {
      const leaf = /^\d+$/.test(index) ? h.log.entry(Number(index)) : null;
      if (!leaf) throw new CliError(`no entry ${index} (the log has ${h.log.size()})`);
      process.stdout.write(leaf);
    }),
  );

  homeOption(
    audit
      .command('prove <ref>')
      .description('write a C2SP tlog-proof@v1 file proving an entry (by index, or a writ by its jti) is in the signed log')
      .requiredOption('--out <file>', 'the proof file')
      .option('--entry-out <file>', 'also write the entry bytes')
      .option('--witness <key@url>', "ask this witness (its verifier key, '@', its submission URL) to cosign the checkpoint, and put its cosignature in the file; repeatable", (v: string, all: string[]) => [...all, v], [] as string[])
      .option('--min-witnesses <k>', 'fail unless at least this many witnesses cosigned (default: write what was obtained)'),
  ).action((ref: string, o: { home?: string; out: string; entryOut?: string; witness: string[]; minWitnesses?: string }) =>
    withHome(o, async (h) => {
      const index = resolveIndex(h, ref);
      const entry = h.log.entry(index);
      if (!entry) throw new CliError(`no entry ${index}`);
      let file = h.log.proofFile(index);
      let witnessed = '';
      if (o.witness.length > 0 || o.minWitnesses !== undefined) {
        const min = o.minWitnesses === undefined ? 0 : parsePositiveInt(o.minWitnesses, '--min-witnesses');
        if (min > o.witness.length) throw new CliError(`--min-witnesses ${min}: only ${o.witness.length} --witness given`, EXIT.usage);
        const r = await cosignProofFile(file, o.witness, (from, to) => h.log.consistencyProof(from, to));
        if (r.cosigned < min) throw new CliError(`only ${r.cosigned} of ${o.witness.length} witnesses cosigned the checkpoint, ${min} required; no proof file written:\n${r.errors.join('\n')}`);
        for (const e of r.errors) process.stderr.write(`writ audit prove: ${e}\n`);
        file = r.file;
        witnessed = `, cosigned by ${r.cosigned} of ${o.witness.length} witnesses`;
      }
      writeFileSync(o.out, file);
      if (o.entryOut) writeFileSync(o.entryOut, entry);
      process.stdout.write(`${o.out}: inclusion of entry ${index} in ${h.log.origin}${witnessed}; verify with: writ audit verify-proof ${o.out} --entry ENTRY --log-key '${h.config.log.verifierKey}'${witnessed ? ' --witness KEY …' : ''}\n`);
    }),
  );

  audit
    .command('verify-proof <file>')
    .description('verify a tlog-proof file offline, with nothing but the entry, the log key and, to rule out a split view, K of N pinned witness keys')
    .requiredOption('--entry <file>', 'the entry bytes (from `writ audit entry` or `prove --entry-out`)')
    .requiredOption('--log-key <key>', 'the log verifier key (name+hexid+base64, from `writ keys --log`), or a file holding it')
    .option('--witness <key>', 'a pinned witness verifier key (cosignature/v1, from `writ witness key`), or a file holding it; repeatable', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--min-witnesses <k>', 'how many of the pinned witnesses must have cosigned the checkpoint (default: all of them)')
    .option('--json', 'machine-readable output')
    .action((file: string, o: { entry: string; logKey: string; witness: string[]; minWitnesses?: string; json?: boolean }) => {
      const read = (f: string) => {
        try {
          return readFileSync(f);
        } catch (err) {
          throw new CliError(`${f}: ${(err as Error).message}`);
        }
      };
      const keyOrFile = (k: string) => (existsSync(k) ? read(k).toString('utf8').trim() : k);
      const key = keyOrFile(o.logKey);
      const witnessKeys = o.witness.map(keyOrFile);
      let witnesses: WitnessPolicy | undefined;
      if (o.minWitnesses !== undefined || witnessKeys.length > 0) {
        const min = o.minWitnesses === undefined ? witnessKeys.length : /^\d+$/.test(o.minWitnesses) ? Number(o.minWitnesses) : NaN;
        if (!Number.isSafeInteger(min) || min < 1) throw new CliError(`--min-witnesses: expected a positive integer, got ${JSON.stringify(o.minWitnesses)}`, EXIT.usage);
        if (min > witnessKeys.length) throw new CliError(`--min-witnesses ${min}: only ${witnessKeys.length} --witness key(s) given`, EXIT.usage);
        witnesses = { keys: witnessKeys, min };
      }
      const r = verifyProofFile(read(file).toString('utf8'), new Uint8Array(read(o.entry)), key, witnesses);
      if (o.json) printJson({ ...r, ...(r.checkpoint && { checkpoint: { ...r.checkpoint, rootHash: encodeBase64(r.checkpoint.rootHash) } }) });
      else for (const c of r.checks) process.stdout.write(`${c.skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}\n`);
      if (!r.ok) process.exitCode = EXIT.error;
    });

  homeOption(program.command('lineage <jti>').description('the causal tree of a writ: its ancestors and every descendant').option('--json', 'machine-readable output')).action(
    (jti: string, o: { home?: string; json?: boolean }) =>
      withHome(o, (h) => {
        const l = lineageOf(h.ledger, jti);
        if (!l) throw new CliError(`no writ ${jti} in this ledger`);
        if (o.json) printJson(l);
        else process.stdout.write(formatLineage(l) + '\n');
      }),
  );
}

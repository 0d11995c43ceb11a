/**
 * `writ audit export`: every exported line carries the ledger index and the leaf hash of the
 * stored bytes; the OCSF events say allow and deny apart; --since, --limit, --follow; a bad
 * format is a usage error; and an exported record is proven by `writ audit prove` / `verify-proof`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalJson } from '../src/canonical/json.ts';
import { decideApproval } from '../src/node/approval.ts';
import { recordOutcome, revoke } from '../src/node/evidence.ts';
import type { AuthorizeRequest } from '../src/node/node.ts';
import { exportRecord } from '../src/ledger/export.ts';
import { toOcsf } from '../src/ledger/ocsf.ts';
import { CLI, fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n@id("read")\npermit (principal, action, resource == Tool::"fs/read");\n',
});
const A1 = 'Agent::"a1"';
const CALL = 'Action::"tools/call"';
const READ: AuthorizeRequest = { principal: A1, action: CALL, resource: 'Tool::"fs/read"', args: { path: '/srv/a' } };
const WRITE: AuthorizeRequest = { principal: A1, action: CALL, resource: 'Tool::"fs/write"', args: { path: '/srv/a', data: 'x' } };
const DELETE: AuthorizeRequest = { principal: A1, action: CALL, resource: 'Tool::"fs/delete"', args: { path: '/srv/a' } };

interface JsonlRecord {
  v: number;
  index: number;
  leafHash: string;
  type: string;
  leaf: Record<string, unknown>;
}
type Ocsf = Record<string, unknown> & {
  class_uid: number;
  category_uid: number;
  activity_id: number;
  type_uid: number;
  time: number;
  status_id: number;
  status: string;
  severity_id: number;
  raw_data: string;
  metadata: { version: string; product: { name: string; version: string }; uid: string; correlation_uid?: string; log_name: string; sequence: number; original_time: string };
  unmapped: { index: number; leafHash: string; type: string } & Record<string, unknown>;
};

function cli(args: string[]): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

function lines<T>(r: SpawnSyncReturns<string>): T[] {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}

/** RFC 6962 leaf hash computed here with node:crypto, independently of the code under test. */
const rfc6962 = (bytes: Uint8Array) => createHash('sha256').update(Uint8Array.of(0)).update(bytes).digest('base64');

describe('writ audit export', () => {
  let f: Fixture;
  const at: Record<'allow' | 'deny' | 'pending' | 'approval' | 'approvedAllow' | 'outcome' | 'revocation', number> = { allow: -1, deny: -1, pending: -1, approval: -1, approvedAllow: -1, outcome: -1, revocation: -1 };
  let jti = '';

  before(async () => {
    f = await fixture({ policyDir: POLICY });
    const allow = await f.node.authorize(READ);
    assert.equal(allow.decision, 'allow');
    at.allow = allow.ledgerIndex as number;
    jti = allow.claims?.jti as string;
    at.deny = (await f.node.authorize(DELETE)).ledgerIndex as number;
    const pending = await f.node.authorize(WRITE);
    assert.deepEqual(pending.reasons, ['approval_required']);
    at.pending = pending.ledgerIndex as number;
    await decideApproval(f.ledger, f.state, pending.approvalId as string, 'approved', 'alice');
    at.approval = f.ledger.size() - 1;
    at.approvedAllow = (await f.node.authorize({ ...WRITE, approval: pending.approvalId as string })).ledgerIndex as number;
    at.outcome = await recordOutcome(f.ledger, { jti, node: f.config.nodeId, exitCode: 0, signal: null, durationMs: 7, status: 'ok', reason: null });
    // integer-like keys: a parsed object puts them first, JCS sorts them as strings ("10" < "9")
    assert.equal((await f.node.authorize({ ...READ, args: { path: '/srv/b', 9: 'nine', 10: 'ten' } })).decision, 'allow');
    at.revocation = (await revoke(f.ledger, f.state, { kind: 'writ', value: jti, reason: 'test', by: 'cli' })).ledgerIndex as number;
  });
  after(() => f.cleanup());

  it('jsonl: one record per entry, each with its index, the leaf hash of the stored bytes and the leaf whose JCS is those bytes', () => {
    const records = lines<JsonlRecord>(cli(['audit', 'export', '--home', f.home]));
    const stored = f.ledger.entries(0, 10_000);
    assert.equal(records.length, stored.length);
    assert.ok(stored.length > at.revocation, 'every kind of entry was appended');
    for (const [i, e] of stored.entries()) {
      const r = records[i] as JsonlRecord;
      assert.equal(r.v, 1);
      assert.equal(r.index, e.index);
      assert.equal(r.type, e.type);
      assert.equal(r.leafHash, rfc6962(e.leaf), `leaf hash of entry ${e.index}`);
      assert.deepEqual(new TextEncoder().encode(canonicalJson(r.leaf)), new Uint8Array(e.leaf), `JCS(leaf) of entry ${e.index} is the stored bytes`);
    }
    assert.deepEqual(new Set(records.map((r) => r.type)), new Set(['key_change', 'bundle_activation', 'decision', 'approval', 'outcome', 'revocation']));
    // why the docs say JCS and not JSON.stringify: the leaf with integer-like keys re-serializes differently
    assert.ok(records.some((r, i) => JSON.stringify(r.leaf) !== new TextDecoder().decode(stored[i]?.leaf)), 'an entry whose plain re-serialization differs');
  });

  it('ocsf: the base event fields, the index, leaf hash and exact leaf text of every entry', () => {
    const events = lines<Ocsf>(cli(['audit', 'export', '--home', f.home, '--format', 'ocsf']));
    const stored = f.ledger.entries(0, 10_000);
    assert.equal(events.length, stored.length);
    for (const [i, e] of stored.entries()) {
      const ev = events[i] as Ocsf;
      const leaf = JSON.parse(new TextDecoder().decode(e.leaf)) as { time: string };
      assert.equal(ev.unmapped.index, e.index);
      assert.equal(ev.metadata.sequence, e.index);
      assert.equal(ev.unmapped.leafHash, rfc6962(e.leaf));
      assert.equal(ev.metadata.uid, ev.unmapped.leafHash);
      assert.equal(ev.raw_data, new TextDecoder().decode(e.leaf));
      assert.equal(ev.type_uid, ev.class_uid * 100 + ev.activity_id);
      assert.equal(ev.category_uid, Math.floor(ev.class_uid / 1000));
      assert.equal(ev.time, Date.parse(leaf.time));
      assert.equal(ev.metadata.original_time, leaf.time);
      assert.equal(ev.metadata.version, '1.3.0');
      assert.equal(ev.metadata.product.name, 'Writ');
      assert.equal(ev.metadata.log_name, f.config.log.origin);
      for (const k of ['activity_id', 'category_uid', 'class_uid', 'severity_id', 'time', 'type_uid', 'status_id', 'message']) assert.ok(k in ev, `entry ${e.index}: ${k}`);
    }
  });

  it('ocsf: allow is Success, deny is Failure with its reason code; each kind of entry has its class and activity', () => {
    const events = lines<Ocsf>(cli(['audit', 'export', '--home', f.home, '--format', 'ocsf']));
    const ev = (i: number) => events[i] as Ocsf & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const allow = ev(at.allow);
    assert.deepEqual([allow.class_uid, allow.activity_id, allow.type_uid, allow.status_id, allow.status, allow.severity_id], [3003, 1, 300301, 1, 'Success', 1]);
    assert.equal(allow.status_code, 'policy_permit');
    assert.equal(allow.user.uid, A1);
    assert.deepEqual(allow.privileges, [CALL]);
    assert.equal(allow.session.uid, jti);
    assert.equal(allow.metadata.correlation_uid, jti);
    assert.deepEqual(allow.actor.authorizations, [{ decision: 'allow', policy: { uid: 'read', name: 'read', version: '1' } }]);
    assert.equal(allow.unmapped.resource, READ.resource);

    const deny = ev(at.deny);
    assert.deepEqual([deny.class_uid, deny.type_uid, deny.status_id, deny.status, deny.severity_id], [3003, 300301, 2, 'Failure', 2]);
    assert.equal(deny.status_code, 'no_permit');
    assert.equal(deny.status_detail, 'no_permit');
    assert.equal(deny.session, undefined, 'a deny opens no session');
    assert.equal(deny.actor.authorizations[0].decision, 'deny');
    assert.equal(ev(at.pending).status_code, 'approval_required');

    const approval = ev(at.approval);
    assert.deepEqual([approval.class_uid, approval.status, approval.actor.user.name, approval.user.uid], [3003, 'Success', 'alice', A1]);
    assert.equal(ev(at.approvedAllow).unmapped.approval, approval.unmapped.approvalId);

    const outcome = ev(at.outcome);
    assert.deepEqual([outcome.class_uid, outcome.category_uid, outcome.activity_id, outcome.type_uid, outcome.status], [6003, 6, 99, 600399, 'Success']);
    assert.equal(outcome.metadata.correlation_uid, jti);
    assert.equal(outcome.actor.user.uid, A1, 'the principal, from the decision the outcome names');
    assert.equal(outcome.resources[0].uid, READ.resource);
    assert.equal(outcome.duration, 7);

    const revocation = ev(at.revocation);
    assert.deepEqual([revocation.class_uid, revocation.activity_id, revocation.type_uid, revocation.entity.uid, revocation.entity.type, revocation.comment], [3004, 9, 300409, jti, 'writ', 'test']);
    assert.equal(revocation.metadata.correlation_uid, jti);

    const activation = events.find((e) => e.unmapped.type === 'bundle_activation') as Ocsf & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual([activation.class_uid, activation.activity_id, activation.entity.type, activation.entity.version], [3004, 10, 'policy_bundle', '1']);
    assert.ok(events.filter((e) => e.unmapped.type === 'key_change').every((e) => e.class_uid === 3004 && e.activity_id === 1));
  });

  it('--since skips earlier entries (inclusive start); --limit stops after N', () => {
    const since = lines<JsonlRecord>(cli(['audit', 'export', '--home', f.home, '--since', String(at.deny)]));
    assert.deepEqual(since.map((r) => r.index), Array.from({ length: f.ledger.size() - at.deny }, (_, i) => at.deny + i));
    const limited = lines<Ocsf>(cli(['audit', 'export', '--home', f.home, '--format', 'ocsf', '--since', String(at.allow), '--limit', '2']));
    assert.deepEqual(limited.map((e) => e.unmapped.index), [at.allow, at.allow + 1]);
    assert.deepEqual(lines(cli(['audit', 'export', '--home', f.home, '--since', String(f.ledger.size())])), [], 'past the end: nothing');
  });

  it('a bad --format, --since or --limit is a usage error (exit 2)', () => {
    for (const bad of [['--format', 'bogus'], ['--since', '-1'], ['--since', 'x'], ['--limit', '0']]) {
      const r = cli(['audit', 'export', '--home', f.home, ...bad]);
      assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  it('an exported record is proven by writ audit prove and verify-proof with its index and JCS(leaf)', () => {
    const [r] = lines<JsonlRecord>(cli(['audit', 'export', '--home', f.home, '--since', String(at.allow), '--limit', '1']));
    assert.ok(r);
    const dir = tempDir('writ-export-proof-');
    after(() => rmSync(dir, { recursive: true, force: true }));
    const proof = join(dir, 'proof');
    const entry = join(dir, 'entry');
    const prove = cli(['audit', 'prove', String(r.index), '--home', f.home, '--out', proof]);
    assert.equal(prove.status, 0, prove.stderr);
    writeFileSync(entry, canonicalJson(r.leaf));
    const verify = cli(['audit', 'verify-proof', proof, '--entry', entry, '--log-key', f.config.log.verifierKey, '--json']);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true);
    // the same proof refuses another record's leaf: the check bites
    const [other] = lines<JsonlRecord>(cli(['audit', 'export', '--home', f.home, '--since', String(at.deny), '--limit', '1']));
    writeFileSync(entry, canonicalJson(other?.leaf));
    assert.equal(cli(['audit', 'verify-proof', proof, '--entry', entry, '--log-key', f.config.log.verifierKey]).status, 1);
  });

  it('an entry whose bytes are not a JSON object is still exported with its index and hash (leaf null; OCSF Base Event)', () => {
    const bytes = new TextEncoder().encode('not json');
    const e = { index: 41, type: 'decision' as const, leaf: bytes };
    assert.deepEqual(exportRecord(e), { v: 1, index: 41, leafHash: rfc6962(bytes), type: 'decision', leaf: null });
    const ev = toOcsf(e, { productVersion: 'x', logName: 'o' }) as Ocsf;
    assert.deepEqual([ev.class_uid, ev.activity_id, ev.type_uid, ev.time, ev.raw_data], [0, 99, 99, 0, 'not json']);
    assert.deepEqual([ev.unmapped.index, ev.unmapped.leafHash], [41, rfc6962(bytes)]);
  });

  /** Spawns `writ audit export --follow`, resolving each line as it comes. */
  function follow(args: string[]) {
    const child = spawn(process.execPath, [CLI, 'audit', 'export', '--home', f.home, '--follow', '--poll-ms', '50', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let stderr = '';
    const waiting: ((l: string) => void)[] = [];
    const got: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = waiting.shift();
        if (w) w(l);
        else got.push(l);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const next = (ms = 10_000) =>
      new Promise<string>((resolve, reject) => {
        const l = got.shift();
        if (l !== undefined) return resolve(l);
        const t = setTimeout(() => reject(new Error(`no line within ${ms} ms; stderr: ${stderr}`)), ms);
        waiting.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
      });
    return { child, next, exited, stderr: () => stderr };
  }

  it('--follow streams an entry appended after it started, and SIGTERM ends it cleanly (exit 0)', async () => {
    const start = f.ledger.size();
    const p = follow(['--since', String(start)]);
    try {
      await new Promise((r) => setTimeout(r, 300)); // it is polling an exhausted ledger
      const d = await f.node.authorize(DELETE);
      const r = JSON.parse(await p.next()) as JsonlRecord;
      assert.equal(r.index, d.ledgerIndex);
      assert.equal(r.index, start);
      assert.equal(r.leafHash, rfc6962(f.ledger.entry(start)?.leaf as Uint8Array));
      p.child.kill('SIGTERM');
      assert.deepEqual(await p.exited, { code: 0, signal: null });
      assert.equal(p.stderr(), '');
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('--follow ends cleanly (exit 0, nothing on stderr) when its reader closes the pipe', async () => {
    const p = follow(['--format', 'ocsf', '--since', String(f.ledger.size() - 1)]);
    try {
      await p.next();
      p.child.stdout.destroy();
      await f.node.authorize(DELETE); // the next write finds the pipe closed
      assert.deepEqual(await p.exited, { code: 0, signal: null });
      assert.equal(p.stderr(), '');
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});

/** `writ policy diff OLD NEW --against HOME` (docs/policy-test.md): the recorded decisions of a home decided again under a candidate. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { DiffReport, DiffRow } from '../src/cli/policy-diff.ts';
import { json, ok, scratchDir, writ, type AllowOut, type DenyOut } from './cli-fixture.ts';

const OLD = `
@id("read-srv")
permit (principal is Agent, action == Action::"read", resource)
when { context.args has path && context.args.path like "/srv/*" };

@id("no-secrets")
forbid (principal, action, resource)
when { context.args has path && context.args.path like "*secret*" };
`;

// read-srv narrowed to /srv/public (an allow becomes a deny), the forbid renamed (same
// decision, another determining policy), and writes permitted (a deny becomes an allow)
const NEW = `
@id("read-srv")
permit (principal is Agent, action == Action::"read", resource)
when { context.args has path && context.args.path like "/srv/public/*" };

@id("no-secrets-v2")
forbid (principal, action, resource)
when { context.args has path && context.args.path like "*secret*" };

@id("write-srv")
permit (principal is Agent, action == Action::"write", resource);
`;

function policyDir(text: string): string {
  const dir = scratchDir('writ-diff-policy-');
  writeFileSync(join(dir, 'policy.cedar'), text);
  return dir;
}

// the --json report is the command's own DiffReport (its wire shape)
type Report = DiffReport;
type Row = DiffRow;

describe('writ policy diff', () => {
  let home: string;
  let oldDir: string;
  let newDir: string;
  let newBundle: string;
  const at: Record<string, number> = {};

  before(() => {
    home = join(scratchDir('writ-diff-'), 'home');
    ok(writ(['init', '--home', home]), 'init');
    oldDir = policyDir(OLD);
    newDir = policyDir(NEW);
    const oldBundle = join(home, '..', 'old.json');
    newBundle = join(home, '..', 'new.json');
    ok(writ(['policy', 'sign', oldDir, '--home', home, '--out', oldBundle, '--version', '1']), 'sign old');
    ok(writ(['policy', 'sign', newDir, '--home', home, '--out', newBundle, '--version', '2']), 'sign new');
    ok(writ(['policy', 'activate', oldBundle, '--home', home]), 'activate old');
    const decide = (name: string, action: string, path: string, principal = 'Agent::"a1"') => {
      const r = writ(['authorize', '--home', home, '--principal', principal, '--action', `Action::"${action}"`, '--resource', 'Doc::"d"', '--args', JSON.stringify({ path }), '--json']);
      const out = json<AllowOut | DenyOut>(r);
      at[name] = out.ledgerIndex as number;
      return out;
    };
    assert.equal(decide('readSrv', 'read', '/srv/a').decision, 'allow');
    assert.deepEqual(decide('readSecret', 'read', '/srv/secret').policies, ['no-secrets']);
    assert.equal(decide('write', 'write', '/srv/a').decision, 'deny');
    assert.equal(decide('readEtc', 'read', '/etc/passwd').decision, 'deny');
    assert.equal(decide('readPublic', 'read', '/srv/public/x').decision, 'allow');
    // not a UID: denied before Cedar, recorded without input
    assert.deepEqual((decide('gate', 'read', '/srv/a', 'not-a-uid') as DenyOut).reasons, ['request_invalid']);
  });

  const diff = (o: string, n: string, ...flags: string[]) => writ(['policy', 'diff', o, n, '--against', home, ...flags]);

  it('lists exactly the decisions that would change, old -> new, with counts (--json)', () => {
    const r = ok(diff(oldDir, newDir, '--json'));
    const report = json<Report>(r);
    assert.deepEqual({ decisions: report.decisions, redecided: report.redecided, gateDenials: report.gateDenials, oldReproduces: report.oldReproduces, errors: report.errors }, { decisions: 6, redecided: 5, gateDenials: 1, oldReproduces: 5, errors: [] });
    assert.deepEqual(
      report.changed.map((c) => ({ index: c.index, old: c.old, new: c.new, decisionChanged: c.decisionChanged })),
      [
        { index: at.readSrv, old: { decision: 'allow', reasons: ['policy_permit'], policies: ['read-srv'] }, new: { decision: 'deny', reasons: ['no_permit'], policies: [] }, decisionChanged: true },
        { index: at.readSecret, old: { decision: 'deny', reasons: ['policy_forbid'], policies: ['no-secrets'] }, new: { decision: 'deny', reasons: ['policy_forbid'], policies: ['no-secrets-v2'] }, decisionChanged: false },
        { index: at.write, old: { decision: 'deny', reasons: ['no_permit'], policies: [] }, new: { decision: 'allow', reasons: ['policy_permit'], policies: ['write-srv'] }, decisionChanged: true },
      ].sort((a, b) => (a.index as number) - (b.index as number)),
    );
    const first = report.changed[0] as Row;
    assert.deepEqual([first.principal, first.action, first.resource, first.args], ['Agent::"a1"', 'Action::"read"', 'Doc::"d"', { path: '/srv/a' }]);
    assert.ok(report.changed.every((c) => c.oldReproduces));
    assert.deepEqual(report.summary, { changed: 3, decisionChanged: 2, allowToDeny: 1, denyToAllow: 1, reasonsOrPoliciesOnly: 1 });
  });

  it('text output: one line per change with the ledger index, and a summary; exit 0 unless --fail-on-change', () => {
    const r = ok(diff(oldDir, newDir));
    assert.ok(r.stdout.includes(`#${at.readSrv} Agent::"a1" Action::"read" Doc::"d" {"path":"/srv/a"}: allow policy_permit [read-srv] -> deny no_permit []\n`), r.stdout);
    assert.ok(r.stdout.includes(`#${at.readSecret} Agent::"a1" Action::"read" Doc::"d" {"path":"/srv/secret"}: deny policy_forbid [no-secrets] -> deny policy_forbid [no-secrets-v2] (same decision)\n`), r.stdout);
    assert.ok(r.stdout.includes(`#${at.write} Agent::"a1" Action::"write" Doc::"d" {"path":"/srv/a"}: deny no_permit [] -> allow policy_permit [write-srv]\n`), r.stdout);
    assert.equal(r.stdout.match(/^#\d+ /gm)?.length, 3);
    assert.match(r.stdout, /^6 decisions: 5 re-decided, 1 denied before evaluation \(nothing to re-decide\); old reproduces 5 of 5 as recorded; 3 would change \(1 allow -> deny, 1 deny -> allow, 1 reasons or policies only\)$/m);
    const failing = diff(oldDir, newDir, '--fail-on-change');
    assert.equal(failing.status, 1);
    const same = diff(oldDir, oldDir, '--fail-on-change');
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /0 would change/);
  });

  it('OLD and NEW may be signed bundles or the active bundle; --against may name the state.db', () => {
    const fromBundle = json<Report>(ok(writ(['policy', 'diff', 'active', newBundle, '--against', join(home, 'state.db'), '--json'])));
    assert.deepEqual(fromBundle.changed.map((c) => c.index), [at.readSrv, at.readSecret, at.write].sort((a, b) => (a as number) - (b as number)));
    assert.equal(fromBundle.oldReproduces, 5);
  });

  it('an OLD that does not reproduce the ledger says so, per decision and in the counts', () => {
    // NEW as OLD: three recorded decisions are not what it decides
    const r = json<Report>(ok(diff(newDir, oldDir, '--json')));
    assert.equal(r.oldReproduces, 2);
    assert.equal(r.changed.length, 3);
    assert.ok(r.changed.every((c) => !c.oldReproduces));
    const text = ok(diff(newDir, oldDir)).stdout;
    assert.match(text, /; recorded allow policy_permit \[read-srv\]/);
    assert.match(text, /old reproduces 2 of 5 as recorded/);
  });

  it('a tampered bundle and a folder that does not lint are refused (exit 1)', () => {
    const b = JSON.parse(readFileSync(newBundle, 'utf8')) as { files: Record<string, string> };
    b.files['policy.cedar'] = Buffer.from(NEW + '\npermit (principal, action, resource);\n').toString('base64url');
    const tampered = join(home, '..', 'tampered.json');
    writeFileSync(tampered, JSON.stringify(b));
    const r = diff(oldDir, tampered);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /refused: bundle_file_mismatch/);
    const bad = diff(oldDir, policyDir('permit (principal, action, resource) when { 1 + };'));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /policy\.cedar:1:\d+: /);
  });
});

describe('writ policy diff: approvals', () => {
  it('a decision recorded as approval_required is decided as recorded (no approval given), and allows once the candidate drops @approval', () => {
    const home = join(scratchDir('writ-diff-approval-'), 'home');
    ok(writ(['init', '--home', home]), 'init');
    const withApproval = policyDir('@id("deploy")\n@approval("required")\npermit (principal, action == Action::"deploy", resource);\n');
    const without = policyDir('@id("deploy")\npermit (principal, action == Action::"deploy", resource);\n');
    const bundle = join(home, '..', 'b.json');
    ok(writ(['policy', 'sign', withApproval, '--home', home, '--out', bundle, '--version', '1']), 'sign');
    ok(writ(['policy', 'activate', bundle, '--home', home]), 'activate');
    const d = json<DenyOut>(writ(['authorize', '--home', home, '--principal', 'Agent::"a1"', '--action', 'Action::"deploy"', '--resource', 'Svc::"api"', '--json']));
    assert.deepEqual(d.reasons, ['approval_required']);
    const r = json<Report>(ok(writ(['policy', 'diff', 'active', without, '--against', home, '--json'])));
    assert.equal(r.oldReproduces, 1);
    assert.deepEqual(
      r.changed.map((c) => [c.index, c.old, c.new]),
      [[d.ledgerIndex, { decision: 'deny', reasons: ['approval_required'], policies: ['deploy'] }, { decision: 'allow', reasons: ['policy_permit'], policies: ['deploy'] }]],
    );
  });
});

/** `writ policy test DIR` (docs/policy-test.md): request fixtures in DIR/tests, run by `policy test`, `policy lint` and `policy sign`. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { base64url } from 'jose';
import { parseFixtureFile, PolicyTestError } from '../src/policy/fixtures.ts';
import { readPolicyFolder } from '../src/policy/sign.ts';
import { ok, scratchDir, writ } from './cli-fixture.ts';

const POLICY = `
@id("read-srv")
permit (principal is Agent, action == Action::"read", resource)
when { context.args has path && context.args.path like "/srv/*" };

@id("no-secrets")
forbid (principal, action, resource)
when { context.args has path && context.args.path like "*secret*" };

// 1893456000 = 2030-01-01T00:00:00Z
@id("before-2030")
permit (principal, action == Action::"late", resource)
when { context.now < 1893456000 };

@id("deploy-approved")
@approval("required")
permit (principal, action == Action::"deploy", resource);

@id("no-child-deploy")
forbid (principal, action == Action::"deploy", resource)
when { context.lineage.depth > 0 };
`;

interface Test {
  v?: unknown;
  name: string;
  request: Record<string, unknown>;
  expect: Record<string, unknown>;
}

const req = (action: string, args: object = {}, extra: object = {}) => ({ principal: 'Agent::"a1"', action: `Action::"${action}"`, resource: 'Doc::"d"', args, ...extra });
const test = (name: string, request: Record<string, unknown>, expect: Record<string, unknown>): Test => ({ v: 1, name, request, expect });

const PASSING: Test[] = [
  test('reads under /srv', req('read', { path: '/srv/a' }), { decision: 'allow', reasons: ['policy_permit'], policies: ['read-srv'] }),
  test('no secrets', req('read', { path: '/srv/secret' }), { decision: 'deny', reasons: ['policy_forbid'], policies: ['no-secrets'] }),
  test('nothing outside /srv', req('read', { path: '/etc/passwd' }), { decision: 'deny', reasons: ['no_permit'], policies: [] }),
];

/** A policy folder with tests/: files name -> content (objects written as JSON). */
function folder(tests: Record<string, unknown>): string {
  const dir = scratchDir('writ-policy-test-');
  writeFileSync(join(dir, 'policy.cedar'), POLICY);
  mkdirSync(join(dir, 'tests'));
  for (const [name, content] of Object.entries(tests)) writeFileSync(join(dir, 'tests', name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return dir;
}

interface Report {
  tests: number;
  passed: number;
  failed: number;
  results: { name: string; file: string; ok: boolean; actual: { decision: string; reasons: string[]; policies: string[] } }[];
}

describe('writ policy test', () => {
  it('passing fixtures: one ok line per test, a summary, exit 0; a file may hold one test or a list', () => {
    const dir = folder({ 'read.json': PASSING, 'single.json': test('late before 2030', req('late', {}, { context: { now: '2029-12-31T23:59:59Z' } }), { decision: 'allow' }) });
    const r = ok(writ(['policy', 'test', dir]));
    assert.equal(
      r.stdout,
      'ok 1 - reads under /srv (tests/read.json)\nok 2 - no secrets (tests/read.json)\nok 3 - nothing outside /srv (tests/read.json)\nok 4 - late before 2030 (tests/single.json)\n4 tests: 4 passed, 0 failed\n',
    );
  });

  it('a failing fixture: not ok with expected and actual decision, reasons and policies; exit 1; --json gives the same', () => {
    const wrong = test('secrets are readable', req('read', { path: '/srv/secret' }), { decision: 'allow', reasons: ['policy_permit'] });
    const dir = folder({ 'a.json': [...PASSING, wrong] });
    const r = writ(['policy', 'test', dir]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^ok 3 - nothing outside \/srv/m);
    assert.match(r.stdout, /^not ok 4 - secrets are readable \(tests\/a\.json\)\n {2}expected: allow policy_permit\n {2}actual: {3}deny policy_forbid \[no-secrets\]$/m);
    assert.match(r.stdout, /^4 tests: 3 passed, 1 failed$/m);
    const j = writ(['policy', 'test', dir, '--json']);
    assert.equal(j.status, 1);
    const report = JSON.parse(j.stdout) as Report;
    assert.deepEqual({ tests: report.tests, passed: report.passed, failed: report.failed }, { tests: 4, passed: 3, failed: 1 });
    assert.deepEqual(report.results[3]?.actual, { decision: 'deny', reasons: ['policy_forbid'], policies: ['no-secrets'] });
    assert.deepEqual(report.results.map((t) => t.ok), [true, true, true, false]);
  });

  it('only the members a fixture names are compared; a wrong policy list alone fails', () => {
    const dir = folder({ 'a.json': [test('decision only', req('read', { path: '/srv/a' }), { decision: 'allow' }), test('wrong policy', req('read', { path: '/srv/a' }), { decision: 'allow', policies: ['other'] })] });
    const r = writ(['policy', 'test', dir]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^ok 1 - decision only/m);
    assert.match(r.stdout, /^not ok 2 - wrong policy/m);
  });

  it('the node context: a fixed context.now decides time-bound policies deterministically, lineage and approval as the node has them', () => {
    const dir = folder({
      't.json': [
        test('late in 2029', req('late', {}, { context: { now: 1893455999 } }), { decision: 'allow', policies: ['before-2030'] }),
        test('late in 2030', req('late', {}, { context: { now: '2030-01-01T00:00:00Z' } }), { decision: 'deny', reasons: ['no_permit'] }),
        test('deploy waits for approval', req('deploy'), { decision: 'deny', reasons: ['approval_required'], policies: ['deploy-approved'] }),
        test('deploy approved', req('deploy', {}, { approved: true }), { decision: 'allow', policies: ['deploy-approved'] }),
        test('a child never deploys', req('deploy', {}, { approved: true, context: { lineage: { depth: 1 } } }), { decision: 'deny', reasons: ['policy_forbid'], policies: ['no-child-deploy'] }),
        test('reserved argument keys are refused as by the node', req('read', { __entity: { type: 'X', id: 'y' } }), { decision: 'deny', reasons: ['request_invalid'] }),
      ],
    });
    const r = writ(['policy', 'test', dir, '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as Report).passed, 6);
  });

  it('a malformed fixture is an error naming the file and the field (exit 1, no test run)', () => {
    const cases: [unknown, RegExp][] = [
      [[PASSING[0], { ...PASSING[1], expect: { decision: 'maybe' } }], /tests\/bad\.json: \[1\]\.expect\.decision: expected "allow" or "deny", got "maybe"/],
      [{ ...PASSING[0], expected: { decision: 'allow' } }, /tests\/bad\.json: expected: unknown member/],
      [{ ...PASSING[0], v: 2 }, /tests\/bad\.json: v: expected 1 \(the fixture format version\), got 2/],
      [{ ...PASSING[0], request: { ...req('read'), principal: 'a1' } }, /tests\/bad\.json: request\.principal: expected an entity UID/],
      [{ ...PASSING[0], request: { ...req('read'), context: { now: 'tomorrow' } } }, /tests\/bad\.json: request\.context\.now: expected whole seconds/],
      ['{"v": 1, "name": ', /tests\/bad\.json: not valid JSON/],
    ];
    for (const [content, message] of cases) {
      const dir = folder({ 'bad.json': content });
      const r = writ(['policy', 'test', dir]);
      assert.equal(r.status, 1, `${JSON.stringify(content)}: ${r.stdout}`);
      assert.match(r.stderr, message);
      assert.ok(r.stderr.includes(`${dir}/tests/bad.json`), r.stderr);
      assert.doesNotMatch(r.stdout, /^ok /m);
    }
    const dup = writ(['policy', 'test', folder({ 'a.json': PASSING, 'b.json': PASSING[0] })]);
    assert.equal(dup.status, 1);
    assert.match(dup.stderr, /tests\/b\.json: name: duplicate test name "reads under \/srv" \(also in tests\/a\.json\)/);
    const other = writ(['policy', 'test', folder({ 'a.json': PASSING, 'notes.txt': 'x' })]);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /tests\/notes\.txt: not a test fixture/);
  });

  it('a folder without tests/ is an error for policy test, and fine for lint', () => {
    const dir = scratchDir('writ-policy-notests-');
    writeFileSync(join(dir, 'policy.cedar'), POLICY);
    const r = writ(['policy', 'test', dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tests: no such folder/);
    const lint = ok(writ(['policy', 'lint', dir]));
    assert.doesNotMatch(lint.stdout, /tests:/);
  });

  it('parseFixtureFile: the fixture format, without the CLI', () => {
    const [t] = parseFixtureFile('tests/x.json', JSON.stringify(test('n', req('late', { a: 1 }, { context: { now: 5, tenant: 'x', attestation: { binaryDigest: 'sha256:00' } } }), { decision: 'deny' })));
    assert.equal(t?.request.now, 5);
    assert.deepEqual(t?.request.context, { tenant: 'x' });
    assert.deepEqual(t?.request.attestation, { binaryDigest: 'sha256:00' });
    assert.deepEqual(t?.request.args, { a: 1 });
    assert.throws(
      () => parseFixtureFile('tests/x.json', JSON.stringify(test('n', req('read', {}, { context: { args: {} } }), { decision: 'deny' }))),
      (e: unknown) => e instanceof PolicyTestError && e.code === 'policy_test_invalid' && e.field === 'request.context.args',
    );
    assert.throws(() => parseFixtureFile('tests/x.json', '[]'), /an empty list of tests/);
  });
});

describe('policy lint and policy sign run the tests', () => {
  it('lint: a failing test fails the lint (exit 1) with the test lines; passing tests are listed and exit 0', () => {
    const failing = folder({ 'a.json': [...PASSING, test('bad', req('read', { path: '/srv/secret' }), { decision: 'allow' })] });
    const r = writ(['policy', 'lint', failing]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /5 policies ok/);
    assert.match(r.stdout, /^not ok 4 - bad/m);
    const passing = ok(writ(['policy', 'lint', folder({ 'a.json': PASSING })]));
    assert.match(passing.stdout, /^3 tests: 3 passed, 0 failed$/m);
  });

  it('sign: refused when a test fails (nothing written); signed when all pass, without tests/ in the bundle', () => {
    const home = join(scratchDir('writ-policy-test-home-'), 'home');
    ok(writ(['init', '--home', home]), 'init');
    const out = join(home, '..', 'bundle.json');
    const failing = folder({ 'a.json': [...PASSING, test('bad', req('read', { path: '/srv/secret' }), { decision: 'allow' })] });
    const refused = writ(['policy', 'sign', failing, '--home', home, '--out', out, '--version', '1']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refused to sign .*: 1 of 4 policy tests fail; nothing written/);
    assert.match(refused.stderr, /^not ok 4 - bad/m);
    assert.equal(existsSync(out), false);

    const passing = folder({ 'a.json': PASSING });
    const signed = ok(writ(['policy', 'sign', passing, '--home', home, '--out', out, '--version', '1']));
    assert.match(signed.stdout, /3 policy tests passed/);
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as { files: Record<string, string>; manifest: { payload: string } };
    assert.deepEqual(Object.keys(bundle.files), ['policy.cedar']);
    const manifest = JSON.parse(new TextDecoder().decode(base64url.decode(bundle.manifest.payload))) as { files: Record<string, unknown> };
    assert.deepEqual(Object.keys(manifest.files), ['policy.cedar']);
    assert.deepEqual([...readPolicyFolder(passing).keys()], ['policy.cedar']);
    ok(writ(['policy', 'activate', out, '--home', home]), 'activate');
  });

  it('a subdirectory other than tests/ is still refused', () => {
    const dir = folder({ 'a.json': PASSING });
    mkdirSync(join(dir, 'more'));
    assert.throws(() => readPolicyFolder(dir), /policy folders hold only files/);
  });
});

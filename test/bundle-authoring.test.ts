/** Authoring policy bundles: the signing API, the policy-folder reader and `writ policy lint`. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { buildManifest, readPolicyFolder, signManifest } from '../src/policy/sign.ts';
import { CLI, DEMO_POLICY, policyFolder } from './helpers.ts';

const enc = new TextEncoder();

describe('signing API', () => {
  it('buildManifest refuses bad domain, version and expiry; signManifest needs a key', async () => {
    const files = new Map([['p.cedar', enc.encode('permit (principal, action, resource);')]]);
    const created = new Date();
    const expires = new Date(created.getTime() + 1000);
    assert.throws(() => buildManifest(files, { domain: 'UPPER', version: 1, created, expires }), /invalid domain/);
    assert.throws(() => buildManifest(files, { domain: 'd', version: 0, created, expires }), /invalid version/);
    assert.throws(() => buildManifest(files, { domain: 'd', version: 1, created, expires: created }), /expiry/);
    await assert.rejects(signManifest(buildManifest(files, { domain: 'd', version: 1, created, expires }), []), /at least one/);
  });
});

describe('readPolicyFolder', () => {
  it('refuses unknown files so nothing is silently left out', () => {
    const dir = policyFolder({ 'p.cedar': 'permit (principal, action, resource);', 'notes.txt': 'hello' });
    assert.throws(() => readPolicyFolder(dir), /notes\.txt: not a policy file/);
    const dir2 = policyFolder({ 'p.cedar': 'permit (principal, action, resource);', 'schema.json': '{}' });
    assert.throws(() => readPolicyFolder(dir2), /schema\.json: not a policy file/);
  });

  it('reads policies, schema and entities; skips README.md and dotfiles; needs at least one .cedar', () => {
    const dir = policyFolder({ 'a.cedar': 'permit (principal, action, resource);', 'schema.cedarschema': 'entity User;', 'entities.json': '[]', 'README.md': '# x', '.hidden': 'x' });
    assert.deepEqual([...readPolicyFolder(dir).keys()].sort(), ['a.cedar', 'entities.json', 'schema.cedarschema']);
    assert.throws(() => readPolicyFolder(policyFolder({ 'entities.json': '[]' })), /no \*\.cedar policy files/);
  });
});

describe('writ policy lint (CLI)', () => {
  function lint(dir: string): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [CLI, 'policy', 'lint', dir], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('reports a syntax error on line 3 as DIR/file.cedar:3:COL: message and exits 1', () => {
    const dir = policyFolder({
      'file.cedar': 'permit (principal, action, resource);\n\npermit (principal, action, resource) when { 1 + };\n',
    });
    const r = lint(dir);
    assert.equal(r.status, 1, r.stderr);
    const out = r.stdout + r.stderr;
    const m = new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/file\\.cedar:3:(\\d+): .+`, 'm').exec(out);
    assert.ok(m, `expected ${dir}/file.cedar:3:COL: ..., got:\n${out}`);
    assert.ok(Number(m[1]) >= 1);
  });

  it('validates against schema.cedarschema: an undeclared attribute fails with file:line:col', () => {
    const dir = policyFolder({
      'schema.cedarschema': 'entity User { level: Long };\nentity Doc;\naction read appliesTo { principal: User, resource: Doc };\n',
      'rules.cedar': '@id("p")\npermit (principal, action == Action::"read", resource)\nwhen { principal.clearance > 1 };\n',
    });
    const r = lint(dir);
    assert.equal(r.status, 1, r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /rules\.cedar:3:\d+: .*clearance/);
  });

  it('exits 0 on a clean folder (with and without a schema)', () => {
    const plain = lint(policyFolder({ 'a.cedar': '@id("x")\npermit (principal, action, resource);\n' }));
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /1 policies ok/);
    const withSchema = lint(
      policyFolder({
        'schema.cedarschema': 'entity User { level: Long };\nentity Doc;\naction read appliesTo { principal: User, resource: Doc };\n',
        'rules.cedar': 'permit (principal, action == Action::"read", resource) when { principal.level > 1 };\n',
      }),
    );
    assert.equal(withSchema.status, 0, withSchema.stderr);
    assert.match(withSchema.stdout, /validated against schema/);
    const demo = lint(DEMO_POLICY);
    assert.equal(demo.status, 0, demo.stderr);
  });

  it('exits 1 on a folder with an unknown file', () => {
    const r = lint(policyFolder({ 'a.cedar': 'permit (principal, action, resource);', 'notes.txt': 'x' }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /notes\.txt: not a policy file/);
  });
});

/** `writ explain` and GET /console/api/explain (docs/explain.md): one recorded decision explained from its leaf and its recorded bundle. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { explain, ExplainError, type Explanation } from '../src/audit/explain.ts';
import { permitChecks } from '../src/audit/explain-permits.ts';
import { registerExplainRoutes } from '../src/console/explain-routes.ts';
import { CONSOLE_CSP } from '../src/console/routes.ts';
import { recordOutcome, revoke } from '../src/node/evidence.ts';
import type { Decision } from '../src/node/node.ts';
import { loadPolicySource } from '../src/policy/source.ts';
import { json, writ } from './cli-fixture.ts';
import { bundleBytes, fixture, policyFolder, type Fixture } from './helpers.ts';

const V1 = policyFolder({
  'read.cedar': [
    '@id("read-srv")',
    'permit (principal is Agent, action == Action::"tools/call", resource == Tool::"fs/read")',
    'when { context.args has path && context.args.path like "/srv/*" };',
    '@id("read-no-keys")',
    'permit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/read")',
    'unless { context.args.path like "*.key" };',
    '',
  ].join('\n'),
  'other.cedar': [
    '@id("write-anything")',
    'permit (principal, action == Action::"tools/call", resource == Tool::"fs/write");',
    '@id("no-secrets")',
    'forbid (principal, action, resource) when { context.args has path && context.args.path like "*secret*" };',
    '',
  ].join('\n'),
});
// version 2 drops no-secrets: a decision forbidden under version 1 must still be explained by version 1
const V2 = policyFolder({ 'p.cedar': '@id("read-anything")\npermit (principal, action == Action::"tools/call", resource == Tool::"fs/read");\n' });

const READ = (path: string, principal = 'Agent::"a1"') => ({ principal, action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path } });

describe('writ explain', () => {
  let f: Fixture;
  let allow: Decision;
  let forbid: Decision;
  let noPermit: Decision;
  let gate: Decision;
  let outcomeIndex: number;
  let underV2: Decision;
  let app: FastifyInstance;
  const deps = () => ({ ledger: f.ledger, bundles: f.state, trust: f.trust });

  before(async () => {
    f = await fixture({ policyDir: V1 });
    allow = await f.node.authorize(READ('/srv/report.txt'));
    forbid = await f.node.authorize(READ('/srv/secret.txt'));
    noPermit = await f.node.authorize(READ('/etc/host.key'));
    await revoke(f.ledger, f.state, { kind: 'principal', value: 'Agent::"a2"', reason: 'test', by: 'test' });
    gate = await f.node.authorize(READ('/srv/report.txt', 'Agent::"a2"'));
    const jti = allow.claims?.jti ?? '';
    outcomeIndex = await recordOutcome(f.ledger, { jti, exitCode: 0, signal: null, durationMs: 1, status: 'ok', reason: null, node: f.config.nodeId });
    await f.node.policy.activate(bundleBytes(await f.sign(V2, { version: 2 })));
    underV2 = await f.node.authorize(READ('/etc/passwd'));
    app = Fastify();
    await registerExplainRoutes(app, { ledger: f.ledger, bundles: f.state, active: () => f.node.policy.active });
    await app.ready();
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  it('an allow: request as received and as evaluated, the bundle, the determining permits with their text', async () => {
    assert.equal(allow.decision, 'allow');
    const e = await explain(deps(), allow.decisionId);
    assert.equal(e.lookedUpAs, 'decision_id');
    assert.equal(e.index, allow.ledgerIndex);
    assert.equal(e.request.principal, 'Agent::"a1"');
    assert.deepEqual(e.evaluated?.principal, { type: 'Agent', id: 'a1' });
    assert.deepEqual(e.evaluated?.context.args, { path: '/srv/report.txt' });
    assert.equal((e.evaluated?.context.lineage as { depth: number }).depth, 0, 'the full context Cedar saw, node-set members included');
    assert.equal(e.bundle?.version, 1);
    assert.deepEqual(e.determining.map((p) => p.id).sort(), ['read-no-keys', 'read-srv']);
    const srv = e.determining.find((p) => p.id === 'read-srv');
    assert.equal(srv?.effect, 'permit');
    assert.equal(srv?.file, 'read.cedar');
    assert.match(srv?.text ?? '', /like "\/srv\/\*"/);
    assert.equal(e.permits, null, 'the permit checks are for no_permit');
    assert.equal(e.gate, null);
    assert.equal(e.redecided?.same, true);
  });

  it('a forbid decided under a bundle since replaced: the forbid and its text from the recorded bundle, never the active one', async () => {
    assert.deepEqual(forbid.reasons, ['policy_forbid']);
    const e = await explain(deps(), String(forbid.ledgerIndex));
    assert.equal(e.lookedUpAs, 'index');
    assert.equal(e.bundle?.version, 1);
    assert.equal(f.node.policy.active?.bundle.manifest.version, 2);
    assert.deepEqual(e.determining.map((p) => [p.id, p.effect]), [['no-secrets', 'forbid']]);
    assert.match(e.determining[0]?.text ?? '', /forbid/);
    assert.deepEqual(e.redecided && { d: e.redecided.decision, r: e.redecided.reasons, same: e.redecided.same }, { d: 'deny', r: ['policy_forbid'], same: true });
  });

  it('no_permit: each permit whose scope matched, and the condition that did not hold; a permit out of scope is not listed', async () => {
    assert.deepEqual(noPermit.reasons, ['no_permit']);
    const e = await explain(deps(), noPermit.decisionId);
    const permits = e.permits ?? [];
    assert.deepEqual(permits.map((p) => p.id).sort(), ['read-no-keys', 'read-srv'], 'write-anything does not match the scope');
    const srv = permits.find((p) => p.id === 'read-srv');
    assert.equal(srv?.outcome, 'condition_false');
    assert.equal(srv?.failed?.kind, 'when');
    assert.equal(srv?.failed?.value, 'false');
    assert.match(srv?.failed?.clauseText ?? '', /^when \{/);
    assert.equal(srv?.failed?.part, 'context.args.path like "/srv/*"', 'the && operand that was false, not the has check before it');
    const keys = permits.find((p) => p.id === 'read-no-keys');
    assert.equal(keys?.outcome, 'condition_false');
    assert.equal(keys?.failed?.kind, 'unless');
    assert.equal(keys?.failed?.value, 'true');
    assert.equal(e.redecided?.same, true);
  });

  it('a gate denial: the check that refused, and no evaluation', async () => {
    assert.deepEqual(gate.reasons, ['principal_revoked']);
    const e = await explain(deps(), gate.decisionId);
    assert.deepEqual(e.gate?.reasons, ['principal_revoked']);
    assert.notEqual(e.gate?.message, '');
    assert.equal(e.evaluated, null);
    assert.equal(e.redecided, null);
    assert.equal(e.permits, null);
  });

  it('by jti, and by the index of an outcome: the decision that issued the writ', async () => {
    assert.equal(allow.decision, 'allow');
    const byJti = await explain(deps(), allow.claims?.jti ?? 'no jti');
    assert.equal(byJti.lookedUpAs, 'jti');
    assert.equal(byJti.decisionId, allow.decisionId);
    const byOutcome = await explain(deps(), String(outcomeIndex));
    assert.equal(byOutcome.decisionId, allow.decisionId);
    assert.deepEqual(byOutcome.via, { index: outcomeIndex, type: 'outcome' });
  });

  it('unknown ids, an index past the end, a bundle activation and nonsense are typed errors', async () => {
    const code = async (q: string) => {
      try {
        await explain(deps(), q);
        return 'explained';
      } catch (err) {
        assert.ok(err instanceof ExplainError, String(err));
        return err.code;
      }
    };
    assert.equal(await code('00000000-0000-4000-8000-000000000000'), 'explain_not_found');
    assert.equal(await code(String(f.ledger.size() + 5)), 'explain_not_found');
    assert.equal(await code('0'), 'explain_not_a_decision', 'entry 0 of a fresh home is not a decision');
    assert.equal(await code('rm -rf'), 'explain_query_invalid');
  });

  it('a recorded bundle not in the state: said so, nothing re-decided (the active bundle is not used instead)', async () => {
    const e = await explain({ ledger: f.ledger, bundles: { bundle: () => null }, trust: f.trust, active: () => f.node.policy.active }, forbid.decisionId);
    assert.equal(e.bundleLoaded.ok, false);
    assert.match(e.bundleLoaded.ok ? '' : e.bundleLoaded.why, /not in this home's state/);
    assert.equal(e.redecided, null);
    assert.equal(e.determining[0]?.text, null);
  });

  it('the CLI: text and --json, and exit codes for an unknown id (1) and a query that is no id (2)', () => {
    const text = writ(['explain', noPermit.decisionId, '--home', f.home]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /read-srv \(read\.cedar\): scope matched; condition false: when clause 1 was false/);
    assert.match(text.stdout, /decided by: context\.args\.path like "\/srv\/\*"/);
    assert.match(text.stdout, /bundle: domain default, version 1/);
    const gateText = writ(['explain', gate.decisionId, '--home', f.home]);
    assert.match(gateText.stdout, /refused before evaluation: Cedar did not run \(principal_revoked/);
    const j = writ(['explain', String(forbid.ledgerIndex), '--home', f.home, '--json']);
    assert.equal(j.status, 0, j.stderr);
    const e = json<Explanation>(j);
    assert.equal(e.decisionId, forbid.decisionId);
    assert.deepEqual(Object.keys(e).sort(), ['approval', 'bundle', 'bundleLoaded', 'decisionId', 'determining', 'evaluated', 'gate', 'index', 'inputDigest', 'lookedUpAs', 'node', 'permits', 'query', 'redecided', 'reevaluates', 'request', 'result', 'time', 'via', 'writ']);
    assert.equal(e.determining[0]?.id, 'no-secrets');
    const unknown = writ(['explain', '00000000-0000-4000-8000-000000000000', '--home', f.home]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no decision and no writ 00000000-0000-4000-8000-000000000000/);
    assert.equal(writ(['explain', 'nonsense', '--home', f.home]).status, 2);
  });

  it('GET /console/api/explain: the explanation under the console headers; the active bundle only; 404 and 400', async () => {
    const r = await app.inject({ method: 'GET', url: `/console/api/explain?q=${underV2.decisionId}` });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['content-security-policy'], CONSOLE_CSP);
    const e = r.json<Explanation>();
    assert.deepEqual(e.determining.map((p) => p.id), ['read-anything']);
    assert.equal(e.redecided?.same, true);
    // decided under version 1, no longer active: the route holds no pinned keys to verify it with
    const old = (await app.inject({ method: 'GET', url: `/console/api/explain?q=${forbid.ledgerIndex}` })).json<Explanation>();
    assert.equal(old.bundle?.version, 1);
    assert.equal(old.bundleLoaded.ok, false);
    assert.match(old.bundleLoaded.ok ? '' : old.bundleLoaded.why, /writ explain/);
    assert.equal(old.redecided, null, 'never re-decided under the active bundle');
    const missing = await app.inject({ method: 'GET', url: '/console/api/explain?q=00000000-0000-4000-8000-000000000000' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json<{ error: string }>().error, 'explain_not_found');
    assert.equal((await app.inject({ method: 'GET', url: '/console/api/explain?q=%3Cscript%3E' })).statusCode, 400);
    assert.equal((await app.inject({ method: 'GET', url: '/console/api/explain' })).statusCode, 400);
  });
});

describe('explain: per-policy evaluation', () => {
  const source = loadPolicySource(
    new Map([
      [
        'p.cedar',
        new TextEncoder().encode(
          [
            '@id("senior")',
            'permit (principal, action == Action::"deploy", resource) when { principal.level > 2 };',
            '@id("weekday-or-oncall")',
            'permit (principal, action == Action::"deploy", resource) unless { context.weekend || context.frozen };',
            '@id("other-action")',
            'permit (principal, action == Action::"read", resource);',
            '',
          ].join('\n'),
        ),
      ],
    ]),
  );
  const input = {
    principal: { type: 'User', id: 'u' },
    action: { type: 'Action', id: 'deploy' },
    resource: { type: 'App', id: 'web' },
    context: { weekend: false, frozen: true },
  };

  it('an erroring condition is reported with Cedar’s error; an unless names its true part; an out-of-scope permit is left out', () => {
    const checks = permitChecks(source, input);
    assert.deepEqual(checks.map((c) => c.id), ['senior', 'weekday-or-oncall']);
    const senior = checks[0];
    assert.equal(senior?.outcome, 'error');
    assert.equal(senior?.failed?.value, 'error');
    assert.match(senior?.errors.join(' ') ?? '', /User::"u"/, 'the principal is not an entity of the bundle: reading its attribute errors');
    const unless = checks[1];
    assert.equal(unless?.outcome, 'condition_false');
    assert.equal(unless?.failed?.kind, 'unless');
    assert.equal(unless?.failed?.value, 'true');
    assert.equal(unless?.failed?.part, 'context.frozen', 'the || operand that was true, not the one before it');
  });

  it('a permit that holds for the input says so (the recorded no_permit would not replay)', () => {
    const checks = permitChecks(source, { ...input, context: { weekend: false, frozen: false } });
    assert.equal(checks.find((c) => c.id === 'weekday-or-oncall')?.outcome, 'applies');
  });
});

/**
 * Continuous governance of MCP tool calls through `writ mcp` (issue 13, point 6): a long
 * call of @modelcontextprotocol/server-everything is re-decided when a new bundle is
 * activated on the home (`writ policy sign` + `writ policy activate`, another process): a
 * bundle that forbids the tool ends it (the client gets an error naming the deny's code,
 * the upstream gets `notifications/cancelled`, the ledger holds the re-decision and the
 * terminated outcome naming the policy that ended it); one that still allows leaves it
 * running to its normal result; `@maxRunSeconds` on the permit ends a long call;
 * `writ audit replay` agrees with every re-decision.
 *
 * The upstream runs behind a tee (a few lines written below) that logs every message the
 * proxy sends it: that log is the witness that the upstream was told to cancel.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture, policyFolder, tempDir, type Fixture } from './helpers.ts';
import { connectStdio, decode, EVERYTHING, mcpError, ok, proxyCommand, SESSION_PERMIT, tool, writAsync, WRIT_DENIED, type Connected } from './mcp-helpers.ts';
import { waitFor } from './wait.ts';

const LONG = 'trigger-long-running-operation';
const permit = (annotation = '') => `${SESSION_PERMIT}
${annotation}
@id("agents-use-tools")
permit (principal is Agent, action == Action::"tools/call", resource)
when { [${tool('echo')}, ${tool(LONG)}].contains(resource) };
`;
const FORBID = `${permit()}
@id("no-long-operations")
forbid (principal, action == Action::"tools/call", resource == ${tool(LONG)});
`;

/** Passes stdin to the real server and appends it to a log (argv: log file, server args…). */
const TEE = `import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
const [log, ...server] = process.argv.slice(2);
const child = spawn(process.execPath, server, { stdio: ['pipe', 'inherit', 'inherit'] });
process.stdin.on('data', (d) => { appendFileSync(log, d); child.stdin.write(d); });
process.stdin.on('end', () => child.kill());
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => { child.kill(); process.exit(0); });
child.on('exit', (code) => process.exit(code ?? 0));
`;

interface Leaf {
  type: string;
  id?: string;
  reevaluates?: string;
  request?: { resource: string; parent: string | null };
  result?: { decision: string; reasons: string[] };
  policy?: { version: number } | null;
  writ?: { jti: string; cons?: { maxRunSeconds?: number } } | null;
  jti?: string;
  status?: string;
  reason?: string | null;
  isError?: boolean;
  endedBy?: { decisionId: string | null; policy: { version: number } | null };
}

interface Sent {
  id?: string | number;
  method?: string;
  params?: { name?: string; requestId?: string | number; reason?: string };
}

describe('writ mcp: continuous governance of a running tool call', { timeout: 120_000 }, () => {
  let f: Fixture;
  let dir: string;
  let tee: string;
  let version = 1; // the fixture's bundle
  const sessions: Connected[] = [];
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'policy.cedar': permit() }) });
    dir = tempDir('writ-mcp-cont-');
    tee = join(dir, 'tee.mjs');
    writeFileSync(tee, TEE);
  });
  after(async () => {
    await Promise.allSettled(sessions.map((s) => s.close()));
    f?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A session through `writ mcp`, its upstream behind the tee logging to `log`. */
  const connect = async (principal: string, log: string) => {
    const c = await connectStdio(proxyCommand(f.home, principal, [tee, log, EVERYTHING, 'stdio']));
    sessions.push(c);
    return c;
  };
  /** Signs `policy` as the next version and activates it, both through the CLI on the same home. */
  const activate = async (policy: string): Promise<number> => {
    const v = ++version;
    const bundle = join(dir, `bundle-${v}.json`);
    ok(await writAsync(['policy', 'sign', policyFolder({ 'policy.cedar': policy }), '--home', f.home, '--out', bundle, '--version', String(v)]), 'policy sign');
    ok(await writAsync(['policy', 'activate', bundle, '--home', f.home]), 'policy activate');
    return v;
  };
  const leaves = (): Leaf[] => f.ledger.entries(0, 100_000).map((e) => decode<Leaf>(e));
  /** the writ of the allowed call of the long tool made since ledger index `from` */
  const longCall = (from: number) =>
    waitFor('the long call allowed', () => f.ledger.entries(from, 100_000).map((e) => decode<Leaf>(e)).find((l) => l.type === 'decision' && l.result?.decision === 'allow' && l.request?.resource === tool(LONG) && !l.reevaluates)?.writ ?? undefined);
  const outcome = (jti: string) => waitFor(`the outcome of ${jti}`, () => leaves().find((l) => l.type === 'outcome' && l.jti === jti));
  const sent = (log: string): Sent[] =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Sent)
      : [];
  const callLong = (c: Connected, duration: number, steps: number, onProgress: () => void) =>
    c.client.callTool({ name: LONG, arguments: { duration, steps } }, undefined, { onprogress: onProgress, timeout: 60_000 });

  it('a new bundle that still allows leaves the call running to its normal result (recorded as an allow re-decision)', async () => {
    const log = join(dir, 'allow.log');
    const c = await connect('Agent::"a1"', log);
    const from = f.ledger.size();
    let progressed = 0;
    const result = callLong(c, 10, 20, () => void progressed++);
    let done = false;
    result.finally(() => (done = true)).catch(() => undefined);
    await waitFor('the long call to be running (a progress notification)', () => progressed > 0);
    const { jti } = await longCall(from);
    const allowing = await activate(`// the same, reworded\n${permit()}`);
    const redecided = await waitFor('the allow re-decision', () => leaves().find((l) => l.type === 'decision' && l.reevaluates === jti && l.policy?.version === allowing));
    assert.equal(done, false, 'the call was still running when it was re-decided (else nothing was tested)');
    assert.equal(redecided.result?.decision, 'allow');
    assert.equal(redecided.request?.parent, jti, 'linked to the running writ');
    assert.equal(redecided.writ, null, 'a re-decision issues no writ');
    const r = await result;
    assert.deepEqual(r.content, [{ type: 'text', text: 'Long running operation completed. Duration: 10 seconds, Steps: 20.' }]);
    assert.notEqual(r.isError, true);
    const o = await outcome(jti);
    assert.equal(o.status, 'ok');
    assert.equal(o.endedBy, undefined);
    assert.ok(!sent(log).some((m) => m.method === 'notifications/cancelled'), 'the upstream was never told to cancel');
  });

  it('a new bundle that forbids the tool terminates the running call: error to the client, cancelled upstream, re-decision and outcome in the ledger', async () => {
    const log = join(dir, 'deny.log');
    const c = await connect('Agent::"a2"', log);
    const from = f.ledger.size();
    let progressed = 0;
    const started = Date.now();
    const running = mcpError(callLong(c, 30, 60, () => void progressed++));
    await waitFor('the long call to be running (a progress notification)', () => progressed > 0);
    const { jti } = await longCall(from);
    const denying = await activate(FORBID);
    const e = await running;
    assert.ok(Date.now() - started < 25_000, 'ended long before the operation would have completed');
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['policy_forbid']);
    assert.equal(e.data.jti, jti);

    const deny = await waitFor('the deny re-decision', () => leaves().find((l) => l.type === 'decision' && l.reevaluates === jti && l.result?.decision === 'deny'));
    assert.equal(deny.policy?.version, denying, 'decided under the new bundle');
    assert.equal(deny.request?.parent, jti);
    assert.deepEqual(deny.result?.reasons, e.data.reasons, 'the client is told the code the ledger holds');
    const o = await outcome(jti);
    assert.equal(o.status, 'terminated');
    assert.equal(o.reason, 'policy_forbid');
    assert.equal(o.endedBy?.policy?.version, denying);
    assert.equal(o.endedBy?.decisionId, deny.id, 'the outcome names the re-decision that ended it');
    assert.equal(leaves().filter((l) => l.type === 'outcome' && l.jti === jti).length, 1, 'one outcome');

    // the upstream was told to cancel that very request
    const call = sent(log).find((m) => m.method === 'tools/call' && m.params?.name === LONG);
    assert.ok(call?.id !== undefined, 'the call reached the upstream');
    const cancel = await waitFor('notifications/cancelled sent upstream', () => sent(log).find((m) => m.method === 'notifications/cancelled'));
    assert.equal(cancel.params?.requestId, call.id);
    // and the session goes on: the next call of the forbidden tool is denied, echo is not
    const next = await mcpError(callLong(c, 1, 1, () => undefined));
    assert.deepEqual(next.data.reasons, ['policy_forbid']);
    assert.deepEqual((await c.client.callTool({ name: 'echo', arguments: { message: 'still here' } })).content, [{ type: 'text', text: 'Echo: still here' }]);
  });

  it('@maxRunSeconds("1") on the permit ends a long call with max_run_exceeded', async () => {
    await activate(permit('@maxRunSeconds("1")'));
    const c = await connect('Agent::"a3"', join(dir, 'max.log'));
    const from = f.ledger.size();
    let progressed = 0;
    const started = Date.now();
    const running = mcpError(callLong(c, 30, 60, () => void progressed++));
    const e = await running;
    const ranMs = Date.now() - started;
    assert.equal(e.code, WRIT_DENIED);
    assert.deepEqual(e.data.reasons, ['max_run_exceeded']);
    assert.ok(ranMs >= 1000, `ended after ${ranMs} ms: not before its second`);
    assert.ok(ranMs < 10_000, `ended after ${ranMs} ms, not after the operation`);
    assert.ok(progressed > 0, 'it ran (progress arrived) before it was ended');
    const writ = await longCall(from);
    assert.equal(writ.jti, e.data.jti);
    assert.equal(writ.cons?.maxRunSeconds, 1, 'the writ carries cons.maxRunSeconds');
    const o = await outcome(writ.jti);
    assert.equal(o.status, 'terminated');
    assert.equal(o.reason, 'max_run_exceeded');
  });

  it('writ audit replay agrees with every re-decision', async () => {
    const redecisions = leaves().filter((l) => l.type === 'decision' && l.reevaluates !== undefined);
    assert.ok(redecisions.some((l) => l.result?.decision === 'allow'), 'an allow re-decision to replay');
    assert.ok(redecisions.some((l) => l.result?.decision === 'deny'), 'a deny re-decision to replay');
    const r = await writAsync(['audit', 'replay', '--home', f.home, '--json']);
    const report = JSON.parse(r.stdout) as { decisions: number; replayed: number; differences: unknown[] };
    assert.deepEqual(report.differences, []);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(report.decisions, leaves().filter((l) => l.type === 'decision').length, 'every decision, the re-decisions among them, was looked at');
  });
});

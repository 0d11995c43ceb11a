/**
 * Issue 9.3: hostile input must not grow what the server keeps. Requests naming uids the
 * bundle does not know, or carrying entity-shaped arguments, leave the engine's caches at
 * a bound set by the bundle; spent jtis and old outcome tokens and approvals are deleted;
 * a client that sends its request slowly is cut off; an MCP session tracks a bounded
 * number of requests. (The long-running check is `npm run soak`, docs/bounds.md.)
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { McpGovernor, MAX_INFLIGHT } from '../../src/enforce/mcp/governor.ts';
import { APPROVAL_RETAIN_MS, JTI_RETAIN_SECONDS, OUTCOME_TOKEN_RETAIN_SECONDS, SqliteNodeState } from '../../src/node/sqlite-state.ts';
import { MAX_PREPARED_SLICES, PolicyEngine } from '../../src/policy/engine.ts';
import { readPolicyFolder } from '../../src/policy/sign.ts';
import { MAX_HEADERS_MS, MAX_REQUEST_MS, TIMEOUT_CHECK_INTERVAL_MS } from '../../src/server/http-limits.ts';
import { WritVerificationError } from '../../src/writ/verify.ts';
import { DEMO_POLICY, fixture, type Fixture } from '../helpers.ts';
import { files, uid } from '../policy-engine-fixture.ts';
import { makeApp } from '../server-fixture.ts';

const TOOLS_CALL = uid('Action', 'tools/call');

/** arguments with many entity-shaped members, each naming a uid never seen before */
function hostileArgs(i: number, n = 20): Record<string, CedarValueJson> {
  const args: Record<string, CedarValueJson> = { path: '/srv/data.csv' };
  for (let j = 0; j < n; j++) args[`e${j}`] = { type: 'Agent', id: `ghost-${i}-${j}` };
  return args;
}

describe('engine caches are bounded by the bundle', () => {
  const engine = PolicyEngine.fromFiles(readPolicyFolder(DEMO_POLICY));
  const bundleEntities = engine.cacheSizes().entities;

  it('thousands of decisions on unknown principals, resources and entity-shaped args leave the caches at a bound', () => {
    for (let i = 0; i < 3000; i++) {
      const e = engine.evaluate({
        principal: uid('Agent', `stranger-${i}`),
        action: TOOLS_CALL,
        resource: uid('Tool', `unknown-${i}`),
        context: { args: hostileArgs(i), extra: { __entity: { type: 'Team', id: `t-${i}` } } },
      });
      assert.equal(e.decision, 'deny'); // an unknown tool is in no group
    }
    const sizes = engine.cacheSizes();
    assert.ok(sizes.reach <= bundleEntities, `reach cache ${sizes.reach} > ${bundleEntities} bundle entities`);
    assert.ok(sizes.closure <= bundleEntities, `closure cache ${sizes.closure} > ${bundleEntities} bundle entities`);
    assert.ok(sizes.slices <= MAX_PREPARED_SLICES);
  });

  it('a uid not in the bundle still evaluates correctly, every time', () => {
    for (let round = 0; round < 3; round++) {
      // not an entity, but `principal is Agent` holds for any Agent: allowed
      const ghost = engine.evaluate({ principal: uid('Agent', 'ghost'), action: TOOLS_CALL, resource: uid('Tool', 'fs/read'), context: { args: { path: '/srv/a' } } });
      assert.deepEqual([ghost.decision, ghost.policies], ['allow', ['agents-read-srv']]);
      // an unknown tool is not in ToolGroup::"read-only": no permit
      const other = engine.evaluate({ principal: uid('Agent', 'ghost'), action: TOOLS_CALL, resource: uid('Tool', 'fs/ghost'), context: { args: { path: '/srv/a' } } });
      assert.deepEqual([other.decision, other.reasons], ['deny', ['no_permit']]);
      // exec: a1 is in Team::"ops" by the bundle, a stranger is not
      const safe = uid('Binary', '/usr/bin/true');
      const ctx = { args: {}, lineage: { depth: 0 } };
      assert.equal(engine.evaluate({ principal: uid('Agent', 'a1'), action: uid('Action', 'exec'), resource: safe, context: ctx }).decision, 'allow');
      assert.equal(engine.evaluate({ principal: uid('Agent', 'nobody'), action: uid('Action', 'exec'), resource: safe, context: ctx }).decision, 'deny');
    }
  });

  it('entities reached through the context are read from the bundle, unknown ones are not invented', () => {
    const e = PolicyEngine.fromFiles(
      files({
        'policy.cedar': '@id("owner-in-ops")\npermit (principal, action, resource) when { context.owner in Team::"ops" };',
        'entities.json': JSON.stringify([
          { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [{ type: 'Team', id: 'ops' }] },
          { uid: { type: 'Team', id: 'ops' }, attrs: {}, parents: [] },
        ]),
      }),
    );
    const ask = (owner: string) =>
      e.evaluate({ principal: uid('User', 'x'), action: uid('Action', 'read'), resource: uid('Doc', 'd'), context: { owner: { __entity: { type: 'User', id: owner } } } }).decision;
    for (let i = 0; i < 500; i++) {
      assert.equal(ask('alice'), 'allow');
      assert.equal(ask(`mallory-${i}`), 'deny');
    }
    assert.ok(e.cacheSizes().reach <= 2);
  });
});

describe('the decision path keeps no per-request entries', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.cleanup());

  it('authorize with unique uids and large args leaves the active engine caches at the bundle bound', async () => {
    for (let i = 0; i < 300; i++) {
      await f.node.authorize({ principal: `Agent::"u-${i}"`, action: 'Action::"tools/call"', resource: `Tool::"t-${i}"`, args: hostileArgs(i, 100) });
    }
    const engine = f.node.policy.active?.engine;
    assert.ok(engine);
    const sizes = engine.cacheSizes();
    assert.ok(sizes.reach <= sizes.entities && sizes.closure <= sizes.entities, JSON.stringify(sizes));
  });
});

describe('expired single-use state is pruned', () => {
  const count = (db: DatabaseSync, table: string) => Number((db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);

  it('consumed jtis past exp plus the retention margin are deleted; live ones stay and still refuse replays', () => {
    let now = Date.UTC(2030, 0, 1);
    const db = new DatabaseSync(':memory:');
    const state = new SqliteNodeState(db, { now: () => now });
    const t = Math.floor(now / 1000);
    for (let i = 0; i < 1000; i++) assert.equal(state.consumeJti(`old-${i}`, t + 60), true);
    assert.equal(state.consumeJti('live', t + 600), true);
    now += (60 + JTI_RETAIN_SECONDS - 1) * 1000;
    assert.equal(state.pruneExpired().jti, 0, 'kept until exp + retention');
    now += 2000;
    assert.equal(state.pruneExpired().jti, 1000);
    assert.equal(count(db, 'consumed_jti'), 1);
    assert.equal(state.consumeJti('live', t + 600), false, 'a live jti is still spent');
    assert.equal(state.isJtiConsumed('live'), true);
  });

  it('pruning happens on its own as writs are consumed (no caller has to ask)', () => {
    let now = Date.UTC(2030, 0, 1);
    const db = new DatabaseSync(':memory:');
    const state = new SqliteNodeState(db, { now: () => now });
    for (let round = 0; round < 20; round++) {
      const t = Math.floor(now / 1000);
      for (let i = 0; i < 200; i++) state.consumeJti(`r${round}-${i}`, t + 60);
      now += 60_000;
    }
    // 20 minutes of writs living 60 s: only those within exp + retention remain
    const window = Math.ceil((60 + JTI_RETAIN_SECONDS) / 60) + 1;
    assert.ok(count(db, 'consumed_jti') <= window * 200, `${count(db, 'consumed_jti')} rows left`);
  });

  it('outcome tokens outlive their writ (executions do) but not the report window; old approvals go', () => {
    let now = Date.UTC(2030, 0, 1);
    const db = new DatabaseSync(':memory:');
    const state = new SqliteNodeState(db, { now: () => now });
    const t = Math.floor(now / 1000);
    const token = state.issueOutcomeToken('j1', t + 60);
    state.createApproval({ id: 'ap1', intent: 'i', principal: 'Agent::"a"', action: 'Action::"x"', resource: 'Tool::"t"', policyDigest: 'sha256:x', expires: new Date(now + 60_000).toISOString() });
    now += 3600_000; // an hour after the writ expired: the execution may still report
    state.pruneExpired();
    assert.equal(state.outcomeTokenMatches('j1', token), true);
    assert.ok(state.approval('ap1'));
    now += OUTCOME_TOKEN_RETAIN_SECONDS * 1000 + APPROVAL_RETAIN_MS;
    const r = state.pruneExpired();
    assert.deepEqual([r.outcomeTokens, r.approvals], [1, 1]);
    assert.equal(state.outcomeTokenMatches('j1', token), false);
    assert.equal(state.approval('ap1'), null); // unknown: an approval that cannot be used
  });

  it('a writ whose jti was pruned is still refused: its time window has closed', async () => {
    let now = new Date();
    const f = await fixture({ now: () => now });
    try {
      const d = await f.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/a' } });
      assert.ok(d.writ && d.claims);
      const verify = () => f.node.verify(d.writ as string, { audience: 'Tool::"fs/read"', args: { path: '/srv/a' }, consume: true });
      await verify();
      await assert.rejects(verify, (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_replayed');
      now = new Date((d.claims.exp + JTI_RETAIN_SECONDS + 1) * 1000);
      assert.equal(new SqliteNodeState(f.db, { now: () => now.getTime() }).pruneExpired().jti, 1);
      assert.equal(f.state.isJtiConsumed(d.claims.jti), false);
      await assert.rejects(verify, (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_expired');
    } finally {
      f.cleanup();
    }
  });
});

describe('slow clients are cut off', () => {
  let f: Fixture;
  let port: number;
  let close: () => Promise<void>;
  before(async () => {
    f = await fixture();
    const app = await makeApp(f);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
    close = () => app.close();
  });
  after(async () => {
    await close();
    f.cleanup();
  });

  /** Opens a socket, sends `head`, then one byte of `trickle` every 250 ms; resolves with how long until the server closed it. */
  function hold(head: string, trickle: string, limitMs: number): Promise<{ ms: number; reply: string }> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const s = connect(port, '127.0.0.1');
      let reply = '';
      let i = 0;
      const drip = setInterval(() => {
        if (!s.destroyed && i < trickle.length) s.write(trickle[i++] as string);
      }, 250);
      const give_up = setTimeout(() => {
        clearInterval(drip);
        s.destroy();
        reject(new Error(`the server still held the connection after ${limitMs} ms`));
      }, limitMs);
      s.on('data', (b: Buffer) => (reply += b.toString()));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(drip);
        clearTimeout(give_up);
        resolve({ ms: performance.now() - started, reply });
      });
      s.write(head);
    });
  }

  it('a body trickled byte by byte, and headers never finished, are cut off within the configured timeouts', async () => {
    const slack = TIMEOUT_CHECK_INTERVAL_MS + 2000;
    const body = JSON.stringify({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: `/srv/${'x'.repeat(200)}` } });
    const [slowBody, slowHeaders] = await Promise.all([
      hold(`POST /v1/authorize HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, body, MAX_REQUEST_MS + slack),
      hold('GET /healthz HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: ' + 'y'.repeat(200), MAX_HEADERS_MS + slack),
    ]);
    assert.ok(slowBody.ms >= MAX_REQUEST_MS - 1000, `cut off early (${slowBody.ms} ms)`);
    assert.match(slowBody.reply, /^HTTP\/1\.1 408/);
    assert.ok(slowHeaders.ms <= MAX_HEADERS_MS + slack);
  });
});

describe('an MCP session tracks a bounded number of requests', () => {
  it(`beyond ${MAX_INFLIGHT} unanswered requests, more are refused rather than tracked`, async () => {
    const f = await fixture();
    try {
      const g = new McpGovernor({ node: f.node, ledger: f.ledger, state: f.state, principal: 'Agent::"a1"', session: 's-bounded' });
      for (let i = 0; i < MAX_INFLIGHT; i++) assert.ok('forward' in (await g.fromClient({ jsonrpc: '2.0', id: i, method: 'ping' } as JSONRPCMessage)));
      const over = await g.fromClient({ jsonrpc: '2.0', id: 'one-more', method: 'ping' } as JSONRPCMessage);
      assert.ok('reply' in over);
      assert.equal(g.inflightCount, MAX_INFLIGHT);
      // answered requests free their place
      await g.fromUpstream({ jsonrpc: '2.0', id: 0, result: {} } as JSONRPCMessage);
      assert.ok('forward' in (await g.fromClient({ jsonrpc: '2.0', id: 'next', method: 'ping' } as JSONRPCMessage)));
    } finally {
      f.cleanup();
    }
  });
});

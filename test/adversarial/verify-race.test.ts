/**
 * Adversarial: spending one writ more than once, and reporting for a writ one did not use.
 *   - 64 concurrent `POST /v1/verify` (consume: true) of one writ against one embedded node: exactly one valid;
 *   - the same race split across two `writ up` processes sharing one home: exactly one valid;
 *   - restart: consume, SIGKILL the server, restart it on the same home, consume again → writ_replayed;
 *     and SIGKILL in the middle of a race: at most one valid before and after the restart together;
 *   - outcome token: an agent holding the writ cannot record an outcome without the outcomeToken
 *     the enforcement point got (made-up, empty, another writ's token, before use) → 403
 *     outcome_token_invalid and nothing in the ledger; nor by consuming the writ itself first (an agent's
 *     caller token has the authorize role only: 403 caller_not_permitted, recorded).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { CallerStore } from '../../src/node/callers.ts';
import { fixture, startUp, type Fixture, type UpProcess } from '../helpers.ts';
import { AUD, auth, makeApp, READ } from '../server-fixture.ts';

interface VerifyOut {
  valid?: boolean;
  reason?: string;
  message?: string;
  outcomeToken?: string;
  claims?: { jti: string };
}

// the Authorization header each server is called with (an enforcement point's token of both roles), by base URL
const callerOf = new Map<string, string>();

async function post<T>(base: string, path: string, body: unknown, authorization = callerOf.get(base)): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization !== undefined && { authorization }) }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

const consume = (base: string, writ: string, args: object) => post<VerifyOut>(base, '/v1/verify', { writ, audience: AUD, args, consume: true });

async function issue(base: string, args: object): Promise<{ writ: string; jti: string }> {
  const r = await post<{ decision: string; writ?: string; claims?: { jti: string }; message?: string }>(base, '/v1/authorize', { ...READ, args });
  assert.equal(r.body.decision, 'allow', r.body.message);
  assert.ok(r.body.writ && r.body.claims);
  return { writ: r.body.writ, jti: r.body.claims.jti };
}

/** exactly one response is valid (with an outcome token), every other is writ_replayed */
function exactlyOne(results: { status: number; body: VerifyOut }[], what: string): void {
  const valid = results.filter((r) => r.status === 200 && r.body.valid === true);
  assert.equal(valid.length, 1, `${what}: ${valid.length} of ${results.length} verifications were valid`);
  assert.ok(valid[0]?.body.outcomeToken, 'the one that consumed it got an outcome token');
  for (const r of results.filter((x) => x !== valid[0])) {
    assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.reason, 'writ_replayed', `${what}: ${r.body.message}`);
    assert.equal(r.body.outcomeToken, undefined);
  }
}

type Up = UpProcess;
const up = (home: string) => startUp(home);

async function kill9(u: Up): Promise<void> {
  if (u.child.exitCode === null && u.child.signalCode === null) u.child.kill('SIGKILL');
  await u.exited;
}

describe('adversarial: one writ, many concurrent verifications, one embedded node', () => {
  let f: Fixture;
  let app: FastifyInstance;
  let base: string;
  before(async () => {
    f = await fixture();
    app = await makeApp(f);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    callerOf.set(base, auth(app).authorization);
  });
  after(async () => {
    await app.close();
    f.cleanup();
  });

  it('64 parallel consume:true of one writ: exactly one valid, 63 writ_replayed, in each of 3 rounds', async () => {
    for (let round = 0; round < 3; round++) {
      const args = { path: `/srv/race-${round}.txt` };
      const w = await issue(base, args);
      assert.equal(f.state.isJtiConsumed(w.jti), false);
      const results = await Promise.all(Array.from({ length: 64 }, () => consume(base, w.writ, args)));
      exactlyOne(results, `round ${round}`);
      assert.equal(f.state.isJtiConsumed(w.jti), true);
    }
  });

  it('an agent holding the writ cannot record an outcome without the outcomeToken: 403 outcome_token_invalid, nothing recorded', async () => {
    const args = { path: '/srv/outcome.txt' };
    const w = await issue(base, args);
    const other = await issue(base, { path: '/srv/other.txt' });
    const report = (writ: string, outcomeToken: string) => post<{ error?: string }>(base, '/v1/outcome', { writ, outcomeToken, status: 'ok', exitCode: 0, durationMs: 3, resultDigest: 'forged-by-the-agent' });
    const size = f.ledger.size();
    // before anyone used it: a made-up token, one of the right shape (an empty one is not even a request)
    for (const t of ['made-up', 'A'.repeat(32)]) {
      const r = await report(w.writ, t);
      assert.equal(r.status, 403, `token ${JSON.stringify(t)}`);
      assert.equal(r.body.error, 'outcome_token_invalid');
    }
    const empty = await report(w.writ, '');
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error, 'invalid_request');
    const none = await post<{ error?: string }>(base, '/v1/outcome', { writ: w.writ, status: 'ok', durationMs: 1 });
    // without a token at all: only an executor whose caller --audiences cover the writ may (this caller has none)
    assert.equal(none.status, 403, 'without a token at all');
    assert.equal(none.body.error, 'outcome_token_required');
    // the enforcement point uses it, and another writ is used elsewhere
    const used = await consume(base, w.writ, args);
    assert.equal(used.status, 200);
    const token = used.body.outcomeToken as string;
    const otherUsed = await consume(base, other.writ, { path: '/srv/other.txt' });
    const otherToken = otherUsed.body.outcomeToken as string;
    assert.ok(token && otherToken && token !== otherToken);
    // the agent: wrong tokens after use, another writ's token, this token with another writ, a token with one character changed
    const flipped = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const [writ, t, what] of [
      [w.writ, 'made-up', 'made-up'],
      [w.writ, otherToken, "another writ's token"],
      [other.writ, token, 'this token for another writ'],
      [w.writ, flipped, 'one character changed'],
      [w.writ, ` ${token}`, 'padded'],
    ] as const) {
      const r = await report(writ, t);
      assert.equal(r.status, 403, what);
      assert.equal(r.body.error, 'outcome_token_invalid', what);
    }
    // nor does asking for a token again help: the writ is spent
    const again = await consume(base, w.writ, args);
    assert.equal(again.body.reason, 'writ_replayed');
    assert.equal(again.body.outcomeToken, undefined);
    assert.equal(f.ledger.size(), size, 'nothing recorded');
    assert.equal(f.ledger.findByJti(w.jti, 'outcome').length, 0);
    assert.equal(f.ledger.findByJti(other.jti, 'outcome').length, 0);
    // the enforcement point's own token works (so the refusals above are not a broken endpoint), once
    const real = await report(w.writ, token);
    assert.equal(real.status, 201, JSON.stringify(real.body));
    assert.equal((await report(w.writ, token)).status, 409);
    assert.equal(f.ledger.findByJti(w.jti, 'outcome').length, 1);
  });

  it('an agent cannot consume its own writ to get an outcome token, nor report an outcome: its token has the authorize role only (403 caller_not_permitted, recorded)', async () => {
    const args = { path: '/srv/preempt.txt' };
    const w = await issue(base, args);
    const agent = `Bearer ${new CallerStore(f.db).add('agent-a1', { roles: ['authorize'], principals: [READ.principal] }).token}`;
    const size = f.ledger.size();
    // the agent, not the enforcement point, tries to spend the writ and report a made-up outcome
    const spent = await post<VerifyOut>(base, '/v1/verify', { writ: w.writ, audience: AUD, args, consume: true }, agent);
    assert.equal(spent.status, 403, JSON.stringify(spent.body));
    assert.equal(spent.body.reason, 'caller_not_permitted');
    assert.equal(spent.body.outcomeToken, undefined);
    const r = await post<{ error?: string }>(base, '/v1/outcome', { writ: w.writ, outcomeToken: 'A'.repeat(43), status: 'ok', exitCode: 0, durationMs: 1, resultDigest: 'fabricated' }, agent);
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'caller_not_permitted');
    assert.equal(f.ledger.findByJti(w.jti, 'outcome').length, 0, 'no fabricated outcome');
    assert.equal(f.state.isJtiConsumed(w.jti), false, 'the refused verification did not spend the writ');
    assert.equal(f.ledger.size(), size + 2, 'both refusals are recorded');
    // the enforcement point uses the writ once, as intended
    assert.equal((await consume(base, w.writ, args)).body.valid, true);
  });
});

describe('adversarial: one writ raced across two `writ up` processes on one home, and across a kill -9', () => {
  let home: string;
  const running: Up[] = [];
  /** the server the next test starts from (each test leaves one running, to save a start) */
  let current: Up;
  let authorization: string;
  const start = async () => {
    const u = await up(home);
    running.push(u);
    callerOf.set(u.url, authorization);
    return u;
  };
  before(async () => {
    const f = await fixture();
    home = f.home;
    authorization = `Bearer ${new CallerStore(f.db).add('race-ep', { roles: ['authorize', 'verify'], principals: ['*'] }).token}`;
    f.close();
  });
  after(async () => {
    await Promise.all(running.map(kill9));
    rmSync(home, { recursive: true, force: true });
  });

  it('64 parallel consume:true split across two processes sharing the home: exactly one valid', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    for (let round = 0; round < 2; round++) {
      const args = { path: `/srv/two-${round}.txt` };
      // issued by one process, raced at both
      const w = await issue(round === 0 ? a.url : b.url, args);
      const results = await Promise.all(Array.from({ length: 64 }, (_, i) => consume(i % 2 === 0 ? a.url : b.url, w.writ, args)));
      exactlyOne(results, `round ${round}`);
    }
    await kill9(a);
    current = b;
  });

  it('consumed, kill -9, restarted on the same home: the writ is writ_replayed; a writ issued but unused still verifies once', async () => {
    const first = current;
    const spent = { path: '/srv/restart-spent.txt' };
    const unused = { path: '/srv/restart-unused.txt' };
    const s = await issue(first.url, spent);
    const u = await issue(first.url, unused);
    assert.equal((await consume(first.url, s.writ, spent)).body.valid, true);
    await kill9(first);
    const second = await start();
    const replay = await consume(second.url, s.writ, spent);
    assert.equal(replay.status, 403, JSON.stringify(replay.body));
    assert.equal(replay.body.reason, 'writ_replayed');
    const inspect = await post<VerifyOut>(second.url, '/v1/verify', { writ: s.writ, audience: AUD, args: spent, consume: false });
    assert.equal(inspect.body.reason, 'writ_replayed', 'a look without consuming reports it spent too');
    // the restart did not spend the other writ, and it is usable exactly once
    assert.equal((await consume(second.url, u.writ, unused)).body.valid, true);
    assert.equal((await consume(second.url, u.writ, unused)).body.reason, 'writ_replayed');
    current = second;
  });

  it('kill -9 in the middle of a race: at most one valid verification before and after the restart together', async () => {
    for (let round = 0; round < 2; round++) {
      const server = current;
      const args = { path: `/srv/killed-${round}.txt` };
      const w = await issue(server.url, args);
      const outcomes: ({ status: number; body: VerifyOut } | 'lost')[] = [];
      let sawValid: () => void = () => undefined;
      const validSeen = new Promise<void>((r) => (sawValid = r));
      const race = Array.from({ length: 64 }, () =>
        consume(server.url, w.writ, args).then(
          (r) => {
            outcomes.push(r);
            if (r.body.valid === true) sawValid();
          },
          () => void outcomes.push('lost'), // the server died under the request
        ),
      );
      // kill it as soon as the valid answer is out (or at once, on the odd round)
      if (round === 0) await validSeen;
      await kill9(server);
      await Promise.all(race);
      const restarted = await start();
      const later = await Promise.all(Array.from({ length: 8 }, () => consume(restarted.url, w.writ, args)));
      const answered = [...outcomes.filter((o) => o !== 'lost'), ...later];
      const valid = answered.filter((r) => r.status === 200 && r.body.valid === true);
      assert.ok(valid.length <= 1, `round ${round}: ${valid.length} valid verifications of one writ across a kill -9`);
      for (const r of answered.filter((x) => !valid.includes(x))) assert.equal(r.body.reason, 'writ_replayed', JSON.stringify(r.body));
      if (round === 0) assert.equal(valid.length, 1, 'the valid answer was out before the kill, and no other');
      current = restarted;
    }
  });
});

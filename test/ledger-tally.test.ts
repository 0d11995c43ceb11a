/**
 * The health page's ledger counts (src/telemetry/ledger-tally.ts): every decision leaf of the
 * home, whichever process made it — here decisions made by the node in process and by the
 * CLI (`writ authorize`, another process) on the same home — counted once each, read
 * incrementally within a bound per call, with per-second counts only for the recent window.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LedgerTally } from '../src/telemetry/ledger-tally.ts';
import { A1, CALL, READ, WRITE, writ } from './cli-fixture.ts';
import { fixture, type Fixture } from './helpers.ts';

describe('ledger tally', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f?.cleanup());

  const authorizeByCli = (resource: string, path: string) =>
    writ(['authorize', '--home', f.home, '--principal', A1, '--action', CALL, '--resource', resource, '--args', JSON.stringify({ path }), '--json']);

  it('counts decisions of every process once, with deny reasons, and only what is new on each call', async () => {
    const tally = new LedgerTally(f.ledger);
    const empty = tally.snapshot(60);
    assert.deepEqual(empty.totals, { allow: 0, deny: 0, denyReasons: {} }, 'a bundle activation is no decision');
    await f.node.authorize({ principal: A1, action: CALL, resource: READ, args: { path: '/srv/a' } });
    assert.equal(authorizeByCli(READ, '/srv/b').status, 0);
    assert.equal(authorizeByCli(WRITE, '/srv/c').status, 3);
    assert.equal(authorizeByCli(READ, '/srv/secret/d').status, 3);
    const s = tally.snapshot(60);
    assert.deepEqual(s.totals, { allow: 2, deny: 2, denyReasons: { no_permit: 1, policy_forbid: 1 } });
    assert.equal(s.counted, s.size);
    const recent = s.series.reduce((n, p) => n + p.allow + p.deny, 0);
    assert.equal(recent, 4, 'all four in the last minute, by their leaves\' times');
    assert.deepEqual(tally.snapshot(60).totals, s.totals, 'nothing counted twice');
  });

  it('reads at most its budget per call and catches up over calls', async () => {
    for (let i = 0; i < 7; i++) await f.node.authorize({ principal: A1, action: CALL, resource: READ, args: { path: `/srv/x${i}` } });
    const tally = new LedgerTally(f.ledger);
    const first = tally.snapshot(60, 3);
    assert.equal(first.counted, 3);
    assert.ok(first.size > 3);
    let last = first;
    for (let i = 0; i < 10 && last.counted < last.size; i++) last = tally.snapshot(60, 3);
    assert.equal(last.counted, last.size);
    assert.equal(last.totals.allow + last.totals.deny, 11);
  });

  it('keeps per-second counts for the window only: old decisions count in the totals, not in the series', async () => {
    const now = Date.now() + 3600_000; // an hour later
    const tally = new LedgerTally(f.ledger, () => now);
    const s = tally.snapshot(300);
    assert.equal(s.totals.allow + s.totals.deny, 11);
    assert.equal(s.series.reduce((n, p) => n + p.allow + p.deny, 0), 0);
  });
});

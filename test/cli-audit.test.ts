/** `writ audit replay`: an honest home replays clean; a decision leaf rewritten in the SQLite ledger (result or input) is caught and named. */
import assert from 'node:assert/strict';
import type { SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { before, describe, it } from 'node:test';
import { canonicalJson } from '../src/writ/intent.ts';
import { authorizeArgs, demoHome, json, ok, READ, writ, WRITE, type AllowOut, type DenyOut } from './cli-fixture.ts';

describe('writ audit replay', () => {
  let home: string;
  let allowIndex: number;
  let denyIndex: number;
  before(() => {
    home = demoHome();
    allowIndex = json<AllowOut>(ok(writ(authorizeArgs(home, READ, { path: '/srv/data.txt' })))).ledgerIndex;
    denyIndex = json<DenyOut>(writ(authorizeArgs(home, WRITE, { path: '/srv/data.txt' }))).ledgerIndex as number;
    ok(writ(authorizeArgs(home, READ, { path: '/srv/other.txt' })));
    writ(authorizeArgs(home, READ, { path: '/srv/secret/x' }));
  });

  interface Leaf {
    input: { context: { args: { path: string } } };
    result: { decision: string; reasons: string[]; policies: string[] };
  }
  interface Report {
    decisions: number;
    replayed: number;
    differences: { index: number; recorded: { decision: string }; replayed: { decision: string } | null }[];
  }

  /** Rewrites one leaf in place, as someone with write access to the SQLite file could. Returns the original bytes. */
  function tamper(index: number, edit: (leaf: Leaf) => void): Uint8Array {
    const db = new DatabaseSync(join(home, 'state.db'));
    try {
      const row = db.prepare('SELECT leaf FROM ledger_entries WHERE idx = ?').get(index) as { leaf: Uint8Array } | undefined;
      assert.ok(row, `leaf ${index} exists`);
      const original = new Uint8Array(row.leaf);
      const leaf = JSON.parse(new TextDecoder().decode(original)) as Leaf;
      edit(leaf);
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(new TextEncoder().encode(canonicalJson(leaf)), index);
      return original;
    } finally {
      db.close();
    }
  }

  function restore(index: number, bytes: Uint8Array): void {
    const db = new DatabaseSync(join(home, 'state.db'));
    try {
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(bytes, index);
    } finally {
      db.close();
    }
  }

  function replay(): { r: SpawnSyncReturns<string>; report: Report; text: SpawnSyncReturns<string> } {
    const r = writ(['audit', 'replay', '--home', home, '--json']);
    const text = writ(['audit', 'replay', '--home', home]);
    assert.equal(text.status, r.status);
    return { r, report: json<Report>(r), text };
  }

  it('exits 0 on an honest home, with every decision replayed', () => {
    const { r, report, text } = replay();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(report.decisions, 4);
    assert.equal(report.replayed, 4);
    assert.deepEqual(report.differences, []);
    assert.match(text.stdout, /0 differ/);
  });

  it('a recorded allow rewritten to deny is caught: exit 1 naming the index', () => {
    const original = tamper(allowIndex, (l) => {
      l.result = { decision: 'deny', reasons: ['no_permit'], policies: [], errors: [] } as Leaf['result'];
    });
    try {
      const { r, report, text } = replay();
      assert.equal(r.status, 1);
      assert.deepEqual(report.differences.map((d) => d.index), [allowIndex]);
      assert.equal(report.differences[0]?.recorded.decision, 'deny');
      assert.equal(report.differences[0]?.replayed?.decision, 'allow');
      assert.match(text.stdout, new RegExp(`#${allowIndex}\\b`));
    } finally {
      restore(allowIndex, original);
    }
    assert.equal(replay().r.status, 0);
  });

  it('a recorded deny rewritten to allow is caught', () => {
    const original = tamper(denyIndex, (l) => {
      l.result = { decision: 'allow', reasons: ['policy_permit'], policies: ['agents-read-srv'], errors: [] } as Leaf['result'];
    });
    try {
      const { r, report, text } = replay();
      assert.equal(r.status, 1);
      assert.deepEqual(report.differences.map((d) => d.index), [denyIndex]);
      assert.match(text.stdout, new RegExp(`#${denyIndex}\\b`));
    } finally {
      restore(denyIndex, original);
    }
  });

  it('swapped input arguments that the policy decides differently are caught', () => {
    const original = tamper(allowIndex, (l) => {
      l.input.context.args.path = '/srv/secret/keys';
    });
    try {
      const { r, report, text } = replay();
      assert.equal(r.status, 1);
      assert.deepEqual(report.differences.map((d) => d.index), [allowIndex]);
      assert.equal(report.differences[0]?.replayed?.decision, 'deny');
      assert.match(text.stdout, new RegExp(`#${allowIndex}\\b`));
    } finally {
      restore(allowIndex, original);
    }
  });
});

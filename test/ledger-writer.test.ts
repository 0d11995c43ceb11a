/** Group commit through the writer worker: every returned writ has its leaf, indexes are dense and unique. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openHome } from '../src/home/open.ts';
import { fixture } from './helpers.ts';

describe('ledger writer worker', () => {
  it('commits concurrent decisions in batches; each allow has its own durable leaf', async () => {
    const f = await fixture();
    const w = await openHome(f.home, { writer: 'worker' });
    try {
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          w.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: `/srv/${i}` } }),
        ),
      );
      const indexes = results.map((d) => d.ledgerIndex as number);
      assert.ok(results.every((d) => d.decision === 'allow' && d.claims?.led === d.ledgerIndex));
      assert.equal(new Set(indexes).size, 300, 'unique indexes');
      // read back through an independent connection: the evidence is on disk
      for (const d of results) {
        const leaf = JSON.parse(new TextDecoder().decode(f.ledger.entry(d.ledgerIndex as number)?.leaf)) as { writ: { jti: string } };
        assert.equal(leaf.writ.jti, d.claims?.jti);
      }
      const max = Math.max(...indexes);
      assert.equal(f.ledger.size(), max + 1);
    } finally {
      w.close();
      f.cleanup();
    }
  });

  it('a failed commit on the worker path denies with ledger_append_failed', async () => {
    const f = await fixture();
    const w = await openHome(f.home, { writer: 'worker' });
    try {
      w.ledger.failNextAppends = 1;
      const d = await w.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/x' } });
      assert.deepEqual(d.reasons, ['ledger_append_failed']);
      assert.equal(d.writ, undefined);
      const ok = await w.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/x' } });
      assert.equal(ok.decision, 'allow');
    } finally {
      w.close();
      f.cleanup();
    }
  });
});

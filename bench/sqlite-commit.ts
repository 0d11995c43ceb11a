/**
 * One ledger COMMIT (commitBatch: one decision leaf with its writ row, WAL,
 * synchronous = FULL) against a raw 1.2 KB append + fdatasync, interleaved in one run,
 * for each PRAGMA variant given (docs/performance.md, "The durable path"):
 *   node bench/sqlite-commit.ts [count] ['{"name": ["pragma", …], …}']
 * e.g. '{"base":[],"off":["synchronous=OFF"],"p1k":["page_size=1024"],"grow":["journal_size_limit=0","wal_autocheckpoint=20"]}'
 * ("off": the COMMIT's CPU and WAL writes without the sync; "grow": a WAL truncated and
 * grown again after every checkpoint). page_size is applied before the schema exists.
 */
import { randomUUID } from 'node:crypto';
import { fdatasyncSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitBatch, openDatabase } from '../src/ledger/sqlite-batch.ts';
import { SqliteLedger } from '../src/ledger/sqlite-ledger.ts';

const count = Number(process.argv[2] ?? 2000);
const variants = JSON.parse(process.argv[3] ?? '{"base":[],"off":["synchronous=OFF"]}') as Record<string, string[]>;
const dir = mkdtempSync(join(tmpdir(), 'writ-commit-'));
const dbs = Object.entries(variants).map(([name, pragmas]) => {
  const file = join(dir, `${name}.db`);
  const early = pragmas.filter((p) => p.startsWith('page_size'));
  if (early.length > 0) {
    const d = new DatabaseSync(file);
    for (const p of early) d.exec(`PRAGMA ${p}`);
    d.exec('VACUUM');
    d.close();
  }
  const db = openDatabase(file);
  for (const p of pragmas.filter((p) => !p.startsWith('page_size'))) db.exec(`PRAGMA ${p}`);
  new SqliteLedger(db); // the ledger's schema and indexes, as a home has them
  return { name, db, file, t: [] as number[] };
});
const leaf = new TextEncoder().encode(JSON.stringify({ approval: null, pad: 'a'.repeat(1100) }));
const raw = openSync(join(dir, 'raw.bin'), 'a');
const sync: number[] = [];
for (let i = 0; i < count; i++) {
  for (const d of dbs) {
    const jti = randomUUID();
    const t0 = performance.now();
    commitBatch(d.db, [{ type: 'decision', leaf, jti, decisionId: randomUUID(), writ: { jti, decisionIndex: -1, principal: 'p', action: 'a', resource: 'r', parent: null, root: jti, depth: 0, exp: 1 } }]);
    d.t.push(performance.now() - t0);
  }
  const t0 = performance.now();
  writeSync(raw, leaf);
  fdatasyncSync(raw);
  sync.push(performance.now() - t0);
}
const p50 = (x: number[]) => ((x.sort((a, b) => a - b)[x.length >> 1] ?? 0) * 1000).toFixed(0);
console.log(`1.2 KB append + fdatasync p50 ${p50(sync)} µs | ` + dbs.map((d) => `${d.name}: COMMIT p50 ${p50(d.t)} µs (WAL ${(statSync(`${d.file}-wal`, { throwIfNoEntry: false })?.size ?? 0) >> 10} KB)`).join(' | '));
for (const d of dbs) d.db.close();
rmSync(dir, { recursive: true, force: true });

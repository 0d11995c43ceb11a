/** Every reason code Writ can give is documented in docs/reason-codes.md, and the count there is right. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { ALL_REASONS } from '../src/reasons.ts';

const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'reason-codes.md'), 'utf8');

it('docs/reason-codes.md has a row for every code of ALL_REASONS and states their number', () => {
  const missing = ALL_REASONS.filter((c) => !new RegExp(`^\\| \`${c}\` \\|`, 'm').test(doc));
  assert.deepEqual(missing, [], `codes without a row: ${missing.join(', ')}`);
  assert.match(doc, new RegExp(`the ${ALL_REASONS.length} distinct codes of \`ALL_REASONS\``));
});

/**
 * `writ/verify` is importable on its own: the package subpath resolves to the built
 * module, which depends on nothing but `jose` and a JCS implementation (no node:
 * built-ins), so it runs in executors and browsers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

describe('writ/verify subpath export', () => {
  it('resolves through the package exports and exposes verifyWrit', async () => {
    const mod = (await import('writ/verify')) as { verifyWrit?: unknown; memoryJtiStore?: unknown };
    assert.equal(typeof mod.verifyWrit, 'function');
    assert.equal(typeof mod.memoryJtiStore, 'function');
  });

  it('depends on nothing but jose and canonicalize', () => {
    const entry = fileURLToPath(import.meta.resolve('writ/verify'));
    const seen = new Set<string>();
    const external = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of importsOf(file)) {
        if (spec.startsWith('.')) walk(join(dirname(file), spec));
        else external.add(spec);
      }
    };
    walk(entry);
    assert.ok(seen.size >= 2, 'walked the module graph');
    assert.deepEqual([...external].sort(), ['canonicalize', 'jose']);
  });
});

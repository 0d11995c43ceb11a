/**
 * `writ/http-guard` and `writ/http-guard/node` are importable on their own, like `writ/verify`:
 * the package subpaths resolve to the built modules, which depend on nothing but `jose` and a
 * JCS implementation (no node: built-ins, no framework). `writ/http-guard/fastify` resolves too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;

function externalsOf(entry: string): string[] {
  const seen = new Set<string>();
  const external = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (spec.startsWith('.')) walk(join(dirname(file), spec));
      else external.add(spec);
    }
  };
  walk(entry);
  return [...external].sort();
}

describe('writ/http-guard subpath exports', () => {
  it('resolve through the package exports', async () => {
    const core = (await import('writ/http-guard')) as { guardRequest?: unknown; boundedJtiStore?: unknown };
    const node = (await import('writ/http-guard/node')) as { guardNodeHandler?: unknown; httpGuardMiddleware?: unknown };
    const fastify = (await import('writ/http-guard/fastify')) as { httpGuardPlugin?: unknown };
    assert.equal(typeof core.guardRequest, 'function');
    assert.equal(typeof core.boundedJtiStore, 'function');
    assert.equal(typeof node.guardNodeHandler, 'function');
    assert.equal(typeof node.httpGuardMiddleware, 'function');
    assert.equal(typeof fastify.httpGuardPlugin, 'function');
  });

  it('the core and the node adapter depend on nothing but jose and canonicalize', () => {
    for (const sub of ['writ/http-guard', 'writ/http-guard/node']) {
      assert.deepEqual(externalsOf(fileURLToPath(import.meta.resolve(sub))), ['canonicalize', 'jose'], sub);
    }
  });
});

/**
 * `writ/verify` is importable on its own: the package subpath resolves to the built
 * module, which depends on nothing but `jose` and a JCS implementation (no node:
 * built-ins), so it runs in executors and browsers. `writ/verify/proof` (the proof-file
 * verifier with a witness policy, as @writ/verify/proof) imports nothing outside itself.
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
    assert.deepEqual(externalsOf('writ/verify'), ['canonicalize', 'jose']);
  });

  it('writ/verify/proof: verifyProof with nothing outside the runtime (no SHA-256 package: WebCrypto)', async () => {
    const mod = (await import('writ/verify/proof')) as { verifyProof?: unknown; ProofVerificationError?: unknown; PROOF_REASONS?: unknown };
    assert.equal(typeof mod.verifyProof, 'function');
    assert.equal(typeof mod.ProofVerificationError, 'function');
    assert.ok(Array.isArray(mod.PROOF_REASONS) && mod.PROOF_REASONS.includes('witness_quorum_not_met'));
    assert.deepEqual(externalsOf('writ/verify/proof'), []);
  });
});

/** The bare specifiers the built module graph of `specifier` imports. */
function externalsOf(specifier: string): string[] {
  const entry = fileURLToPath(import.meta.resolve(specifier));
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
  return [...external].sort();
}

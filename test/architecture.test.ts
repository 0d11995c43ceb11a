/**
 * The dependency rule (docs/architecture.md) is enforced by ESLint's no-restricted-imports in
 * eslint.config.js, which `npm test` runs. This test shows the rule bites: an import running
 * the wrong way, or network I/O in the core, is an error; an inward import is not. And the
 * core's clock (no-restricted-syntax): time read beside the injected clock is an error.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..');
const eslint = new ESLint({ cwd: root });

async function problems(file: string, code: string, rule = 'no-restricted-imports'): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(root, file) });
  return (r?.messages ?? []).filter((m) => m.ruleId === rule).map((m) => m.message);
}

it('an import running outward from the core, or network I/O in it, fails the lint', async () => {
  const wrong: [string, string][] = [
    ['src/writ/probe.ts', "import { GovernanceNode } from '../node/node.ts';\nexport type T = GovernanceNode;\n"],
    ['src/writ/probe.ts', "import { sha256Hex } from '../util.ts';\nexport const f = sha256Hex;\n"],
    ['src/writ/probe.ts', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n"],
    ['src/ledger/probe.ts', "import { PolicyEngine } from '../policy/engine.ts';\nexport type T = PolicyEngine;\n"],
    ['src/lineage/probe.ts', "import type { NodeState } from '../node/state.ts';\nexport type T = NodeState;\n"],
    ['src/node/probe.ts', "import { signBeacon } from '../authority/beacon.ts';\nexport const f = signBeacon;\n"],
    ['src/node/probe.ts', "import { connect } from '@nats-io/transport-node';\nexport const f = connect;\n"],
    ['src/node/probe.ts', "import { request } from 'node:http';\nexport const f = request;\n"],
    ['src/policy/probe.ts', "import { buildApp } from '../server/app.ts';\nexport const f = buildApp;\n"],
    ['src/canonical/probe.ts', "import { WRIT_TYP } from '../writ/claims.ts';\nexport const f = WRIT_TYP;\n"],
    ['src/server/probe.ts', "import { registerUp } from '../cli/up.ts';\nexport const f = registerUp;\n"],
    // tlog/ is runtime-neutral spec code: no Node module, no storage, and writ/ does not import it
    ['src/tlog/probe.ts', "import { createHash } from 'node:crypto';\nexport const f = createHash;\n"],
    ['src/tlog/probe.ts', "import { createHash } from 'crypto';\nexport const f = createHash;\n"],
    ['src/tlog/probe.ts', "import { TransparencyLog } from '../ledger/log.ts';\nexport type T = TransparencyLog;\n"],
    ['src/tlog/probe.ts', "import { verifyWrit } from '../writ/verify.ts';\nexport const f = verifyWrit;\n"],
    ['src/writ/probe.ts', "import { leafHash } from '../tlog/merkle.ts';\nexport const f = leafHash;\n"],
  ];
  for (const [file, code] of wrong) assert.notDeepEqual(await problems(file, code), [], `${file}: ${code.split('\n')[0]} passed the lint`);
});

it('inward imports pass', async () => {
  const fine: [string, string][] = [
    ['src/node/probe.ts', "import { canonicalJson } from '../canonical/json.ts';\nimport { verifyWrit } from '../writ/verify.ts';\nimport type { Ledger } from '../ledger/ledger.ts';\nexport const f = [canonicalJson, verifyWrit];\nexport type T = Ledger;\n"],
    ['src/writ/probe.ts', "import { canonicalJson } from '../canonical/json.ts';\nimport { compactVerify } from 'jose';\nexport const f = [canonicalJson, compactVerify];\n"],
    ['src/server/probe.ts', "import type { GovernanceNode } from '../node/node.ts';\nimport Fastify from 'fastify';\nexport type T = GovernanceNode;\nexport const f = Fastify;\n"],
    ['src/tlog/probe.ts', "import { canonicalJson } from '../canonical/json.ts';\nimport { WritError } from '../writ/errors.ts';\nimport { sha256 } from './crypto.ts';\nexport const f = [canonicalJson, WritError, sha256];\n"],
    ['src/ledger/probe.ts', "import { createHash } from 'node:crypto';\nimport { leafHash } from '../tlog/merkle.ts';\nexport const f = [createHash, leafHash];\n"],
  ];
  for (const [file, code] of fine) assert.deepEqual(await problems(file, code), [], file);
});

it('the core reads time only through the injected clock: Date.now() or new Date() there fails the lint', async () => {
  const wrong: [string, string][] = [
    ['src/node/probe.ts', 'export const t = Date.now();\n'],
    ['src/node/probe.ts', 'export const now = (): Date => new Date();\n'],
    ['src/node/probe.ts', 'export function f(now = new Date()): number {\n  return now.getTime();\n}\n'],
    ['src/node/probe.ts', 'export const o = { now: Date.now };\n'],
    ['src/ledger/probe.ts', 'export const t = Date.now() + 1;\n'],
    ['src/lineage/probe.ts', 'export const t = new Date();\n'],
    ['src/policy/probe.ts', 'export const t = Date();\n'],
    ['src/writ/probe.ts', 'export const t = new Date().getTime();\n'],
    ['src/tlog/probe.ts', 'export const t = Date.now();\n'],
    ['src/canonical/probe.ts', 'export const t = Date.now();\n'],
  ];
  for (const [file, code] of wrong) {
    assert.deepEqual(await problems(file, code, 'no-restricted-syntax'), ['read time through the injected clock (src/clock.ts, docs/architecture.md)'], `${file}: ${code.split('\n')[0]} passed the lint`);
  }
});

it('the clock itself, a date from a given time, performance.now() and the outer folders pass', async () => {
  const fine: [string, string][] = [
    ['src/clock.ts', 'export const now = (): number => Date.now();\nexport const date = (): Date => new Date();\n'],
    ['src/node/probe.ts', "import { systemClock } from '../clock.ts';\nexport const f = (ms: number): Date => new Date(ms);\nexport const g = (): Date => new Date(systemClock.now());\n"],
    ['src/ledger/probe.ts', "export const d = new Date('2026-01-01T00:00:00Z');\nexport const t = Date.parse('2026-01-01T00:00:00Z');\n"],
    ['src/node/probe.ts', 'export const t = performance.now();\n'],
    ['src/server/probe.ts', 'export const t = Date.now();\n'],
  ];
  for (const [file, code] of fine) assert.deepEqual(await problems(file, code, 'no-restricted-syntax'), [], `${file}: ${code.split('\n')[0]}`);
});

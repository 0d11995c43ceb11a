/** A policy folder as the CLI reads it: lint errors as file:line:col, and its tests (if it has tests/). */
import { PolicyEngine } from '../policy/engine.ts';
import { hasPolicyTests, PolicyTestError } from '../policy/fixtures.ts';
import { readPolicyFolder } from '../policy/sign.ts';
import { loadPolicySource, PolicySourceError, type PolicySource } from '../policy/source.ts';
import { BundleError } from '../reasons.ts';
import { CliError } from './common.ts';
import { runFolderTests, type TestReport } from './policy-test.ts';

export function lintFolder(dir: string): PolicySource {
  let files: Map<string, Uint8Array>;
  try {
    files = readPolicyFolder(dir);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  try {
    return loadPolicySource(files);
  } catch (err) {
    if (err instanceof PolicySourceError) {
      throw new CliError(err.diagnostics.map((d) => `${dir.replace(/\/$/, '')}/${d.file}:${d.line}:${d.col}: ${d.message}`).join('\n'));
    }
    throw err;
  }
}

/** The engine a node would build from these files (it refuses what activation refuses, e.g. a bad @maxRunSeconds). */
export function engineOf(source: PolicySource, what: string): PolicyEngine {
  try {
    return new PolicyEngine(source);
  } catch (err) {
    if (err instanceof BundleError) throw new CliError(`${what}: ${err.code}: ${err.message}`);
    throw err;
  }
}

/** Runs DIR/tests against the folder's policies; null when the folder has no tests/. A malformed fixture is a CliError naming file and field. */
export function folderTests(dir: string, source: PolicySource, o: { required?: boolean } = {}): TestReport | null {
  if (!hasPolicyTests(dir)) {
    if (o.required) throw new CliError(`${dir.replace(/\/$/, '')}/tests: no such folder (policy tests are tests/*.json, docs/policy-test.md)`);
    return null;
  }
  const engine = engineOf(source, dir);
  try {
    return runFolderTests(dir, engine);
  } catch (err) {
    if (err instanceof PolicyTestError) throw new CliError(`${dir.replace(/\/$/, '')}/${err.message}`);
    throw err;
  } finally {
    engine.dispose();
  }
}

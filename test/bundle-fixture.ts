/** Shared fixture for the bundle tests (bundle*.test.ts): a good policy folder and the "refused, and nothing changed" check. */
import assert from 'node:assert/strict';
import type { OpenHome } from '../src/home/open.ts';
import { BundleError, type BundleReason } from '../src/reasons.ts';

export const GOOD_POLICY = {
  'policy.cedar': '@id("allow-read")\npermit (principal, action == Action::"read", resource);\n',
  'entities.json': '[{"uid":{"type":"User","id":"u1"},"attrs":{},"parents":[]}]',
};

export interface Snapshot {
  version: number | undefined;
  digest: string | undefined;
  storedDigest: string | null;
  floor: number;
  ledgerSize: number;
}

export function snapshot(h: OpenHome): Snapshot {
  const a = h.node.policy.active;
  return {
    version: a?.bundle.manifest.version,
    digest: a?.bundle.digest,
    storedDigest: h.state.activeBundleDigest(h.config.domain),
    floor: h.state.maxActivatedVersion(h.config.domain),
    ledgerSize: h.ledger.size(),
  };
}

/** Activation must fail with exactly `code`, and nothing may change. */
export async function expectRefused(h: OpenHome, bytes: Uint8Array, code: BundleReason): Promise<void> {
  const before = snapshot(h);
  assert.ok(before.digest !== undefined, 'test setup: a bundle must be active before');
  await assert.rejects(h.node.policy.activate(bytes), (err: unknown) => {
    assert.ok(err instanceof BundleError, `expected a BundleError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
  assert.deepEqual(snapshot(h), before, 'a refused bundle must leave the active bundle, the floor and the ledger unchanged');
}

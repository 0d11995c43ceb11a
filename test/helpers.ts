/** Test fixtures: throwaway homes with a policy folder signed and activated. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initHome } from '../src/home/init.ts';
import { authoritySigningKeys, openHome, type OpenHome } from '../src/home/open.ts';
import type { NodeLimits } from '../src/node/node.ts';
import { buildBundle, readPolicyFolder } from '../src/policy/sign.ts';
import type { BundleFile } from '../src/policy/manifest.ts';

export const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
export const DEMO_POLICY = join(import.meta.dirname, '..', 'demo', 'policy');

export function tempDir(prefix = 'writ-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a policy folder from a map of file name -> content. */
export function policyFolder(files: Record<string, string>): string {
  const dir = tempDir('writ-policy-');
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

export interface Fixture extends OpenHome {
  adminToken: string;
  /** signs a policy folder with this home's authority keys */
  sign(dir: string, o?: { version?: number; expiresInMs?: number; domain?: string; keyIndexes?: number[] }): Promise<BundleFile>;
  cleanup(): void;
}

let versionCounter = 1;

export async function fixture(o: {
  policyDir?: string | null;
  authorityKeys?: number;
  threshold?: number;
  limits?: Partial<NodeLimits>;
  now?: () => Date;
} = {}): Promise<Fixture> {
  const home = tempDir('writ-home-');
  const init = await initHome({ home, authorityKeys: o.authorityKeys ?? 1, threshold: o.threshold ?? 1 });
  const h = await openHome(home, { ...(o.limits && { limits: o.limits }), ...(o.now && { now: o.now }) });
  const sign: Fixture['sign'] = async (dir, s = {}) => {
    const all = await authoritySigningKeys(home, h.config);
    const keys = s.keyIndexes ? s.keyIndexes.map((i) => all[i - 1]).filter((k) => k !== undefined) : all;
    const created = new Date(Date.now() - 1000);
    return buildBundle(
      readPolicyFolder(dir),
      { domain: s.domain ?? h.config.domain, version: s.version ?? versionCounter++, created, expires: new Date(Date.now() + (s.expiresInMs ?? 3600_000)) },
      keys,
    );
  };
  const f: Fixture = {
    ...h,
    adminToken: init.adminToken,
    sign,
    cleanup() {
      h.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
  if (o.policyDir !== null) {
    const bundle = await sign(o.policyDir ?? DEMO_POLICY, { version: 1 });
    await h.node.policy.activate(bundleBytes(bundle));
  }
  return f;
}

export function bundleBytes(b: BundleFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(b));
}

/** Test fixtures: throwaway homes with a policy folder signed and activated. */
import { spawn, type ChildProcess } from 'node:child_process';
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
  decisionThreads?: number;
} = {}): Promise<Fixture> {
  const home = tempDir('writ-home-');
  const init = await initHome({ home, authorityKeys: o.authorityKeys ?? 1, threshold: o.threshold ?? 1 });
  const h = await openHome(home, { ...(o.limits && { limits: o.limits }), ...(o.now && { now: o.now }), ...(o.decisionThreads !== undefined && { decisionThreads: o.decisionThreads }) });
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

/** A `writ up` child process on a home; `exited` resolves when it is gone. */
export interface UpProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

/** Starts `writ up --home <home> --port 0 --quiet` and resolves with its base URL once it listens. */
export function startUp(home: string, timeoutMs = 20_000): Promise<UpProcess> {
  const child = spawn(process.execPath, [CLI, 'up', '--home', home, '--port', '0', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writ up did not start: ${stderr}`));
    }, timeoutMs);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: m[1], exited });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`writ up exited (${code}) before listening: ${stderr}`));
    });
  });
}

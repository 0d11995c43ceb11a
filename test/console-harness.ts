/**
 * Harness for the console's browser tests: builds the console exactly as
 * `npm run build:console` does, runs a real `writ up` on a throwaway home, makes real
 * decisions over HTTP, and drives Debian's Chromium with playwright-core (installed by
 * scripts/ensure-chromium.sh; never a downloaded browser), recording every request
 * the pages make, every console error and every page error.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CLI, tempDir } from './helpers.ts';

export const ROOT = join(import.meta.dirname, '..');
export const SHOTS = join(ROOT, 'test-results', 'console');
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A digest of every source the console bundle can contain (src/, the Vite config), to build once per source state. */
function consoleSourcesDigest(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else h.update(relative(ROOT, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  walk(join(ROOT, 'src'));
  return h.digest('hex');
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Type-checks and builds the console (src/console/web → dist/console), as `npm run
 * build:console`, once per source state: the browser suites run two at a time, and a second
 * `vite build` empties dist/console under a page another suite is loading (its scripts then
 * 404 and the page never starts). A lock (a directory) makes concurrent callers take turns;
 * a stamp of the sources built lets the later ones skip the build.
 */
export function buildConsole(): void {
  const out = join(ROOT, 'dist', 'console');
  const lock = join(ROOT, 'dist', '.console-build.lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // a lock older than a build can take is left by a killed run
      const since = statSync(lock, { throwIfNoEntry: false })?.mtimeMs;
      if (since !== undefined && Date.now() - since > 300_000) rmSync(lock, { recursive: true, force: true });
      if (waited > 600_000) throw new Error(`the console build lock ${lock} was not released`);
      sleepSync(100);
    }
  }
  try {
    const digest = consoleSourcesDigest();
    const stamp = join(ROOT, 'dist', '.console-built-from');
    if (existsSync(join(out, 'index.html')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
    buildConsoleNow();
    writeFileSync(stamp, digest);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function buildConsoleNow(): void {
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', join(ROOT, 'src', 'console', 'web')], { encoding: 'utf8', cwd: ROOT });
  if (tsc.status !== 0) throw new Error(`console type check failed:\n${tsc.stdout}${tsc.stderr}`);
  const vite = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(ROOT, 'src', 'console', 'vite.config.ts')], { encoding: 'utf8', cwd: ROOT });
  if (vite.status !== 0) throw new Error(`console build failed:\n${vite.stdout}${vite.stderr}`);
}

export function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`writ ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export interface Server {
  home: string;
  base: string;
  port: string;
  adminToken: string;
  /** a caller token of both roles for any principal (writ caller add), sent by post() to the decision routes */
  callerToken: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `writ up --home H --port 0 --demo --quiet`, resolved once it listens. */
// the caller token of each running server, by base URL
const callerTokens = new Map<string, string>();

export async function startServer(home: string): Promise<Server> {
  if (!existsSync(join(home, 'config.json'))) cli(['init', '--home', home]);
  const callerToken = cli(['caller', 'add', `test-${randomUUID().slice(0, 8)}`, '--home', home, '--role', 'both', '--principals', '*']).trim();
  const child = spawn(process.execPath, [CLI, 'up', '--home', home, '--port', '0', '--demo', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writ up did not start:\n${err}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+?) /.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`writ up exited ${code}:\n${err}`)));
  });
  callerTokens.set(base, callerToken);
  return {
    home,
    base,
    callerToken,
    port: new URL(base).port,
    adminToken: readFileSync(join(home, 'keys', 'admin.token'), 'utf8').trim(),
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** POST JSON; the decision routes get the server's caller token unless a token is given. */
export async function post(base: string, path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  token ??= /^\/v1\/(authorize|verify|outcome)$/.test(path) ? callerTokens.get(base) : undefined;
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

export const authorize = (base: string, body: Record<string, unknown>) => post(base, '/v1/authorize', body);

/** A fresh home with the demo policy as version 1, and a second bundle (demo + an approval rule) signed as version 2. */
export function prepareHome(): { home: string; bundleV2: string } {
  const home = tempDir('writ-console-');
  cli(['init', '--home', home]);
  const dir = join(tempDir('writ-console-policy-'), 'policy');
  mkdirSync(dir);
  for (const f of ['policy.cedar', 'entities.json']) spawnSync('cp', [join(ROOT, 'demo', 'policy', f), join(dir, f)]);
  spawnSync('sh', ['-c', `cat >> '${join(dir, 'policy.cedar')}' <<'EOF'

// Writing needs a person's approval.
@id("careful-write")
@approval("required")
permit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");
EOF`]);
  const v1 = join(home, 'bundle-v1.json');
  const v2 = join(home, 'bundle-v2.json');
  cli(['policy', 'sign', join(ROOT, 'demo', 'policy'), '--out', v1, '--home', home, '--version', '1']);
  cli(['policy', 'activate', v1, '--home', home]);
  cli(['policy', 'sign', dir, '--out', v2, '--home', home, '--version', '2']);
  return { home, bundleV2: v2 };
}

export interface Browsing {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** every URL the pages requested */
  requests: { url: string; method: string; authorization: string | undefined }[];
  /** console errors and page errors (CSP violations show up here) */
  problems: string[];
  /** responses of this origin, by URL, with their CSP header */
  csp: Map<string, string | undefined>;
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function browse(base: string): Promise<Browsing> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (Debian's chromium)`);
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: false });
  const origin = new URL(base).origin;
  const requests: Browsing['requests'] = [];
  const problems: string[] = [];
  const csp = new Map<string, string | undefined>();
  // Anything that would leave this origin is recorded and never sent.
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (new URL(url).origin !== origin) {
      requests.push({ url, method: route.request().method(), authorization: undefined });
      await route.abort();
    } else await route.continue();
  });
  const page = await context.newPage();
  page.on('request', (r) => void requests.push({ url: r.url(), method: r.method(), authorization: r.headers().authorization }));
  page.on('response', (r) => {
    csp.set(r.url(), r.headers()['content-security-policy']);
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && !path.startsWith('/console/api/') && !path.startsWith('/v1/')) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|404)/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => void problems.push(`pageerror: ${e.message}`));
  return {
    browser,
    context,
    page,
    requests,
    problems,
    csp,
    shot: async (name) => void (await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })),
    close: () => browser.close(),
  };
}

/**
 * Adversarial: path traversal against the console's static files (GET /console/*), as served by
 * `buildApp` with the built console (dist/console), and with a copy of it inside the node's home,
 * so that `../config.json` and `../keys/admin.token` are real files one level up, beside decoy
 * secrets with servable extensions (.js, .html, .txt) and a sibling directory sharing the
 * prefix (console-evil/). Tried, each path sent byte for byte as written: `../`, `%2e%2e/`,
 * `..%2f`, fully encoded, double-encoded, backslash (raw and %5c), `.%2e`, overlong UTF-8,
 * `....//`, `..;/`, NUL bytes (`%00`, `%2500`), absolute paths (`//etc/passwd`, `%2f…`),
 * symlink-looking paths (/proc/self/root, /proc/self/cwd, /proc/self/environ), from /console/,
 * /console/assets/, /console/api/, / and /tile/. Each response: never a 500, a 200 only with the
 * bytes of a file inside the console assets, and no response body ever carries the admin token,
 * private key material, config.json or a decoy.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.ts';
import { DEFAULT_ASSETS_DIR } from '../../src/console/routes.ts';
import { fixture, type Fixture } from '../helpers.ts';
import { makeApp } from '../server-fixture.ts';

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function get(base: string, path: string): Promise<{ status: number; body: Buffer }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: 'GET', path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** every file under dir, as path → bytes */
function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p, readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** how each `..` and `/` of a relative path is spelled */
const STYLES: [string, string, string][] = [
  ['plain', '..', '/'],
  ['encoded dots', '%2e%2e', '/'],
  ['encoded slash', '..', '%2f'],
  ['encoded slash upper', '..', '%2F'],
  ['fully encoded', '%2e%2e', '%2f'],
  ['double-encoded', '%252e%252e', '%252f'],
  ['backslash', '..', '\\'],
  ['encoded backslash', '..', '%5c'],
  ['half-encoded dots', '.%2e', '/'],
  ['overlong UTF-8', '%c0%ae%c0%ae', '%c0%af'],
  ['filter-stripping', '....', '//'],
  ['semicolon', '..;', '/'],
  ['NUL after the dots', '..%00', '/'],
  ['double-encoded NUL', '..%2500', '/'],
];

function spell(rel: string, dots: string, sep: string): string {
  return rel
    .split('/')
    .map((seg) => (seg === '..' ? dots : seg))
    .join(sep);
}

describe('adversarial: console path traversal', () => {
  let f: Fixture;
  let builtApp: FastifyInstance;
  let homeApp: FastifyInstance;
  let builtBase: string;
  let homeBase: string;
  const decoy = `DECOY-${randomBytes(12).toString('hex')}`;
  /** strings no response may contain */
  let secrets: [string, string][];
  let homeAssets: string;
  /** bytes a 200 may be, per app */
  let allowed: Map<string, Buffer[]>;

  before(async () => {
    assert.ok(existsSync(join(DEFAULT_ASSETS_DIR, 'index.html')), `the console is built (${DEFAULT_ASSETS_DIR}; npm ci builds it)`);
    f = await fixture();
    // a copy of the built console inside the home: the secrets are one `..` away
    homeAssets = join(f.home, 'console');
    cpSync(DEFAULT_ASSETS_DIR, homeAssets, { recursive: true });
    writeFileSync(join(f.home, 'leak.html'), `${decoy} ${f.adminToken}`);
    writeFileSync(join(f.home, 'leak.txt'), decoy);
    writeFileSync(join(f.home, 'keys', 'leak.js'), `export const t = "${decoy}";`);
    mkdirSync(join(f.home, 'console-evil', 'assets'), { recursive: true });
    writeFileSync(join(f.home, 'console-evil', 'index.html'), decoy);
    writeFileSync(join(f.home, 'console-evil', 'assets', 'x.js'), decoy);

    const keyMaterial = readdirSync(join(f.home, 'keys'))
      .filter((n) => n.endsWith('.key'))
      .flatMap((n) => {
        const text = readFileSync(join(f.home, 'keys', n), 'utf8');
        // the base64 body of a PEM, or the whole of a signed-note private key
        return text.split(/\s+/).filter((s) => s.length >= 40 && !s.startsWith('-----')).map((s): [string, string] => [`keys/${n}`, s]);
      });
    assert.ok(keyMaterial.length >= 3, 'node, log and authority private keys found');
    secrets = [
      ['admin token', f.adminToken],
      ['decoy', decoy],
      ['PEM private key', 'PRIVATE KEY'],
      ['signed-note private key', 'PRIVATE+KEY'],
      ['config.json', readFileSync(join(f.home, 'config.json'), 'utf8').slice(0, 200)],
      ['SQLite database', 'SQLite format 3'],
      ['/etc/passwd', 'root:x:0:0'],
      ['package.json', '"name": "writ"'],
      ...keyMaterial,
    ];

    builtApp = await makeApp(f);
    homeApp = await buildApp({ node: f.node, ledger: f.ledger, state: f.state, jwks: f.jwks, adminTokenSha256: f.config.admin.tokenSha256, log: f.log, consoleAssets: homeAssets });
    builtBase = await builtApp.listen({ port: 0, host: '127.0.0.1' });
    homeBase = await homeApp.listen({ port: 0, host: '127.0.0.1' });
    allowed = new Map([
      [builtBase, [...filesUnder(DEFAULT_ASSETS_DIR).values()]],
      [homeBase, [...filesUnder(homeAssets).values()]],
    ]);
  });
  after(async () => {
    agent.destroy();
    await Promise.all([builtApp?.close(), homeApp?.close()]);
    f?.cleanup();
  });

  let probes = 0;
  /** the response to `path` is harmless: no 500, a 200 only with a console asset's bytes, no secret */
  async function probe(base: string, path: string): Promise<number> {
    probes++;
    const r = await get(base, path);
    const text = r.body.toString('latin1');
    assert.notEqual(r.status, 500, `${path}: 500 ${text.slice(0, 200)}`);
    for (const [what, s] of secrets) assert.ok(!text.includes(s), `GET ${path} (${r.status}) returned ${what}`);
    if (r.status === 200) {
      assert.ok(
        allowed.get(base)?.some((b) => b.equals(r.body)),
        `GET ${path}: a 200 whose body is no file of the console assets: ${text.slice(0, 120)}`,
      );
    } else {
      assert.ok([301, 302, 400, 404].includes(r.status), `GET ${path}: ${r.status} ${text.slice(0, 200)}`);
    }
    return r.status;
  }

  it('the assets themselves are served (so a 404 below is the guard, not a broken route)', async () => {
    for (const base of [builtBase, homeBase]) {
      const index = await get(base, '/console/');
      assert.equal(index.status, 200);
      assert.match(index.body.toString('utf8'), /<!doctype html>/i);
      const asset = readdirSync(join(DEFAULT_ASSETS_DIR, 'assets')).find((n) => n.endsWith('.js'));
      assert.ok(asset);
      assert.equal(await probe(base, `/console/assets/${asset}`), 200);
      assert.equal(await probe(base, '/console/index.html'), 200);
    }
  });

  it('relative traversal in every spelling, from every prefix, to the home secrets, decoys and repository files: nothing outside the assets', async () => {
    const targets = (assets: string) => [
      // relative to the assets directory
      ...['config.json', 'keys/admin.token', 'keys/node.key', 'keys/authority-1.key', 'keys/log.key', 'keys/leak.js', 'leak.html', 'leak.txt', 'state.db', 'console-evil/index.html', 'console-evil/assets/x.js'].map((t) =>
        relative(assets, join(f.home, t)),
      ),
      relative(assets, join(import.meta.dirname, '..', '..', 'package.json')),
      relative(assets, join(import.meta.dirname, '..', '..', 'dist', 'writ', 'verify.js')),
      relative(assets, join(import.meta.dirname, '..', '..', 'bin', 'writ.js')),
      relative(assets, '/etc/passwd'),
    ];
    const seen = new Set<number>();
    for (const [base, assets] of [
      [homeBase, homeAssets],
      [builtBase, DEFAULT_ASSETS_DIR],
    ] as const) {
      const paths: string[] = [];
      for (const rel of targets(assets)) {
        assert.ok(rel.startsWith('..'), rel);
        for (const [, dots, sep] of STYLES) {
          const spelled = spell(rel, dots, sep);
          paths.push(`/console/${spelled}`, `/console/assets/${spell(`../${rel}`, dots, sep)}`, `/console/index.html/${spell(`../${rel}`, dots, sep)}`, `/console/api/${spell(`../../${rel}`, dots, sep)}`);
        }
      }
      // in small parallel batches: fast, without opening hundreds of sockets
      for (let i = 0; i < paths.length; i += 16) for (const s of await Promise.all(paths.slice(i, i + 16).map((p) => probe(base, p)))) seen.add(s);
    }
    assert.ok(!seen.has(200), 'no traversal was answered 200');
  });

  it('the classic one-liners: /console/../config.json, /console/%2e%2e/keys/admin.token, and the same from / and /tile/', async () => {
    const paths = [
      '/console/../config.json',
      '/console/../keys/admin.token',
      '/console/%2e%2e/keys/admin.token',
      '/console/%2e%2e/config.json',
      '/console/..%2fconfig.json',
      '/console/%252e%252e/keys/admin.token',
      '/console/..\\config.json',
      '/console/..%5ckeys%5cadmin.token',
      '/console/../leak.html',
      '/console/%2e%2e/leak.html',
      '/console/../console-evil/index.html',
      '/console/..%2fconsole-evil%2fassets%2fx.js',
      '/console-evil/index.html',
      '/console/../../../../../../etc/passwd',
      '/../config.json',
      '/%2e%2e/config.json',
      '/../../../../etc/passwd',
      '/tile/../../config.json',
      '/tile/%2e%2e/%2e%2e/keys/admin.token',
      '/v1/log/../../config.json',
    ];
    for (const p of paths) assert.notEqual(await probe(homeBase, p), 200, p);
  });

  it('absolute paths, NUL bytes and symlink-looking paths are refused', async () => {
    const abs = (p: string) => [`/console/${p}`, `/console//${p.replace(/^\//, '')}`, `/console/${encodeURIComponent(p)}`, `/console/${p.replaceAll('/', '\\')}`, `/console/assets/${encodeURIComponent(p)}`];
    const paths = [
      ...abs(join(f.home, 'keys', 'admin.token')),
      ...abs(join(f.home, 'leak.html')),
      ...abs(join(f.home, 'keys', 'leak.js')),
      ...abs(join(homeAssets, 'index.html').replace(homeAssets, `${homeAssets}/../console-evil`)),
      ...abs('/etc/passwd'),
      '/console/file:///etc/passwd',
      `/console/file:${encodeURIComponent(join(f.home, 'leak.html'))}`,
      '/console/index.html%00.js',
      '/console/index.html%00',
      '/console/%00../leak.html',
      '/console/..%00/leak.html',
      '/console/leak.html%00.js',
      '/console/assets/%00',
      '/console/index.html%2500.js',
      // symlinks into the file system a path might hope to find under the assets
      '/console/proc/self/root/etc/passwd',
      '/console/%2fproc%2fself%2froot%2fetc%2fpasswd',
      '/console/%2fproc%2fself%2fcwd%2fpackage.json',
      '/console/%2fproc%2fself%2fenviron',
      '/console/..%2f..%2f..%2f..%2f..%2fproc%2fself%2fenviron',
      '/console/%2fdev%2fstdin',
      '/console/assets/..%2f..%2fkeys%2fleak.js',
      // case, unicode look-alikes, trailing dots
      '/console/%EF%BC%8E%EF%BC%8E/leak.html',
      '/console/%E2%80%A5/leak.html',
      '/console/.../leak.html',
      '/console/.%20./leak.html',
      '/CONSOLE/../leak.html',
      '/console/index.html.',
      '/console/index.html::$DATA',
    ];
    for (const base of [homeBase, builtBase]) {
      for (const p of paths) assert.notEqual(await probe(base, p), 200, p);
      // a trailing slash resolves to the page itself: served, but it is the asset's own bytes (probe checks)
      await probe(base, '/console/index.html/');
    }
  });

  it('console API reads with path-like parameters carry no file and no secret', async () => {
    for (const q of ['../config.json', '../../keys/admin.token', '%2e%2e%2fkeys%2fadmin.token', '/etc/passwd', `${f.home}/keys/admin.token`]) {
      for (const url of [`/console/api/lineage?q=${encodeURIComponent(q)}`, `/console/api/proof?index=${encodeURIComponent(q)}`, `/console/api/entries?from=${encodeURIComponent(q)}`]) {
        const r = await get(homeBase, url);
        assert.notEqual(r.status, 500, url);
        const text = r.body.toString('latin1');
        for (const [what, s] of secrets) assert.ok(!text.includes(s), `GET ${url} returned ${what}`);
      }
    }
    assert.ok(probes > 1000, `${probes} traversal probes were sent`);
  });
});

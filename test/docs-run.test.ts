/**
 * Docs that are run (issue 16, point 5): every block of README.md and docs/*.md meant to be
 * run (test/docs-blocks.ts, docs/README.md "Examples that are run") is run, page by page, and
 * must exit 0. Each page runs in one bash session (`set -euo pipefail`, so later blocks see
 * earlier state) with its own temporary folder standing in for /tmp/, a temporary HOME, and
 * `writ` installed: on PATH (bin/writ.js, with the project's Node 24 as `node`) and, in the
 * working folder of the docs/ pages, as node_modules/writ (so `npx writ` and `import … from
 * 'writ/verify'` resolve as in a project that installed it). README.md runs from the repository
 * root, as its reader does after cloning. A block that expects a failure says so itself
 * (`|| test $? -eq 3`); background servers are started by the blocks with `&` and the page's
 * whole process group is ended when it finishes or times out.
 *
 * Also: the standalone verifier of docs/proof-file.md against proofs signed by a few hundred
 * random keys, about half of which have a `+` in their base64.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import '../src/ledger/node-crypto.ts'; // node:crypto's Ed25519 for the tlog modules
import { formatCheckpoint } from '../src/tlog/checkpoint.ts';
import { proveRecord, storedHashes, treeHash, type HashReader } from '../src/tlog/merkle.ts';
import { generateKey, newSigner, signNote } from '../src/tlog/note.ts';
import { formatProofFile, verifyProofFile } from '../src/tlog/proof-file.ts';
import { RUN_LANGS, extractBlocks, localizeTmp, type DocBlock } from './docs-blocks.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const PAGE_TIMEOUT_MS = 420_000; // the README (~27 npx calls, ~4 s each under load) took 80 s alone, 274 s beside two other pages at load 12

const SERVICES = process.env.WRIT_TEST_NATS !== undefined && process.env.WRIT_TEST_PG !== undefined;
/** A page's blocks; one that needs the test services is not run without them, and says so. */
const blocksOf = (page: string): DocBlock[] =>
  extractBlocks(join(ROOT, page)).map((b) => ({
    ...b,
    file: page,
    ...(b.services && !SERVICES ? { notRun: 'needs NATS and PostgreSQL: run under scripts/with-test-services.ts (npm test), which sets WRIT_TEST_NATS and WRIT_TEST_PG' } : {}),
  }));

interface PageRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
}

/** A page's folder: tmp (for /tmp/), home, work (writ installed), bin (writ on PATH). */
function pageFolder(page: string): { root: string; tmp: string; home: string; work: string; bin: string } {
  const root = mkdtempSync(join(tmpdir(), `writ-docs-${page.replace(/\W+/g, '-')}-`));
  const f = { root, tmp: join(root, 'tmp'), home: join(root, 'home'), work: join(root, 'work'), bin: join(root, 'bin') };
  for (const d of [f.tmp, f.home, join(f.work, 'node_modules', '.bin'), f.bin]) mkdirSync(d, { recursive: true });
  symlinkSync(ROOT, join(f.work, 'node_modules', 'writ'));
  symlinkSync(join('..', 'writ', 'bin', 'writ.js'), join(f.work, 'node_modules', '.bin', 'writ'));
  symlinkSync(join(ROOT, 'demo'), join(f.work, 'demo')); // the docs' examples sign demo/policy
  symlinkSync(join(ROOT, 'bin', 'writ.js'), join(f.bin, 'writ'));
  return f;
}

/** The page's bash script: its runnable blocks in order, each announced on stderr. */
function pageScript(blocks: DocBlock[], f: ReturnType<typeof pageFolder>, cwd: string): string {
  const parts = ['set -euo pipefail', `trap 'echo "@@@ failed (exit $?): $BASH_COMMAND" >&2' ERR`, `cd ${JSON.stringify(cwd)}`];
  blocks.forEach((b, i) => {
    // The fleet's loopback services in the docs are the private ones of the test services.
    const text = localizeTmp(b.text, f.tmp).replaceAll('postgres://root@127.0.0.1/test', process.env.WRIT_TEST_PG ?? 'postgres://root@127.0.0.1/test');
    parts.push(`echo ${JSON.stringify(`@@ ${b.file}:${b.line} (${b.lang})`)} >&2`);
    if (b.saveAs) {
      writeFileSync(join(cwd, b.saveAs), `${text}\n`);
    } else if (b.lang === 'sh' || b.lang === 'bash') {
      parts.push(text);
    } else {
      const file = join(f.root, `block-${i}.${b.lang === 'ts' ? 'ts' : 'mjs'}`);
      writeFileSync(file, `${text}\n`);
      parts.push(`node ${JSON.stringify(file)}`);
    }
  });
  return `${parts.join('\n')}\n`;
}

function runPage(script: string, f: ReturnType<typeof pageFolder>): Promise<PageRun> {
  const file = join(f.root, 'page.sh');
  writeFileSync(file, script);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: f.home,
    DOCS_TMP: f.tmp,
    PATH: [f.bin, join(ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(':'),
    NO_COLOR: '1',
    // a fleet of its own on the test services' NATS and PostgreSQL (unused without them)
    ...(SERVICES ? { WRIT_NATS: process.env.WRIT_TEST_NATS, WRIT_PG: process.env.WRIT_TEST_PG, WRIT_FLEET: `docs${process.pid}` } : {}),
    npm_config_update_notifier: 'false',
  };
  delete env.WRIT_HOME; // a block without --home means ./.writ, never the caller's home
  return new Promise((resolve) => {
    // Its own process group, so servers the page left in the background end with it.
    const child = spawn('bash', [file], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, PAGE_TIMEOUT_MS);
    // When bash ends, so do the servers it started (which would otherwise hold its pipes open).
    child.on('exit', () => killGroup(child.pid));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, timedOut });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

describe('docs: blocks meant to be run', { concurrency: 3 }, () => {
  it('the tools the pages use are installed (bash, curl, jq, openssl)', () => {
    const missing = ['bash', 'curl', 'jq', 'openssl'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
    assert.deepEqual(missing, [], `install them (Debian: apt-get install ${missing.join(' ')})`);
  });

  it('every block marked not run gives a reason', () => {
    const unexplained = PAGES.flatMap(blocksOf).filter((b) => b.notRun === '');
    assert.deepEqual(unexplained.map((b) => `${b.file}:${b.line}`), []);
  });

  for (const page of PAGES) {
    const blocks = blocksOf(page).filter((b) => RUN_LANGS.has(b.lang));
    const run = blocks.filter((b) => b.notRun === undefined);
    if (blocks.length === 0) continue;
    it(`${page}: ${run.length} run, ${blocks.length - run.length} marked not run`, async (t) => {
      for (const b of blocks) if (b.notRun !== undefined) t.diagnostic(`not run ${b.file}:${b.line}: ${b.notRun}`);
      if (run.length === 0) return;
      const f = pageFolder(page);
      const cwd = page === 'README.md' ? ROOT : f.work;
      const started = Date.now();
      const r = await runPage(pageScript(run, f, cwd), f);
      t.diagnostic(`${page}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const last = [...r.output.matchAll(/^@@ (.*)$/gm)].at(-1)?.[1] ?? '(before the first block)';
      assert.ok(
        r.code === 0 && !r.timedOut,
        `${page}: ${r.timedOut ? `timed out after ${PAGE_TIMEOUT_MS / 1000} s` : `exit ${r.code ?? r.signal}`} in the block at ${last}\n${r.output.slice(-4000)}`,
      );
      rmSync(f.root, { recursive: true, force: true });
    });
  }
});

describe("docs/proof-file.md: the standalone verifier", () => {
  const verifier = blocksOf('docs/proof-file.md').find((b) => b.saveAs === 'verify-tlog-proof.mjs');

  /** A proof of a random entry of a random small tree, signed by a fresh key named `name`. */
  function randomProof(name: string): { proof: string; entry: Uint8Array; vkey: string } {
    const { signerKey, verifierKey } = generateKey(name);
    const size = 1 + Math.floor(Math.random() * 20);
    const index = Math.floor(Math.random() * size);
    const entries = Array.from({ length: size }, (_, i) => new TextEncoder().encode(`{"entry":${i},"r":${Math.random()}}`));
    const stored: Uint8Array[] = [];
    const reader: HashReader = (ix) => ix.map((i) => stored[i] as Uint8Array);
    for (const [n, e] of entries.entries()) stored.push(...storedHashes(n, e, reader));
    const checkpoint = signNote(formatCheckpoint({ origin: name, size, rootHash: treeHash(size, reader) }), [newSigner(signerKey)]);
    const proof = formatProofFile({ index, proof: proveRecord(size, index, reader), checkpoint });
    return { proof, entry: entries[index] as Uint8Array, vkey: verifierKey };
  }

  /**
   * Runs the doc's script unchanged in this process (a fresh module instance per call, by query
   * string; a process or worker each is ~0.2 s here), with its argv, console.log and
   * process.exit caught, and returns its exit code and output.
   */
  async function runVerifier(script: string, args: string[], run: number): Promise<{ code: number; out: string }> {
    const saved = { argv: process.argv, exit: process.exit, log: console.log };
    let out = '';
    let code = 0;
    class Exit extends Error {}
    process.argv = [process.execPath, script, ...args];
    process.exit = ((c?: number) => {
      code = c ?? 0;
      throw new Exit();
    }) as typeof process.exit;
    console.log = (...a: unknown[]) => (out += `${a.join(' ')}\n`);
    try {
      await import(`${pathToFileURL(script).href}?run=${run}`);
    } catch (err) {
      if (!(err instanceof Exit)) throw err;
    } finally {
      Object.assign(process, { argv: saved.argv, exit: saved.exit });
      console.log = saved.log;
    }
    return { code, out };
  }

  it('accepts a proof by every one of 300 random keys (a + in the base64 included) and refuses a tampered entry', async () => {
    assert.ok(verifier, 'the verify-tlog-proof.mjs block of docs/proof-file.md');
    const dir = mkdtempSync(join(tmpdir(), 'writ-docs-verifier-'));
    const script = join(dir, 'verify-tlog-proof.mjs');
    writeFileSync(script, verifier.text);
    let withPlus = 0;
    for (let k = 0; k < 300; k++) {
      const p = randomProof(`example.com/log-${k}`);
      if (p.vkey.split('+').length > 3) withPlus++;
      assert.equal(verifyProofFile(p.proof, p.entry, p.vkey).ok, true); // Writ's own verifier agrees it is good
      writeFileSync(join(dir, 'p'), p.proof);
      writeFileSync(join(dir, 'e'), p.entry);
      const ok = await runVerifier(script, [join(dir, 'p'), join(dir, 'e'), p.vkey], 2 * k);
      assert.equal(ok.code, 0, `key ${p.vkey}: ${ok.out}`);
      assert.match(ok.out, /^ok: entry is leaf \d+ of /);
      if (k % 10 === 0) {
        writeFileSync(join(dir, 'e'), Buffer.concat([p.entry, Buffer.from(' ')]));
        const bad = await runVerifier(script, [join(dir, 'p'), join(dir, 'e'), p.vkey], 2 * k + 1);
        assert.equal(bad.code, 1, `tampered entry, key ${p.vkey}: ${bad.out}`);
        assert.match(bad.out, /^FAIL: the entry is not in the tree this checkpoint signs/);
      }
    }
    assert.ok(withPlus >= 50, `only ${withPlus} of 300 keys had a + in their base64`);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('docs/mcp.md: the client configuration', () => {
  it('starts writ mcp as a client would (absolute paths, minimal environment): initialize, tools/list, a denied call', async () => {
    const json = blocksOf('docs/mcp.md').find((b) => b.lang === 'json' && b.text.includes('"mcpServers"'));
    assert.ok(json, 'the mcpServers block of docs/mcp.md');
    const dir = mkdtempSync(join(tmpdir(), 'writ-docs-mcp-'));
    const home = join(dir, 'me');
    mkdirSync(join(dir, 'srv'));
    // /opt/writ is this checkout; /home/me and /srv are fresh folders.
    const text = json.text.replaceAll('/opt/writ', ROOT).replaceAll('/home/me', home).replaceAll('"/srv"', JSON.stringify(join(dir, 'srv')));
    const server = (JSON.parse(text) as { mcpServers: { files: { command: string; args: string[] } } }).mcpServers.files;
    const writ = (...args: string[]) => spawnSync(server.command, [join(ROOT, 'bin', 'writ.js'), ...args], { encoding: 'utf8' });
    for (const args of [
      ['init', '--home', join(home, '.writ')],
      ['policy', 'sign', join(ROOT, 'demo', 'policy'), '--out', join(dir, 'b.json'), '--version', '1', '--home', join(home, '.writ')],
      ['policy', 'activate', join(dir, 'b.json'), '--home', join(home, '.writ')],
    ]) assert.equal(writ(...args).status, 0, args.join(' '));
    const child = spawn(server.command, server.args, { cwd: dir, env: { PATH: '/usr/bin:/bin', HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    interface Reply { id?: number; result?: { tools?: unknown[]; serverInfo?: unknown }; error?: { code: number; message: string } }
    const replies = new Map<number, Reply>();
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const waitFor = (id: number) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply ${id} within 30 s; stderr: ${stderr}`)), 30_000);
      const check = () => {
        if (!replies.has(id)) return;
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve();
      };
      child.stdout.on('data', check);
      check();
    });
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const msg = JSON.parse(buffered.slice(0, nl)) as Reply;
        buffered = buffered.slice(nl + 1);
        if (typeof msg.id === 'number') replies.set(msg.id, msg);
      }
    });
    const send = (m: object) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...m })}\n`);
    try {
      send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'docs-run', version: '1' } } });
      await waitFor(1);
      assert.ok(replies.get(1)?.result?.serverInfo, `initialize: ${JSON.stringify(replies.get(1))}`);
      send({ method: 'notifications/initialized' });
      send({ id: 2, method: 'tools/list' });
      await waitFor(2);
      assert.ok(Array.isArray(replies.get(2)?.result?.tools), `tools/list: ${JSON.stringify(replies.get(2))}`);
      send({ id: 3, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: join(dir, 'srv', 'x') } } });
      await waitFor(3);
      assert.equal(replies.get(3)?.error?.code, -32003, `a call no policy permits is refused by Writ: ${JSON.stringify(replies.get(3))}`);
    } finally {
      child.kill();
    }
    rmSync(dir, { recursive: true, force: true });
  });
});

#!/usr/bin/env node
// The package's `writ` command (npm install -g, npx). Plain JavaScript that any Node >= 20 can
// parse: the CLI itself is TypeScript run by Node 24's type stripping, so this finds a Node 24
// (this one, or the `node` dependency's binary) and runs src/cli/main.ts with it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const MIN_MAJOR = 24;
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const main = join(root, 'src', 'cli', 'main.ts');
const major = (v) => Number(v.split('.')[0]);

/** The Node 24 binary of the `node` npm package (which fetches it as node-<os>-<arch>), if installed. */
function packagedNode() {
  try {
    const bin = join(dirname(createRequire(import.meta.url).resolve('node/package.json')), 'bin', 'node');
    return existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

// Node refuses to strip types under node_modules, which is where an installed Writ lives.
const installed = root.split(/[\\/]/).includes('node_modules');
const here = major(process.versions.node) === MIN_MAJOR;

if (here && !installed) {
  // a checkout: run in this process, as `npm run writ` does
  await import(pathToFileURL(main).href);
} else {
  // a Node 24 of the package's own first, so a newer system Node does not decide the runtime
  const node = packagedNode() ?? (major(process.versions.node) >= MIN_MAJOR ? process.execPath : null);
  if (node === null) {
    process.stderr.write(
      `writ: needs Node.js ${MIN_MAJOR} (this is ${process.version}, and the package's own Node ${MIN_MAJOR} is missing: ` +
        `reinstall without --ignore-scripts, e.g. npm install -g writ, or install Node.js ${MIN_MAJOR})\n`,
    );
    process.exit(1);
  }
  const args = installed ? ['--import', pathToFileURL(join(root, 'bin', 'ts-hooks.js')).href] : [];
  const child = spawn(node, [...args, main, ...process.argv.slice(2)], { stdio: 'inherit' });
  // A terminal's Ctrl-C or hangup reaches the child itself (same process group): passing it on
  // would deliver it twice, so this only waits. A supervisor's SIGTERM to this process alone is
  // passed on; the child decides when to exit.
  for (const sig of ['SIGINT', 'SIGHUP']) process.on(sig, () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('error', (err) => {
    process.stderr.write(`writ: cannot start ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}

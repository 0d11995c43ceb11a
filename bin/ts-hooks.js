// Loaded with `--import` by bin/writ.js when Writ is installed under a node_modules folder
// (`npm install -g`, npx): Node's own type stripping refuses files under node_modules, so this
// strips the types of Writ's own .ts modules in-thread. Workers inherit `--import` through
// execArgv, so the ledger's and the decision threads' .ts workers load the same way.
import { readFileSync } from 'node:fs';
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname } from 'node:path';

// the package root as a file: URL with a trailing slash (bin/..)
const root = pathToFileURL(dirname(dirname(fileURLToPath(import.meta.url))) + '/').href;

// stripTypeScriptTypes warns that it is experimental on first use; that line is noise to a
// `writ` user, so only that one warning is dropped.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning, ...rest) => {
  const text = typeof warning === 'string' ? warning : warning?.message;
  if (typeof text === 'string' && text.startsWith('stripTypeScriptTypes')) return;
  emitWarning(warning, ...rest);
};

/** Writ's own sources: under the package root, not in a nested node_modules. */
function ownTs(url) {
  return url.startsWith(root) && url.endsWith('.ts') && !url.slice(root.length).includes('node_modules/');
}

registerHooks({
  load(url, context, nextLoad) {
    if (!ownTs(url)) return nextLoad(url, context);
    const source = readFileSync(fileURLToPath(url), 'utf8');
    // 'strip' (the default) blanks the types in place, so stack traces keep their lines and columns
    return { format: 'module', source: stripTypeScriptTypes(source), shortCircuit: true };
  },
});

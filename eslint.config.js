import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * The dependency rule (docs/architecture.md): the core — canonical, writ, tlog, policy, ledger,
 * lineage, node — imports only what lies further in, and never does network I/O of its own.
 * Each core folder lists the folders it may NOT import; the outer folders (authority, sync,
 * enforce, server, console, home, telemetry, cli) may import the core, and only cli imports cli.
 */
const OUTER = ['authority', 'sync', 'enforce', 'server', 'console', 'home', 'telemetry', 'cli'];
const NETWORK = ['node:net', 'node:http', 'node:https', 'node:http2', 'node:dgram', 'node:tls', 'node:dns', 'node:child_process', 'fastify', '@fastify/*', '@nats-io/*', '@modelcontextprotocol/*', 'undici', '@grpc/*'];
const inward = (folder, alsoForbidden, extra = {}) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: NETWORK.filter((n) => !n.includes('*')).map((name) => ({ name, message: `the core does no network I/O (docs/architecture.md): ${folder}/ takes its transports as parameters` })),
        patterns: [
          { group: NETWORK.filter((n) => n.includes('*')), message: `the core does no network I/O (docs/architecture.md)` },
          { group: [...OUTER, ...alsoForbidden].map((f) => `../${f}/*`), message: `${folder}/ is core: it may import only folders further in (docs/architecture.md)` },
          ...(extra.patterns ?? []),
        ],
      },
    ],
  },
});

/*
 * The injected clock (docs/architecture.md): the core reads time only through src/clock.ts
 * (systemClock, or the Clock it is given) or an injected `now`, never the process's own beside it.
 * src/clock.ts itself is outside these files; a documented library default in writ/ says why
 * with an eslint-disable comment.
 */
const CLOCK_MESSAGE = 'read time through the injected clock (src/clock.ts, docs/architecture.md)';
const injectedClock = {
  files: ['canonical', 'writ', 'tlog', 'policy', 'ledger', 'lineage', 'node'].map((f) => `src/${f}/**/*.ts`),
  rules: {
    'no-restricted-syntax': [
      'error',
      { selector: "MemberExpression[object.name='Date'][property.name='now']", message: CLOCK_MESSAGE },
      { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: CLOCK_MESSAGE },
      { selector: "CallExpression[callee.name='Date']", message: CLOCK_MESSAGE },
    ],
  },
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.writ/', 'coverage/', 'packages/*/dist/', 'packages/*/node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  // before the core's own rules: a later block replaces the rule for the files it names
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../cli/*', '../../cli/*'], message: 'only the CLI imports the CLI (docs/architecture.md)' }] }] },
  },
  inward('canonical', ['writ', 'tlog', 'policy', 'ledger', 'lineage', 'node'], { patterns: [{ group: ['../*.ts'], message: 'canonical/ imports nothing of Writ' }] }),
  // writ/ is also the standalone `writ/verify` (browsers, executors): jose, canonicalize and WebCrypto only
  inward('writ', ['tlog', 'policy', 'ledger', 'lineage', 'node'], { patterns: [{ group: ['../*.ts'], message: 'writ/ is standalone: it imports only canonical/ of Writ' }, { group: ['node:*', '!node:crypto'], message: 'writ/ runs in browsers: no Node modules but node:crypto (issue.ts)' }, { group: ['pg'], message: 'writ/ is standalone' }] }),
  // tlog/ is the C2SP / RFC 6962 spec code (Merkle, notes, checkpoints, tiles, proof files), runtime-neutral:
  // no Node module at all (SHA-256 and Ed25519 come in through tlog/crypto.ts), of Writ only canonical/ and WritError
  inward('tlog', ['policy', 'ledger', 'lineage', 'node'], {
    patterns: [
      { group: ['../*.ts'], message: 'tlog/ is spec code: it imports only canonical/ and writ/errors.ts of Writ' },
      { group: ['../writ/*', '!../writ/errors.ts'], message: 'tlog/ imports of writ/ only errors.ts (WritError)' },
      { group: ['node:*', ...builtinModules], message: 'tlog/ runs in browsers: no Node module (SHA-256 and Ed25519 are injected: tlog/crypto.ts, ledger/node-crypto.ts)' },
      { group: ['pg'], message: 'tlog/ keeps no database: storage is ledger/' },
    ],
  }),
  inward('policy', ['ledger', 'lineage', 'node'], { patterns: [{ group: ['pg'], message: 'policy/ keeps no database' }] }),
  inward('ledger', ['policy', 'lineage', 'node']),
  inward('lineage', ['policy', 'node'], { patterns: [{ group: ['pg'], message: 'lineage/ reads the ledger it is given' }] }),
  inward('node', [], { patterns: [{ group: ['pg'], message: 'node/ takes its storage as a parameter' }] }),
  injectedClock,
  {
    files: ['bin/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);

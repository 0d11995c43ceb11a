/**
 * Vite build of the web console: src/console/web → dist/console, served by
 * src/console/routes.ts under /console/. The project's own verification code
 * (src/writ/verify.ts, src/ledger/proof-file.ts, note.ts, merkle.ts) is bundled as
 * is; `node:crypto` is replaced by a browser shim (SHA-256 in JS, Ed25519 answered
 * by WebCrypto) and Buffer by the `buffer` package.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./web'),
  base: '/console/',
  publicDir: false,
  logLevel: 'warn',
  resolve: {
    alias: { 'node:crypto': here('./web/shims/node-crypto.ts') },
  },
  build: {
    outDir: here('../../dist/console'),
    emptyOutDir: true,
    target: 'es2023',
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1200,
    reportCompressedSize: false,
  },
});

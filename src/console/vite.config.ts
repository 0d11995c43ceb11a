/**
 * Vite build of the web console: src/console/web → dist/console, served by
 * src/console/routes.ts under /console/. The project's own verification code
 * (src/writ/verify.ts, src/tlog/proof-file.ts, note.ts, checkpoint.ts, merkle.ts) is
 * bundled as is, with no shim: the tlog modules import nothing of Node (their SHA-256 is
 * JavaScript, installed by web/main.ts; web/verify/proofs.ts judges signatures with WebCrypto through
 * src/tlog/async-crypto.ts)
 * and writ/verify uses jose with WebCrypto.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./web'),
  base: '/console/',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: here('../../dist/console'),
    emptyOutDir: true,
    target: 'es2023',
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1200,
    reportCompressedSize: false,
  },
});

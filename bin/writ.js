#!/usr/bin/env node
// Entry for `npx writ` / the package bin: runs the TypeScript CLI on Node 24 (type stripping).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`writ needs Node.js 24 or later (this is ${process.version}); run it through npm (npm run writ -- ...) or npx, which use the project's Node 24`);
  process.exit(1);
}
await import('../src/cli/main.ts');

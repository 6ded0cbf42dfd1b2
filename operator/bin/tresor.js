#!/usr/bin/env node
// Entry point for `npm exec -- tresor`: Node 24 runs the TypeScript sources directly (type stripping).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`tresor needs Node 24 or newer (this is ${process.version}); run it as 'npm exec -- tresor' from the repo root\n`);
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

// Fails (exit 1, with a diff) when crds/*.yaml differ from what operator/src/api generates.
// Usage: npx node hack/verify-crds.ts [--dir DIR]
import { fileURLToPath } from 'node:url';
import { formatDrift, verifyCrds } from '../operator/src/api/crdfiles.ts';
import { ALL_KINDS } from '../operator/src/api/kinds.ts';

function main(argv: readonly string[]): number {
  const i = argv.indexOf('--dir');
  const dir = i >= 0 ? argv[i + 1] : fileURLToPath(new URL('../crds', import.meta.url));
  if (!dir) {
    console.error('usage: verify-crds.ts [--dir DIR]');
    return 2;
  }
  const drift = verifyCrds(dir, ALL_KINDS);
  if (drift.length > 0) {
    process.stderr.write(formatDrift(drift, dir));
    return 1;
  }
  console.log(`CRDs in ${dir} match operator/src/api (${ALL_KINDS.length} kinds)`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));

// Regenerates crds/*.yaml from the schemas in operator/src/api. Usage: npx node hack/update-crds.ts [--dir DIR]
import { fileURLToPath } from 'node:url';
import { writeCrds } from '../operator/src/api/crdfiles.ts';
import { ALL_KINDS } from '../operator/src/api/kinds.ts';

function main(argv: readonly string[]): number {
  const i = argv.indexOf('--dir');
  const dir = i >= 0 ? argv[i + 1] : fileURLToPath(new URL('../crds', import.meta.url));
  if (!dir) {
    console.error('usage: update-crds.ts [--dir DIR]');
    return 2;
  }
  for (const f of writeCrds(dir, ALL_KINDS)) console.log(`wrote ${dir}/${f}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));

// Regenerates crds/*.yaml from the schemas in operator/src/api, and the generated sections (field reference,
// examples) of docs/api/*.md. Usage: npx node hack/update-crds.ts [--dir DIR]  (DIR: CRDs only, no docs)
import { fileURLToPath } from 'node:url';
import { writeCrds, writeDocs } from '../operator/src/api/crdfiles.ts';
import { ALL_KINDS } from '../operator/src/api/kinds.ts';

function main(argv: readonly string[]): number {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const i = argv.indexOf('--dir');
  const dir = i >= 0 ? argv[i + 1] : `${root}crds`;
  if (!dir) {
    console.error('usage: update-crds.ts [--dir DIR]');
    return 2;
  }
  for (const f of writeCrds(dir, ALL_KINDS)) console.log(`wrote ${dir}/${f}`);
  if (i < 0) for (const f of writeDocs(root, ALL_KINDS)) console.log(`updated ${f}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));

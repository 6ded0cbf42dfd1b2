// Fails (exit 1, with a diff) when crds/*.yaml, or the generated sections of docs/api/*.md, differ from what
// operator/src/api and crds/examples generate. Usage: npx node hack/verify-crds.ts [--dir DIR]  (DIR: CRDs only)
import { fileURLToPath } from 'node:url';
import { formatDrift, verifyCrds, verifyDocs } from '../operator/src/api/crdfiles.ts';
import { ALL_KINDS } from '../operator/src/api/kinds.ts';

function main(argv: readonly string[]): number {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const i = argv.indexOf('--dir');
  const dir = i >= 0 ? argv[i + 1] : `${root}crds`;
  if (!dir) {
    console.error('usage: verify-crds.ts [--dir DIR]');
    return 2;
  }
  const drift = [...verifyCrds(dir, ALL_KINDS), ...(i < 0 ? verifyDocs(root, ALL_KINDS) : [])];
  if (drift.length > 0) {
    process.stderr.write(formatDrift(drift, dir));
    return 1;
  }
  console.log(`CRDs in ${dir}${i < 0 ? ' and docs/api' : ''} match operator/src/api (${ALL_KINDS.length} kinds)`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));

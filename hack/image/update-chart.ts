// Builds the image and writes its digest into the chart's values.yaml (image.digest), so the chart installs
// exactly the image this tree builds:   npm run image:chart   (--verify: only check, exit 1 when stale).
// The digest does not depend on values.yaml (no input of the image), so the update can be committed after
// the change that needed it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, cacheDir } from './build.ts';

/** The chart's values file. */
export const VALUES = fileURLToPath(new URL('../../charts/tresor/values.yaml', import.meta.url));
const DIGEST_LINE = /^( {2}digest: )"[^"]*"/m;

/** The image.digest the chart's values.yaml names. */
export function chartDigest(): string {
  const m = /^ {2}digest: "([^"]*)"/m.exec(readFileSync(VALUES, 'utf8'));
  if (!m) throw new Error(`${VALUES} has no image.digest line`);
  return m[1]!;
}

function main(): void {
  const verify = process.argv.includes('--verify');
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const cache = cacheDir();
  const built = buildImage({ repo, out: join(cache, 'image', 'out'), cache });
  const current = chartDigest();
  if (current === built.manifestDigest) {
    process.stdout.write(`chart image.digest is ${current}, the digest of this tree's image\n`);
    return;
  }
  if (verify) {
    process.stderr.write(`charts/tresor/values.yaml names image ${current}, but this tree builds ${built.manifestDigest} (revision ${built.revision}); run npm run image:chart\n`);
    process.exit(1);
  }
  writeFileSync(VALUES, readFileSync(VALUES, 'utf8').replace(DIGEST_LINE, `$1"${built.manifestDigest}"`));
  process.stdout.write(`chart image.digest set to ${built.manifestDigest} (revision ${built.revision})\n`);
}

if (import.meta.main) main();

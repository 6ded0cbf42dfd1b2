// What goes into the operator image, gathered from the checkout and caches outside it: production npm
// dependencies staged with `npm ci --omit=dev` under the cache, the static hole-detection helper built
// from hack/extents, the Node.js binary of node_modules/node with the shared libraries it loads, and the
// operator's tracked sources (tests and test fixtures left out).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { OtherComponent } from './sbom.ts';

/** A file to put into the image: where it comes from and its path in the image. */
export interface ImageFile {
  readonly from: string;
  readonly to: string;
  readonly mode: number;
}

/** The paths whose last commit is the image's revision (and whose commit time dates its files). */
export const INPUT_PATHS = ['operator', 'package.json', 'package-lock.json', 'hack/image', 'hack/extents'];

const run = (cmd: string, args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', env: env ?? process.env, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/**
 * The revision and date of the inputs: the newest commit that changed them (so updating the chart's
 * digest, which is no input, does not change the image), `-dirty` when the work tree changed them.
 */
export function revision(repo: string): { revision: string; epoch: number } {
  const [sha, time] = run('git', ['log', '-1', '--format=%H %ct', '--', ...INPUT_PATHS], repo).split(' ');
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no', '--', ...INPUT_PATHS], repo) !== '';
  return { revision: `${sha}${dirty ? '-dirty' : ''}`, epoch: Number(time) };
}

/** Production dependencies installed once per lockfile into `cache/image/prod-<hash>/node_modules`. */
export function prodDeps(repo: string, cache: string): string {
  const lock = readFileSync(join(repo, 'package-lock.json'));
  const pkg = readFileSync(join(repo, 'package.json'));
  const key = createHash('sha256').update(pkg).update(lock).digest('hex').slice(0, 16);
  const dir = join(cache, 'image', `prod-${key}`);
  if (existsSync(join(dir, 'node_modules', '.package-lock.json'))) return join(dir, 'node_modules');
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  copyFileSync(join(repo, 'package.json'), join(tmp, 'package.json'));
  copyFileSync(join(repo, 'package-lock.json'), join(tmp, 'package-lock.json'));
  // --ignore-scripts: nothing runs at install; the one package with a script (`node`, which fetches the
  // runtime) is not used from here: the runtime comes from the checkout's node_modules/node.
  process.stderr.write(`image: npm ci --omit=dev into ${dir}\n`);
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], tmp, { ...process.env, npm_config_engine_strict: 'false' });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return join(dir, 'node_modules');
}

/** The static tresor-extents binary, built from hack/extents once per source and Go version. */
export function extentsHelper(repo: string, cache: string): { path: string; go: string } {
  const src = join(repo, 'hack', 'extents');
  const go = run('go', ['env', 'GOVERSION'], src);
  const h = createHash('sha256').update(go);
  for (const f of readdirSync(src).sort()) h.update(f).update(readFileSync(join(src, f)));
  const out = join(cache, 'image', `tresor-extents-${h.digest('hex').slice(0, 16)}`);
  if (!existsSync(out)) {
    run('go', ['build', '-trimpath', '-ldflags=-s -w -buildid=', '-o', `${out}.tmp`, '.'], src, { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' });
    renameSync(`${out}.tmp`, out);
  }
  return { path: out, go };
}

/** The shared libraries a binary loads (from `ldd`), resolved to real files. */
export function sharedLibraries(binaries: readonly string[]): Array<{ soname: string; file: string }> {
  const found = new Map<string, string>();
  for (const b of binaries) {
    for (const line of run('ldd', [b], '/').split('\n')) {
      const m = /^\s*(\S+)\s+=>\s+(\S+)/.exec(line) ?? /^\s*(\/\S+ld-linux\S*)\s/.exec(line);
      if (m) found.set(basename(m[1]!), realpathSync(m[2] ?? m[1]!));
    }
  }
  return [...found].sort(([a], [b]) => (a < b ? -1 : 1)).map(([soname, file]) => ({ soname, file }));
}

/** The Debian packages (name and version) that own the given files, for the SBOM. */
export function debianPackages(files: readonly string[]): OtherComponent[] {
  const pkgs = new Set<string>();
  for (const f of files) {
    const candidates = [f, f.replace(/^\/usr\/lib\//, '/lib/'), f.replace(/^\/lib\//, '/usr/lib/')];
    for (const c of candidates) {
      try {
        pkgs.add(run('dpkg-query', ['-S', c], '/').split(':')[0]!);
        break;
      } catch {
        /* not this spelling of the path */
      }
    }
  }
  return [...pkgs].sort().map((name) => {
    const version = run('dpkg-query', ['-W', '-f=${Version}', `${name}:amd64`], '/');
    return { type: 'library', name, version, purl: `pkg:deb/debian/${name}@${encodeURIComponent(version)}?arch=amd64` };
  });
}

// Node never runs TypeScript from node_modules (type stripping refuses it), so packages' .ts sources and
// typings are dead weight, as are source maps, docs and tests.
const EXCLUDED_NAME = /(\.map|\.[cm]?ts|\.md|\.markdown)$|\.(test|spec)\.[cm]?js$/i;
const EXCLUDED_DIR = new Set(['test', 'tests', '__tests__', '.github', '.bin']);
const KEEP_MD = /^(licen[cs]e|notice|copying)/i;

/** Every file of the staged node_modules that runs (no source maps, TypeScript, docs or tests). */
export function nodeModulesFiles(nodeModules: string, omit: readonly string[]): ImageFile[] {
  const out: ImageFile[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        if (!EXCLUDED_DIR.has(name) && !(rel === '' && omit.includes(name))) walk(p, r);
      } else if (st.isFile() && name !== '.package-lock.json' && (!EXCLUDED_NAME.test(name) || KEEP_MD.test(name))) {
        out.push({ from: p, to: `app/node_modules/${r}`, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      }
    }
  };
  walk(nodeModules, '');
  return out;
}

/** The operator's tracked source files, without tests and test fixtures. */
export function operatorFiles(repo: string): ImageFile[] {
  return run('git', ['ls-files', '--', 'operator'], repo).split('\n')
    .filter((f) => f && !/\.test\.ts$/.test(f) && !/(^|\/)fixtures\.ts$/.test(f) && existsSync(join(repo, f)))
    .sort()
    .map((f) => ({ from: join(repo, f), to: `app/${f}`, mode: statSync(join(repo, f)).mode & 0o111 ? 0o755 : 0o644 }));
}

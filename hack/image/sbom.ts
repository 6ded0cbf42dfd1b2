// The image's software bill of materials as CycloneDX 1.5 JSON: every npm package installed for
// production (from npm's hidden lockfile of the staged node_modules, with its registry integrity hash),
// the Node.js runtime, the Debian packages whose shared libraries the runtime loads, and the Go-built
// hole-detection helper. Timestamp and serial number derive from the inputs, so the SBOM is reproducible.
import { createHash } from 'node:crypto';

/** A component outside npm (runtime, Debian library, Go helper). */
export interface OtherComponent {
  readonly type: 'application' | 'library' | 'platform';
  readonly name: string;
  readonly version: string;
  readonly purl: string;
}

interface LockEntry {
  readonly version?: string;
  readonly integrity?: string;
  readonly license?: string;
  readonly dev?: boolean;
}

function npmPurl(name: string, version: string): string {
  const [scope, bare] = name.startsWith('@') ? name.split('/') : [undefined, name];
  return `pkg:npm/${scope ? `${encodeURIComponent(scope)}/` : ''}${bare}@${version}`;
}

function hashes(integrity: string | undefined): Array<{ alg: string; content: string }> {
  const m = /^sha(512|384|256|1)-(.+)$/.exec(integrity ?? '');
  if (!m) return [];
  return [{ alg: m[1] === '1' ? 'SHA-1' : `SHA-${m[1]}`, content: Buffer.from(m[2]!, 'base64').toString('hex') }];
}

/** The npm components of a hidden lockfile (`node_modules/.package-lock.json`), sorted by name. */
export function npmComponents(lock: { packages?: Record<string, LockEntry> }, omit: readonly string[]): object[] {
  return Object.entries(lock.packages ?? {})
    .filter(([path, e]) => path.startsWith('node_modules/') && !e.dev && e.version)
    .map(([path, e]) => ({ name: path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length), e }))
    .filter(({ name }) => !omit.includes(name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(({ name, e }) => ({
      type: 'library', 'bom-ref': npmPurl(name, e.version!), name, version: e.version, purl: npmPurl(name, e.version!),
      ...(e.license ? { licenses: [{ license: { id: e.license } }] } : {}),
      hashes: hashes(e.integrity),
    }));
}

/** The whole SBOM document. */
export function cycloneDx(opts: {
  name: string; version: string; created: string; lock: { packages?: Record<string, LockEntry> }; omit: readonly string[]; others: readonly OtherComponent[];
}): object {
  const components = [
    ...opts.others.map((o) => ({ type: o.type, 'bom-ref': o.purl, name: o.name, version: o.version, purl: o.purl })),
    ...npmComponents(opts.lock, opts.omit),
  ];
  const seed = createHash('sha256').update(JSON.stringify(components)).digest('hex');
  const serial = `urn:uuid:${seed.slice(0, 8)}-${seed.slice(8, 12)}-5${seed.slice(13, 16)}-8${seed.slice(17, 20)}-${seed.slice(20, 32)}`;
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: serial,
    version: 1,
    metadata: {
      timestamp: opts.created,
      tools: [{ name: 'tresor hack/image/build.ts' }],
      component: { type: 'container', name: opts.name, version: opts.version },
    },
    components,
  };
}

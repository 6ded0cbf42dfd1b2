// Writes an image as an OCI image layout (oci-layout, index.json, blobs/sha256/…) and as one tarball that
// holds the same layout plus Docker's manifest.json, so `docker load`, `podman load` and `crane push`
// accept it. Every JSON document is serialised with a fixed key order, so the same layers and config
// give the same digests.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { tarBytes, type TarEntry } from './tar.ts';

/** A content-addressed blob. */
export interface Blob {
  readonly digest: string;
  readonly size: number;
  readonly data: Buffer;
}

/** One built layer: the compressed blob and the digest of its uncompressed tar (the config's diff_id). */
export interface Layer {
  readonly blob: Blob;
  readonly diffId: string;
  readonly name: string;
  /** Every entry's path, in layer order. */
  readonly paths: readonly string[];
}

/** The image config fields we set (the rest of the OCI config is derived). */
export interface ImageSpec {
  readonly created: string;
  readonly user: string;
  readonly env: readonly string[];
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly workingDir: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The repository:tag a `docker load` names the image. */
  readonly refName: string;
  readonly tag: string;
}

/** The written image. */
export interface BuiltImage {
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layers: readonly Layer[];
  readonly compressedBytes: number;
}

/** A blob of the given bytes. */
export function blob(data: Buffer): Blob {
  return { digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length, data };
}

/** Builds a gzip-compressed layer from tar entries (level 9; Node's gzip header has no name or time). */
export function layer(name: string, entries: readonly TarEntry[], mtime: number): Layer {
  const tar = tarBytes(entries, mtime);
  return { name, blob: blob(gzipSync(tar, { level: 9 })), diffId: blob(tar).digest, paths: entries.map((e) => e.path) };
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function configBlob(spec: ImageSpec, layers: readonly Layer[]): Blob {
  return blob(json({
    created: spec.created,
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: spec.user,
      Env: spec.env,
      Entrypoint: spec.entrypoint,
      Cmd: spec.cmd,
      WorkingDir: spec.workingDir,
      Labels: spec.labels,
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created: spec.created, created_by: `hack/image/build.ts: ${l.name}` })),
  }));
}

/** Writes the layout into `dir` (replaced) and the tarball at `tarball`; returns the digests. */
export function writeImage(spec: ImageSpec, layers: readonly Layer[], out: { dir: string; tarball: string }): BuiltImage {
  const config = configBlob(spec, layers);
  const manifest = blob(json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.blob.digest, size: l.blob.size })),
    annotations: { 'org.opencontainers.image.created': spec.created, ...pick(spec.labels, ['org.opencontainers.image.source', 'org.opencontainers.image.revision', 'org.opencontainers.image.version']) },
  }));
  const index = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size,
      annotations: { 'io.containerd.image.name': spec.refName, 'org.opencontainers.image.ref.name': spec.tag },
    }],
  });
  const hex = (b: Blob): string => b.digest.slice('sha256:'.length);
  const dockerManifest = json([{ Config: `blobs/sha256/${hex(config)}`, RepoTags: [spec.refName], Layers: layers.map((l) => `blobs/sha256/${hex(l.blob)}`) }]);
  const blobs = [config, manifest, ...layers.map((l) => l.blob)];
  const files: Array<[string, Buffer]> = [
    ['oci-layout', json({ imageLayoutVersion: '1.0.0' })],
    ['index.json', index],
    ...blobs.map((b): [string, Buffer] => [`blobs/sha256/${hex(b)}`, b.data]),
  ];
  rmSync(out.dir, { recursive: true, force: true });
  mkdirSync(join(out.dir, 'blobs', 'sha256'), { recursive: true });
  for (const [name, data] of files) writeFileSync(join(out.dir, name), data);
  // The tarball: the same layout, plus manifest.json for loaders of Docker's archive format.
  const entries: TarEntry[] = [
    { kind: 'dir', path: 'blobs', mode: 0o755 },
    { kind: 'dir', path: 'blobs/sha256', mode: 0o755 },
    ...[...files, ['manifest.json', dockerManifest] as [string, Buffer]].sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([path, data]): TarEntry => ({ kind: 'file', path, mode: 0o644, data })),
  ];
  writeFileSync(out.tarball, tarBytes(entries, 0));
  return {
    manifestDigest: manifest.digest,
    configDigest: config.digest,
    layers,
    compressedBytes: config.size + manifest.size + layers.reduce((n, l) => n + l.blob.size, 0),
  };
}

function pick(labels: Readonly<Record<string, string>>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => labels[k] !== undefined).map((k) => [k, labels[k]!]));
}

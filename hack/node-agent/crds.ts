// The CRDs the stand-ins serve: CSI snapshots (the official YAMLs of kubernetes-csi/external-snapshotter,
// fetched once through the Go module proxy into the cache outside the repo) and the test CRDs for
// KubeVirt's VirtualMachine and VirtualMachineInstance written in hack/crds/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { isStatus, type Rest } from './rest.ts';

/** The external-snapshotter client module whose config/crd/ holds snapshot.storage.k8s.io/v1. */
export const SNAPSHOTTER_MODULE = 'github.com/kubernetes-csi/external-snapshotter/client/v8@v8.7.0';
const SNAPSHOT_CRDS = ['volumesnapshotclasses', 'volumesnapshotcontents', 'volumesnapshots'];
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** Files of the CRDs the agent installs (downloads the snapshotter module on first use). */
export function crdFiles(env: NodeJS.ProcessEnv): string[] {
  const cache = env.TRESOR_CACHE ?? join(homedir(), '.cache', 'tresor');
  const gomod = join(cache, 'gomod');
  const kubevirt = fileURLToPath(new URL('../crds/kubevirt.yaml', import.meta.url));
  const files = (dir: string): string[] => [...SNAPSHOT_CRDS.map((n) => join(dir, 'config', 'crd', `snapshot.storage.k8s.io_${n}.yaml`)), kubevirt];
  // The module cache's layout is fixed (path@version, lower-case path): a cached module needs no `go`
  // process, which on a loaded machine took seconds of every agent's start-up.
  const cached = files(join(gomod, ...SNAPSHOTTER_MODULE.split('/')));
  if (cached.every((f) => existsSync(f))) return cached;
  mkdirSync(gomod, { recursive: true });
  const out = execFileSync('go', ['mod', 'download', '-json', SNAPSHOTTER_MODULE], {
    cwd: tmpdir(), encoding: 'utf8', env: { ...env, GOMODCACHE: gomod, GOFLAGS: '-mod=mod', GO111MODULE: 'on' }, timeout: 300_000,
  });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`go mod download ${SNAPSHOTTER_MODULE} gave no Dir: ${out}`);
  return files(dir);
}

async function applyCrd(rest: Rest, crd: V1CustomResourceDefinition): Promise<void> {
  const name = crd.metadata!.name!;
  for (let attempt = 0; ; attempt++) {
    try {
      await rest.create(CRD_PATH, crd);
      return;
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
    const cur = await rest.get<V1CustomResourceDefinition>(`${CRD_PATH}/${name}`);
    if (JSON.stringify(cur.spec?.versions?.map((v) => v.schema)) === JSON.stringify(crd.spec.versions.map((v) => v.schema))) return;
    try {
      await rest.put(`${CRD_PATH}/${name}`, { ...crd, metadata: { ...crd.metadata, resourceVersion: cur.metadata?.resourceVersion } });
      return;
    } catch (err) {
      // Another agent starting at the same moment updated it first: look again.
      if (!isStatus(err, 409) || attempt >= 5) throw err;
    }
  }
}

async function established(rest: Rest, name: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const crd = await rest.get<V1CustomResourceDefinition>(`${CRD_PATH}/${name}`);
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 120 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates or updates the CRDs in the given YAML files and waits until each is Established. */
export async function installCrds(rest: Rest, files: readonly string[]): Promise<void> {
  const crds = files.flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as V1CustomResourceDefinition | null))
    .filter((c): c is V1CustomResourceDefinition => c?.kind === 'CustomResourceDefinition');
  for (const crd of crds) await applyCrd(rest, crd);
  for (const crd of crds) await established(rest, crd.metadata!.name!);
}

// What makes every pod the operator creates pass Pod Security Admission `restricted` (ADR 0092): non-root
// with a fixed UID/GID, no privilege escalation, every capability dropped, the runtime's default seccomp
// profile, a read-only root filesystem with an emptyDir at /tmp, and resource requests and limits. Block
// devices are opened as that UID too: the container runtime hands the device to the pod's user
// (containerd/CRI-O `device_ownership_from_security_context`), so no pod runs as root.
import type { V1Container, V1PodSpec, V1ResourceRequirements } from '@kubernetes/client-node';

/** The UID and GID operator-made pods run as (the image's non-root user). */
export const POD_UID = 65532;

/** Requests and limits of the pods that move data (transfer, restore, maintenance) and of the small ones (snapshot, check). */
export interface PodResources {
  readonly data: V1ResourceRequirements;
  readonly small: V1ResourceRequirements;
}

/**
 * The defaults: a data pod holds (6 read + 16 upload) buffers of one block (1 MiB by default, ADR 0012),
 * so 1 GiB covers blocks up to 32 MiB; vaults with 64 MiB blocks need TRESOR_POD_MEMORY_LIMIT raised.
 */
export const DEFAULT_POD_RESOURCES: PodResources = Object.freeze({
  data: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  small: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } },
});

const TMP = { name: 'tmp', mountPath: '/tmp' };

/** One container with the restricted security context, /tmp mounted and the given resources. */
function hardenContainer(c: V1Container, resources: V1ResourceRequirements): V1Container {
  return {
    ...c,
    resources: structuredClone(resources),
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
    volumeMounts: [...(c.volumeMounts ?? []), { ...TMP }],
  };
}

/**
 * `spec` hardened for PSA `restricted`; `token: false` also keeps the ServiceAccount token out of a pod
 * that never calls the API (check and maintenance pods).
 */
export function hardenPodSpec(spec: V1PodSpec, o: { resources: V1ResourceRequirements; token: boolean }): V1PodSpec {
  return {
    ...spec,
    automountServiceAccountToken: o.token,
    securityContext: { runAsNonRoot: true, runAsUser: POD_UID, runAsGroup: POD_UID, fsGroup: POD_UID, seccompProfile: { type: 'RuntimeDefault' } },
    volumes: [...(spec.volumes ?? []), { name: TMP.name, emptyDir: { sizeLimit: '64Mi' } }],
    containers: spec.containers.map((c) => hardenContainer(c, o.resources)),
  };
}

// CSI VolumeSnapshots (snapshot.storage.k8s.io/v1) as Tresor reads and creates them.
import type { KubernetesObject } from '@kubernetes/client-node';

/** The custom-objects coordinates of VolumeSnapshots. */
export const SNAPSHOTS = { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' } as const;

/** A VolumeSnapshot, as far as Tresor reads it. */
export interface VolumeSnapshot extends KubernetesObject {
  spec?: { source?: { persistentVolumeClaimName?: string }; volumeSnapshotClassName?: string };
  status?: { readyToUse?: boolean; restoreSize?: string; creationTime?: string; error?: { message?: string; time?: string } };
}

// A restore pod's live progress on the VirtualMachineRestore's status: the same pod Event the transfer
// pods keep (ADR 0052) relayed by the same rate-limited, forward-only ProgressRelay; here the sample
// becomes the disk's bytesWritten and progress, and the restore's total.
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/constants.ts';
import type { DiskRestoreStatus, VirtualMachineRestoreStatus } from '../api/virtualmachinerestore.ts';
import { readOrUndefined } from '../backup/kube/client.ts';
import { ProgressRelay } from '../backup/kube/transfer-progress.ts';
import { decodeProgress, jobProgress, PROGRESS_ANNOTATION, progressEntry, progressEventName, type TransferProgress } from '../backup/progress.ts';
import type { Logger } from '../runtime/log.ts';
import { customObjectStatusApi, writeStatus } from '../runtime/status.ts';
import type { RestoreRef } from './ports.ts';

/**
 * The restore's status with one disk's sample applied, or the very same object when nothing changes:
 * the disk is unknown or finished, or the sample is not ahead of what the disk shows.
 */
export function withRestoreProgress(status: VirtualMachineRestoreStatus | undefined, disk: string, p: TransferProgress): VirtualMachineRestoreStatus | undefined {
  const disks = status?.disks;
  const cur = disks?.find((d) => d.name === disk);
  if (!status || !disks || !cur || cur.phase === 'Succeeded' || cur.phase === 'Failed') return status;
  if ((cur.progress?.bytesDone ?? -1) >= p.bytesDone) return status;
  const next: DiskRestoreStatus = { ...cur, phase: 'Running', bytesWritten: p.bytesDone, progress: progressEntry(p) };
  const all = disks.map((d) => (d.name === disk ? next : d));
  return { ...status, disks: all, progress: jobProgress(all) };
}

/** The real ends of a restore pod's relay: its progress Event, and the restore's status. */
export function kubeRestoreProgressRelay(kc: KubeConfig, o: { ref: RestoreRef; disk: string; podName: string; log?: Logger }): ProgressRelay {
  const core = kc.makeApiClient(CoreV1Api);
  const api = customObjectStatusApi<VirtualMachineRestoreStatus>(kc, { group: GROUP, version: VERSION, plural: 'virtualmachinerestores' });
  return new ProgressRelay({
    what: o.podName,
    ...(o.log ? { log: o.log } : {}),
    read: async () => {
      const ev: CoreV1Event | undefined = await readOrUndefined(() => core.readNamespacedEvent({ namespace: o.ref.namespace, name: progressEventName(o.podName) }));
      return decodeProgress(ev?.metadata?.annotations?.[PROGRESS_ANNOTATION]);
    },
    write: async (p) => {
      await writeStatus<VirtualMachineRestoreStatus>({
        api, ref: { namespace: o.ref.namespace, name: o.ref.name },
        mutate: (cur) => withRestoreProgress(cur.status, o.disk, p) as VirtualMachineRestoreStatus,
      });
    },
  });
}

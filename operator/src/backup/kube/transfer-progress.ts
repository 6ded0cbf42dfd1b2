// Relays a running transfer pod's progress onto the job's status while the operator waits for the pod:
// at most one read of the pod's progress Event and at most one status write per interval, only when the
// sample moved forward. Progress is a report, not state: a failed read or write is logged once and the
// transfer goes on; nothing here is checkpointed by the workflow.
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/constants.ts';
import type { VirtualMachineBackupStatus } from '../../api/virtualmachinebackup.ts';
import { silentLogger, type Logger } from '../../runtime/log.ts';
import { customObjectStatusApi, writeStatus } from '../../runtime/status.ts';
import type { JobRef } from '../ports.ts';
import { decodeProgress, PROGRESS_ANNOTATION, progressEventName, withDiskProgress, type TransferProgress } from '../progress.ts';
import { readOrUndefined } from './client.ts';

/** Options of ProgressRelay. */
export interface ProgressRelayOptions {
  /** Reads the pod's latest sample (undefined when it has reported none yet). */
  readonly read: () => Promise<TransferProgress | undefined>;
  /** Writes a sample onto the job's status. */
  readonly write: (p: TransferProgress) => Promise<void>;
  /** Least time between two reads (and so between two writes); default 3 s. */
  readonly intervalMs?: number;
  readonly now?: () => number;
  readonly log?: Logger;
  /** What is relayed, for the log line. */
  readonly what: string;
}

/** Forwards one transfer attempt's samples, rate-limited and only forward. */
export class ProgressRelay {
  private readonly o: ProgressRelayOptions;
  private readonly now: () => number;
  private lastPoll = Number.NEGATIVE_INFINITY;
  private lastDone = -1;
  private complained = false;

  constructor(o: ProgressRelayOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
  }

  /** Called on every look at the running pod; does nothing until the interval has passed. Never throws. */
  async poll(): Promise<void> {
    const now = this.now();
    if (now - this.lastPoll < (this.o.intervalMs ?? 3000)) return;
    this.lastPoll = now;
    await this.relay();
  }

  /** Relays the pod's last sample now, whatever the interval (once the pod succeeded). Never throws. */
  flush(): Promise<void> {
    this.lastPoll = this.now();
    return this.relay();
  }

  private async relay(): Promise<void> {
    try {
      const p = await this.o.read();
      if (p === undefined || p.bytesDone <= this.lastDone) return;
      await this.o.write(p);
      this.lastDone = p.bytesDone;
    } catch (err) {
      if (this.complained) return;
      this.complained = true;
      (this.o.log ?? silentLogger).warn('transfer progress not relayed (the transfer goes on)', { transfer: this.o.what, error: err });
    }
  }
}

/** The real ends of a relay: the pod's progress Event, and the job's status through the status writer. */
export function kubeProgressRelay(kc: KubeConfig, o: { job: JobRef; disk: string; attempt: number; podName: string; intervalMs?: number; log?: Logger }): ProgressRelay {
  const core = kc.makeApiClient(CoreV1Api);
  const api = customObjectStatusApi<VirtualMachineBackupStatus>(kc, { group: GROUP, version: VERSION, plural: 'virtualmachinebackups' });
  return new ProgressRelay({
    what: o.podName,
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
    ...(o.log ? { log: o.log } : {}),
    read: async () => {
      const ev: CoreV1Event | undefined = await readOrUndefined(() => core.readNamespacedEvent({ namespace: o.job.namespace, name: progressEventName(o.podName) }));
      return decodeProgress(ev?.metadata?.annotations?.[PROGRESS_ANNOTATION]);
    },
    write: async (progress) => {
      await writeStatus<VirtualMachineBackupStatus>({
        api,
        ref: { namespace: o.job.namespace, name: o.job.name },
        // An absent status comes back as undefined, which the writer sees as unchanged.
        mutate: (cur) => withDiskProgress(cur.status, { disk: o.disk, attempt: o.attempt, progress }) as VirtualMachineBackupStatus,
      });
    },
  });
}

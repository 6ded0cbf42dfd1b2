// The VirtualMachineRestore controller: a new restore gets the finalizer and its durable workflow (ID =
// the restore's UID, so starting it again attaches to the same run); deleting an in-flight restore
// cancels the workflow, removes its pods, PVCs and any VM it created, and only then releases the
// finalizer. A finished restore's VM and PVCs are never touched by deleting it. The workflow writes the
// status itself; this controller writes only what the workflow cannot: why a workflow that threw failed.
import { FINALIZER, Reasons } from '../api/constants.ts';
import type { VirtualMachineRestoreObject } from '../api/types.ts';
import type { RestoreCluster, RestoreRef } from '../restore/ports.ts';
import * as S from '../restore/status.ts';
import type { RestoreResult, RestoreWorkflows } from '../restore/workflow.ts';
import { formatTime } from '../runtime/conditions.ts';
import { handleFinalizer, type FinalizerApi } from '../runtime/finalizers.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { done, type Outcome, type Reconciler } from '../runtime/reconciler.ts';
import type { WorkflowControl } from './backup.ts';

/** What the restore controller works with. */
export interface RestoreControllerDeps {
  readonly cluster: RestoreCluster;
  readonly workflows: RestoreWorkflows;
  readonly control: WorkflowControl;
  readonly finalizers: FinalizerApi;
  readonly log?: Logger;
  readonly now?: () => number;
}

/** True once the restore reached a final phase (its workflow is over). */
export function isRestoreFinished(r: VirtualMachineRestoreObject): boolean {
  return r.status?.phase === 'Succeeded' || r.status?.phase === 'Failed';
}

const KNOWN_REASONS = new Set<string>(Object.values(Reasons));

/** The summary reason for a workflow that threw: the typed error's reason when it is one of ours, else RestoreFailed. */
export function restoreFailureReason(err: unknown): string {
  const reason = (err as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && KNOWN_REASONS.has(reason) ? reason : Reasons.RestoreFailed;
}

function refOf(r: VirtualMachineRestoreObject): RestoreRef {
  return { namespace: r.metadata.namespace ?? '', name: r.metadata.name ?? '', uid: r.metadata.uid ?? '' };
}

/** The controller's state across passes: the workflows this process is waiting on. */
export class RestoreController {
  private readonly deps: RestoreControllerDeps;
  private readonly log: Logger;
  private readonly watching = new Map<string, Promise<void>>();
  private readonly cancelled = new Set<string>();

  constructor(deps: RestoreControllerDeps) {
    this.deps = deps;
    this.log = deps.log ?? silentLogger;
  }

  /** The reconciler to hand to the runtime's Controller. */
  readonly reconcile: Reconciler<VirtualMachineRestoreObject> = async (restore): Promise<Outcome> => {
    const ref = refOf(restore);
    const result = await handleFinalizer({
      api: this.deps.finalizers, object: restore, ref, finalizer: FINALIZER,
      cleanup: () => this.finalize(restore, ref),
    });
    if (result === 'finalized' || isRestoreFinished(restore)) return done();
    if (!this.watching.has(ref.uid)) await this.start(ref);
    return done();
  };

  /** Resolves once every workflow this controller watches has ended (tests, graceful stop). */
  async idle(): Promise<void> {
    await Promise.all([...this.watching.values()]);
  }

  private async finalize(restore: VirtualMachineRestoreObject, ref: RestoreRef): Promise<void> {
    const finished = isRestoreFinished(restore);
    if (!finished) {
      // Cancel first: a running workflow would otherwise create children behind the cleanup's back.
      this.cancelled.add(ref.uid);
      await this.deps.control.cancel(ref.uid);
    }
    // A finished restore keeps its result (a Succeeded one's VM and PVCs; a Failed one has none left).
    await this.deps.cluster.cleanup(ref, { keepTarget: finished });
  }

  private async start(ref: RestoreRef): Promise<void> {
    const handle = await this.deps.workflows.start(ref);
    const watched = handle.getResult().then(
      (r: RestoreResult) => this.log.info('restore ended', { restore: `${ref.namespace}/${ref.name}`, phase: r.phase }),
      (err: unknown) => this.recordFailure(ref, err),
    ).catch((err: unknown) => this.log.error('recording a failed restore', { restore: `${ref.namespace}/${ref.name}`, error: err }))
      .finally(() => this.watching.delete(ref.uid));
    this.watching.set(ref.uid, watched);
  }

  private async recordFailure(ref: RestoreRef, err: unknown): Promise<void> {
    if (this.cancelled.has(ref.uid)) return;
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn('restore workflow failed', { restore: `${ref.namespace}/${ref.name}`, error: message });
    await this.deps.cluster.cleanup(ref, { keepTarget: false });
    const now = this.deps.now ?? Date.now;
    await this.deps.cluster.writeStatus(ref, S.failed(restoreFailureReason(err), message, formatTime(now())));
  }
}

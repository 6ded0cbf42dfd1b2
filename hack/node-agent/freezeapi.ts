// What virt-api and virt-handler answer to freeze and unfreeze, played by the simulated guest: the VMI
// must be running (409 otherwise) with its guest agent connected (409 "VMI does not have guest agent
// connected"); a guest whose freeze fails answers 500 as a failing qemu-guest-agent command does; slow
// guests answer late. A freeze sets a thaw deadline from unfreezeTimeout (required, a Go duration).
import { failure, type Answer, type SubresourceHandler } from './aggregated.ts';
import type { FreezeState } from './freeze.ts';
import { guestOf, parseGoDuration } from './guest.ts';
import type { KubeVirt } from './kubevirt.ts';
import type { Log } from './log.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The freeze/unfreeze handler over the KubeVirt stand-in's cache and the freeze state. */
export function freezeHandler(kubevirt: KubeVirt, freezes: FreezeState, log: Log): SubresourceHandler {
  return async ({ ns, name, action, body }): Promise<Answer> => {
    if (action !== 'freeze' && action !== 'unfreeze') return kubevirt.vmAction(ns, name, action);
    const { vmi, vm } = kubevirt.lookup(ns, name);
    if (!vmi) return failure(404, 'NotFound', `virtualmachineinstance.kubevirt.io "${name}" not found`);
    if (vmi.status?.phase !== 'Running') return failure(409, 'Conflict', `Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "${name}": VMI is not running`);
    const guest = guestOf(vmi.metadata?.annotations, vm?.metadata?.annotations);
    if (!guest.agent) return failure(409, 'Conflict', `Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "${name}": VMI does not have guest agent connected`);
    const key = `${ns}/${name}`;
    if (action === 'unfreeze') {
      await sleep(guest.thawDelaySeconds * 1000);
      freezes.thaw(key, 'unfreeze');
      await kubevirt.publishFreeze(ns, name); // answer once the VMI shows it, as virt-handler's status update precedes the next query
      log.info(`vmi ${key} thawed`);
      return { code: 200, body: {} };
    }
    const timeoutMs = parseGoDuration((body as { unfreezeTimeout?: string } | undefined)?.unfreezeTimeout);
    if (timeoutMs === undefined || timeoutMs <= 0) return failure(400, 'BadRequest', 'unfreezeTimeout must be a positive duration such as "5m"');
    await sleep(guest.freezeDelaySeconds * 1000);
    if (guest.freeze === 'fail') {
      log.info(`vmi ${key}: simulated freeze failure`);
      return failure(500, 'InternalError', `Internal error occurred: server error. command Freeze failed: "LibvirtError(Code=1, Domain=10, Message='internal error: unable to execute QEMU agent command 'guest-fsfreeze-freeze': simulated fsfreeze failure')"`);
    }
    freezes.freeze(key, timeoutMs);
    await kubevirt.publishFreeze(ns, name);
    log.info(`vmi ${key} frozen (auto-thaw in ${timeoutMs} ms)`);
    return { code: 200, body: {} };
  };
}

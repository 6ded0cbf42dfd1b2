// The list of Tresor kinds, in the order documentation and generated files present them.
import { BackupPolicy } from './backuppolicy.ts';
import { BackupVault } from './backupvault.ts';
import type { KindName } from './constants.ts';
import type { KindDefinition } from './kind.ts';
import { RecoveryPoint } from './recoverypoint.ts';
import { VirtualMachineBackup } from './virtualmachinebackup.ts';
import { VirtualMachineRestore } from './virtualmachinerestore.ts';

/** Every Tresor kind. */
export const ALL_KINDS: readonly KindDefinition[] = [BackupVault, BackupPolicy, VirtualMachineBackup, RecoveryPoint, VirtualMachineRestore];

/** The definition of `kind`; throws for a kind Tresor does not define. */
export function kindDefinition(kind: string): KindDefinition {
  const def = ALL_KINDS.find((k) => k.kind === kind);
  if (!def) throw new Error(`unknown kind ${kind}; Tresor defines ${ALL_KINDS.map((k) => k.kind).join(', ')}`);
  return def;
}

/** A Tresor kind name, narrowed. */
export function isKindName(kind: string): kind is KindName {
  return ALL_KINDS.some((k) => k.kind === kind);
}

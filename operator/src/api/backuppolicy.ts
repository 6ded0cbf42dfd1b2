// BackupPolicy: which VMs to back up, when, into which vault, how consistent the snapshot must be, and
// how long recovery points are kept.
import { Type, type Static } from '@sinclair/typebox';
import { ConsistencyLevels, Kinds, Reasons } from './constants.ts';
import { admittedTimeZones, CRON_SHAPE, isAtMostHourly, isValidCron } from './cron.ts';
import { quantityToBytes } from './quantity.ts';
import { durationRule } from './duration.ts';
import { AGE_COLUMN, conditionColumn, type KindDefinition } from './kind.ts';
import { bool, Conditions, duration, int, LabelSelector, list, localRef, name, obj, oneOf, rule, str, time } from './schema.ts';

const RETENTION_KEYS = ['keepLast', 'daily', 'weekly', 'monthly', 'yearly'] as const;

const count = (what: string, max: number): ReturnType<typeof int> =>
  int(`How many ${what} to keep (0 keeps none by this rule).`, { minimum: 0, maximum: max, default: 0 });

const Retention = obj(
  'How many recovery points to keep; a point is kept while any rule keeps it (like restic\'s and Azure\'s retention). At least one count must be positive.',
  {
    keepLast: Type.Optional(count('most recent recovery points', 1000)),
    daily: Type.Optional(count('daily recovery points (the newest of each day)', 3650)),
    weekly: Type.Optional(count('weekly recovery points (the newest of each ISO week)', 520)),
    monthly: Type.Optional(count('monthly recovery points (the newest of each month)', 1200)),
    yearly: Type.Optional(count('yearly recovery points (the newest of each year)', 100)),
  },
  {
    'x-kubernetes-validations': [
      rule<Record<string, number | undefined>>(
        {
          rule: RETENTION_KEYS.map((k) => `(has(self.${k}) && self.${k} > 0)`).join(' || '),
          message: 'retention must keep something: set at least one of keepLast, daily, weekly, monthly, yearly above 0',
        },
        (s) => RETENTION_KEYS.some((k) => (s[k] ?? 0) > 0),
      ),
    ],
  },
);

const Hook = obj('A command run inside the guest through the guest agent (guest-exec), around the freeze.', {
  command: list(str('One argument.', { maxLength: 4096 }), 'The program and its arguments, run without a shell.', 64, { minItems: 1 }),
  timeout: Type.Optional(
    duration('How long the command may run before it counts as failed.', {
      default: '5m',
      'x-kubernetes-validations': [durationRule('hook timeout', '1s', '1h')],
    }),
  ),
  onError: Type.Optional(
    oneOf(['Continue', 'Fail'], 'On failure: Continue with a weaker consistency (recorded), or Fail the backup.', { default: 'Continue' }),
  ),
});

const Transfer = obj('Limits on moving a VM\'s disks into the vault.', {
  maxParallelDisks: Type.Optional(
    int('Disks of one VM transferred at the same time (each in its own pod); cluster-wide limits apply on top.', {
      minimum: 1,
      maximum: 64,
      default: 4,
    }),
  ),
  bandwidthLimit: Type.Optional(
    str('Upload limit per disk in bytes per second, as a quantity (e.g. 50Mi), at least 1M; unset means unlimited.', {
      maxLength: 32,
      pattern: '^[0-9]+(\\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$',
      'x-kubernetes-validations': [
        // A few bytes a second would keep a transfer pod (and a freeze-window's snapshot) alive for hours (review L3).
        rule<string>({ rule: "quantity(self).compareTo(quantity('1M')) >= 0", message: 'bandwidthLimit must be at least 1M (bytes per second)' }, (q) => quantityToBytes(q) >= 1_000_000),
      ],
    }),
  ),
  maxRetries: Type.Optional(int('How often a failed transfer pod is retried before the backup fails.', { minimum: 0, maximum: 10, default: 2 })),
});

/** BackupPolicy `.spec`. */
export const BackupPolicySpec = obj('The schedule, selection, destination and retention of scheduled backups.', {
  schedule: str(
    'When to back up, as a cron expression of five fields (minute hour day-of-month month day-of-week) or a macro such as @daily, evaluated in timeZone.',
    {
      minLength: 1,
      maxLength: 128,
      'x-kubernetes-validations': [
        rule<string>(
          {
            rule: `self.matches('${CRON_SHAPE}')`,
            message: 'schedule must be a cron expression with five fields (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly',
          },
          isValidCron,
        ),
      ],
    },
  ),
  timeZone: Type.Optional(
    str('IANA time zone the schedule is evaluated in, e.g. Europe/Berlin.', {
      minLength: 1,
      maxLength: 64,
      default: 'UTC',
      'x-kubernetes-validations': [
        // A list, not a pattern: a name the regex likes but Node's Intl rejects (Mars/Olympus_Mons) would make
        // every scheduling pass throw (review L3); the list is what Intl knows (admittedTimeZones).
        rule<string>(
          {
            rule: `self in [${admittedTimeZones().map((z) => `'${z}'`).join(',')}]`,
            message: 'timeZone must be a canonical IANA time zone name such as UTC, Europe/Berlin or America/New_York (links such as US/Eastern are not accepted)',
          },
          (z) => admittedTimeZones().includes(z),
        ),
      ],
    }),
  ),
  vmSelector: LabelSelector,
  vaultRef: localRef('BackupVault', 'The vault the recovery points go to.'),
  retention: Retention,
  instantRestore: Type.Optional(
    obj('Keeping the newest CSI snapshot of each disk for fast restores (the snapshot tier).', {
      keepFor: duration('How long the newest snapshot is kept after its backup; 0s deletes it as soon as the data is in the vault.', {
        default: '0s',
        'x-kubernetes-validations': [durationRule('instantRestore.keepFor', '0s', '720h')],
      }),
    }),
  ),
  consistency: Type.Optional(
    oneOf(
      ConsistencyLevels,
      'The weakest consistency accepted; a backup that cannot reach it fails with reason ConsistencyNotMet. CrashConsistent accepts everything.',
      { default: 'CrashConsistent' },
    ),
  ),
  hooks: Type.Optional(
    obj('Commands run in the guest right before the freeze (pre) and right after the thaw (post), e.g. to flush a database.', {
      pre: Type.Optional(Hook),
      post: Type.Optional(Hook),
    }),
  ),
  freezeTimeout: Type.Optional(
    duration('Longest time the guest stays frozen; the guest is thawed at this deadline even if snapshots are not cut yet.', {
      default: '60s',
      'x-kubernetes-validations': [durationRule('freezeTimeout', '1s', '10m')],
    }),
  ),
  transfer: Type.Optional(Transfer),
  allowFrequentSchedule: Type.Optional(
    bool('Allow a schedule that fires more than once an hour (e.g. every 15 minutes); off, such schedules are refused, since every run freezes and snapshots each selected VM.', { default: false }),
  ),
  suspend: Type.Optional(bool('Stop scheduling new backups; running ones finish.', { default: false })),
}, {
  'x-kubernetes-validations': [
    rule<{ schedule: string; allowFrequentSchedule?: boolean }>(
      {
        rule: "self.schedule.matches('^(@.*|[0-9]+ +.*)$') || (has(self.allowFrequentSchedule) && self.allowFrequentSchedule)",
        message: 'schedule fires more than once an hour (its minute field is not a single number): set allowFrequentSchedule: true to mean it, or use e.g. "0 * * * *"',
      },
      (s) => isAtMostHourly(s.schedule) || s.allowFrequentSchedule === true,
    ),
  ],
});
/** BackupPolicy `.spec`. */
export type BackupPolicySpec = Static<typeof BackupPolicySpec>;

/** BackupPolicy `.status`. */
export const BackupPolicyStatus = obj('What the scheduler last did and will do.', {
  conditions: Type.Optional(Conditions),
  lastScheduleTime: Type.Optional(time('The slot of the most recent scheduled run.')),
  nextScheduleTime: Type.Optional(time('The next slot the schedule will fire at.')),
  lastSuccessfulBackupTime: Type.Optional(time('When the most recent backup started by this policy succeeded.')),
  protectedVMs: Type.Optional(int('VirtualMachines the selector currently matches.', { minimum: 0 })),
  active: Type.Optional(list(name('Name of a VirtualMachineBackup.'), 'Backups started by this policy that are still running: the first 20 by name (activeCount has them all).', 1024)),
  activeCount: Type.Optional(int('How many backups started by this policy are still running.', { minimum: 0 })),
});
/** BackupPolicy `.status`. */
export type BackupPolicyStatus = Static<typeof BackupPolicyStatus>;

/** The BackupPolicy kind. */
export const BackupPolicy: KindDefinition = {
  kind: Kinds.BackupPolicy,
  plural: 'backuppolicies',
  singular: 'backuppolicy',
  shortNames: ['tbp', 'tpolicy'],
  description:
    'BackupPolicy backs up the VirtualMachines its selector matches on a cron schedule into a BackupVault, ' +
    'creating one VirtualMachineBackup per VM per run, and expires their recovery points by its retention. ' +
    `Summary condition: Ready (reasons ${Reasons.Active}, ${Reasons.Suspended}, ${Reasons.VaultNotFound}, ${Reasons.VaultNotReady}, ${Reasons.InvalidSchedule}).`,
  spec: BackupPolicySpec,
  status: BackupPolicyStatus,
  printerColumns: [
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule', description: 'The cron schedule.' },
    { name: 'Vault', type: 'string', jsonPath: '.spec.vaultRef.name', description: 'The destination vault.' },
    { name: 'Consistency', type: 'string', jsonPath: '.spec.consistency', description: 'Weakest consistency accepted.', priority: 1 },
    { name: 'Suspend', type: 'boolean', jsonPath: '.spec.suspend', description: 'Whether scheduling is suspended.' },
    { name: 'VMs', type: 'integer', jsonPath: '.status.protectedVMs', description: 'VirtualMachines protected.' },
    { name: 'Last Success', type: 'date', jsonPath: '.status.lastSuccessfulBackupTime', description: 'Most recent successful backup.' },
    { name: 'Next', type: 'string', jsonPath: '.status.nextScheduleTime', description: 'Next scheduled run.', priority: 1 },
    conditionColumn('Ready', 'Ready', 'status'),
    AGE_COLUMN,
  ],
};

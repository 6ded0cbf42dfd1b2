// Leader election on a real coordination.k8s.io Lease: of two electors only one leads; when the leader
// releases, the other takes over; when the leader dies without releasing, the other waits the lease out
// and then takes over.
import { CoordinationV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNamespace, deleteNamespace, eventually, kubeConfig } from '../harness.ts';
import { LeaderElector } from '../../operator/src/runtime/leader.ts';
import { coordinationLeaseApi } from '../../operator/src/runtime/lease.ts';

const kc = kubeConfig();
const coord = kc.makeApiClient(CoordinationV1Api);
const LEASE = 'tresor-runtime-test';

interface Replica {
  readonly id: string;
  readonly elector: LeaderElector;
  readonly stop: AbortController;
  readonly done: Promise<void>;
  readonly leading: { value: boolean };
}

function replica(ns: string, id: string, releaseOnStop = true): Replica {
  const elector = new LeaderElector({
    api: coordinationLeaseApi(kc, ns, LEASE),
    identity: id,
    leaseName: LEASE,
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 300,
    releaseOnStop,
  });
  const stop = new AbortController();
  const leading = { value: false };
  const done = elector.run(stop.signal, {
    onStartedLeading: async (sig) => {
      leading.value = true;
      await new Promise((r) => sig.addEventListener('abort', r));
      leading.value = false;
    },
  });
  return { id, elector, stop, done, leading };
}

const holder = async (ns: string): Promise<string> => (await coord.readNamespacedLease({ namespace: ns, name: LEASE })).spec?.holderIdentity ?? '';

const t = suite<{ ns: string }>('runtime: leader election', { ns: '' });

t.before.each(async (ctx) => {
  ctx.ns = await createNamespace('runtime-leader');
});

t.after.each(async ({ ns }) => {
  await deleteNamespace(ns);
});

t('only one of two electors leads, and the Lease names it', async ({ ns }) => {
  const a = replica(ns, 'replica-a');
  const b = replica(ns, 'replica-b');
  const leader = await eventually('a leader', async () => [a, b].find((r) => r.leading.value), 10_000);
  const follower = leader === a ? b : a;
  let both = false;
  const until = Date.now() + 4000;
  while (Date.now() < until) {
    if (a.leading.value && b.leading.value) both = true;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.not.ok(both, 'never two leaders');
  assert.not.ok(follower.leading.value);
  assert.is(await holder(ns), leader.id);
  a.stop.abort();
  b.stop.abort();
  await Promise.all([a.done, b.done]);
});

t('when the leader stops and releases, the other takes over', async ({ ns }) => {
  const a = replica(ns, 'replica-a');
  await eventually('a leads', async () => (a.leading.value ? true : undefined), 10_000);
  const b = replica(ns, 'replica-b');
  await new Promise((r) => setTimeout(r, 1000));
  assert.not.ok(b.leading.value);
  a.stop.abort();
  await a.done;
  assert.not.ok(a.leading.value);
  await eventually('b leads', async () => (b.leading.value ? true : undefined), 10_000);
  assert.is(await holder(ns), 'replica-b');
  const lease = await coord.readNamespacedLease({ namespace: ns, name: LEASE });
  assert.is(lease.spec?.leaseTransitions, 1);
  b.stop.abort();
  await b.done;
});

t('when the leader dies without releasing, the other waits for the lease to expire, then takes over', async ({ ns }) => {
  const a = replica(ns, 'replica-a', false);
  await eventually('a leads', async () => (a.leading.value ? true : undefined), 10_000);
  const b = replica(ns, 'replica-b');
  await new Promise((r) => setTimeout(r, 600));
  // Crash: a stops renewing and leaves its record in the Lease.
  a.stop.abort();
  await a.done;
  const diedAt = Date.now();
  assert.is(await holder(ns), 'replica-a', 'not released');
  await new Promise((r) => setTimeout(r, 1500));
  assert.not.ok(b.leading.value, 'b does not steal a lease that has not expired');
  await eventually('b leads', async () => (b.leading.value ? true : undefined), 10_000);
  assert.ok(Date.now() - diedAt >= 2500, 'takeover came only after (about) the lease duration');
  assert.is(await holder(ns), 'replica-b');
  b.stop.abort();
  await b.done;
});

t.run();

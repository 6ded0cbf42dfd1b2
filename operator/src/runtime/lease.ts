// The LeaseApi backed by coordination.k8s.io/v1 Leases.
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { isNotFound } from './errors.ts';
import type { LeaseApi, LeaseRecord, LeaseSnapshot } from './leader.ts';

// client-node types MicroTime fields as Date; on the wire they are strings, and sending our own
// six-digit string keeps the apiserver's RFC 3339 micro format exact.
const asWire = (s: string): Date => s as unknown as Date;
const fromWire = (v: Date | string | undefined): string => (v instanceof Date ? v.toISOString() : (v ?? ''));

function toSnapshot(lease: V1Lease): LeaseSnapshot {
  const s = lease.spec ?? {};
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    record: {
      holderIdentity: s.holderIdentity ?? '',
      leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
      acquireTime: fromWire(s.acquireTime),
      renewTime: fromWire(s.renewTime),
      leaseTransitions: s.leaseTransitions ?? 0,
    },
  };
}

function toSpec(r: LeaseRecord): V1Lease['spec'] {
  return {
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: asWire(r.acquireTime),
    renewTime: asWire(r.renewTime),
    leaseTransitions: r.leaseTransitions,
  };
}

/** A LeaseApi for the Lease namespace/name. */
export function coordinationLeaseApi(kc: KubeConfig, namespace: string, name: string): LeaseApi {
  const api = kc.makeApiClient(CoordinationV1Api);
  return {
    async get(): Promise<LeaseSnapshot | undefined> {
      try {
        return toSnapshot(await api.readNamespacedLease({ name, namespace }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(record: LeaseRecord): Promise<LeaseSnapshot> {
      return toSnapshot(await api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: toSpec(record) } }));
    },
    async update(resourceVersion: string, record: LeaseRecord): Promise<LeaseSnapshot> {
      const body: V1Lease = { metadata: { name, namespace, resourceVersion }, spec: toSpec(record) };
      return toSnapshot(await api.replaceNamespacedLease({ name, namespace, body }));
    },
  };
}

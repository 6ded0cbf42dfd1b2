// The SecretReader over core/v1: the vault check reads the key and S3 credentials Secrets by name.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isNotFound } from '../runtime/errors.ts';
import type { SecretReader } from './probe.ts';

/** Reads Secrets through the API (get only: the operator never lists or caches Secrets). */
export function coreSecretReader(kc: KubeConfig): SecretReader {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    async read(namespace: string, name: string): Promise<Readonly<Record<string, Buffer>> | undefined> {
      try {
        const s = await api.readNamespacedSecret({ namespace, name });
        return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
  };
}
